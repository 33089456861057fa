"""Run records for hand-made run folders in tests: the smallest valid ``run.json``, written through the
run record like every other writer."""

from pathlib import Path

from benchbox.record import CorpusInfo, EnvironmentInfo, ModelEntry, RunFolder, RunRecord, SuiteInfo, options_sha256


def minimal_run_record(*, targets, seeds, models, families=None, suite_name="toy", suite_version="1",
                       test_split="dev"):
    entries = [ModelEntry(name=m, package="tests", entry_point=f"tests:{m}", modalities=[], description="",
                          family=(families or {}).get(m, ""), options={}, options_sha256=options_sha256({}))
               for m in models]
    return RunRecord(
        suite=SuiteInfo(name=suite_name, version=suite_version, source="tests", definition_sha256="0" * 64,
                        definition={"scoring": {"headline_metric": "ccc", "headline_scope": "global",
                                                "metrics": ["ccc", "pearson", "rmse"]}}),
        suite_fingerprint="0" * 64,
        corpus=CorpusInfo(root="corpus", fingerprint="0" * 64, synthetic=True, description="hand-made",
                          num_sessions=0),
        targets=list(targets), frame_step_s=0.04, test_split=test_split, partitions={}, references=[],
        models=entries, seeds=list(seeds),
        environment=EnvironmentInfo(python="3", platform="test", packages={}, git_commit=None, device="cpu",
                                    device_name="cpu"),
    )


def write_minimal_run(root, **kwargs) -> RunFolder:
    folder = RunFolder(Path(root))
    folder.write_run(minimal_run_record(**kwargs))
    return folder
