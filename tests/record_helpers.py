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


def write_scored_run(root, *, gold, predictions, families=None, updated_at="2026-01-01T00:00:00+00:00",
                     corpus_fingerprint="f" * 64, suite_version="1.1.0", targets=("arousal", "valence"),
                     options=None, descriptions=None, synthetic=True, frame_step_s=0.04) -> RunFolder:
    """A finished run folder made by hand: ``gold`` ``{session: (F, T)}``, ``predictions`` ``{model: {seed:
    {session: (F, T)}}}``; gold, predictions, done statuses, scores and run.json written through the record."""
    import dataclasses

    import pandas as pd

    from benchbox.record import UnitStatus, frame_table
    from benchbox.scoring import score_table

    folder = RunFolder(Path(root))
    folder.root.mkdir(parents=True, exist_ok=True)
    partition_of = dict.fromkeys(gold, "test")
    gold_table = frame_table(partition_of, gold, tuple(targets))
    folder.write_gold(gold_table)
    tables = []
    for model, seeds in predictions.items():
        for seed, arrays in seeds.items():
            table = frame_table(partition_of, arrays, tuple(targets))
            folder.write_predictions(model, seed, table)
            folder.write_unit_status(UnitStatus(model=model, seed=seed, status="done", fit_s=1.0, fits=1,
                                                predict_s=0.1, predict_real_time_factor=0.001))
            tables.append(score_table(gold_table, table, model=model, seed=seed, targets=tuple(targets),
                                      metrics=("ccc", "pearson", "rmse")))
    folder.write_scores(pd.concat(tables, ignore_index=True))
    seeds_all = sorted({s for seeds in predictions.values() for s in seeds})
    record = minimal_run_record(targets=targets, seeds=seeds_all, models=list(predictions), families=families,
                                suite_name="avec2016", suite_version=suite_version)
    models = [dataclasses.replace(m, options=(options or {}).get(m.name, {}),
                                  options_sha256=options_sha256((options or {}).get(m.name, {})),
                                  description=(descriptions or {}).get(m.name, ""),
                                  units={s: folder.unit_status(m.name, s) for s in predictions[m.name]})
              for m in record.models]
    corpus = dataclasses.replace(record.corpus, fingerprint=corpus_fingerprint, synthetic=synthetic,
                                 num_sessions=len(gold))
    folder.write_run(dataclasses.replace(record, models=models, corpus=corpus, updated_at=updated_at,
                                         frame_step_s=frame_step_s, partitions={"test": sorted(gold)}))
    return folder
