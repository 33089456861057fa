import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from record_helpers import write_minimal_run

from benchbox.cli import main
from benchbox.corpus.avec2016 import load_corpus
from benchbox.errors import PredictionError, SuiteError
from benchbox.record import RunFolder
from benchbox.runner import RunConfig, run_suite
from benchbox.suites import load_suite
from benchbox.units import validate_predictions


def _config(corpus_root, out, models=("mean",), seeds=(0,)):
    suite = load_suite("avec2016")
    corpus = load_corpus(corpus_root)
    return RunConfig.create(suite, corpus, models=list(models), seeds=list(seeds), out_dir=out,
                     progress=False)


def test_run_writes_the_run_folder(foreign_corpus, tmp_path):
    summary = run_suite(_config(foreign_corpus, tmp_path / "run", seeds=(0, 1)))
    folder = RunFolder(summary.run_dir)
    run = folder.read_run()
    assert run.suite.name == "avec2016" and run.suite.version == "1.1.0" and run.frame_step_s == 0.04
    assert run.corpus.synthetic is False and len(run.corpus.fingerprint) == 64
    assert run.partitions == {"fit": ["train_1", "train_2"], "select": ["train_3"], "test": ["dev_1", "dev_2"]}
    assert run.seeds == [0, 1] and run.environment.packages["numpy"]
    assert run.models[0].units[1].status == "done" and len(run.models[0].options_sha256) == 64
    gold = folder.read_gold()
    assert set(gold["partition"]) == {"select", "test"} and len(gold) == 3 * 101
    predictions = folder.read_predictions("mean", 0)
    assert list(predictions.columns) == ["partition", "session", "frame", "arousal", "valence"]
    scores = pd.read_csv(folder.scores_path, dtype={"session": str})
    assert {"model", "seed", "partition", "target", "metric", "scope", "session", "value"} <= set(scores.columns)
    per_session = scores[(scores["scope"] == "session") & (scores["partition"] == "test")]
    assert set(per_session["session"]) == {"dev_1", "dev_2"}
    # mean of the training labels, evaluated independently
    corpus = load_corpus(foreign_corpus)
    train_mean = np.concatenate([corpus.get(s).labels for s in ("train_1", "train_2")]).mean(axis=0)
    dev = np.concatenate([corpus.get(s).labels for s in ("dev_1", "dev_2")])
    rmse = np.sqrt(((dev - train_mean) ** 2).mean(axis=0))
    got = scores.query("partition == 'test' and scope == 'global' and metric == 'rmse' and seed == 0")
    np.testing.assert_allclose(got.set_index("target").loc[["arousal", "valence"], "value"], rmse, rtol=1e-9)
    assert summary.report_path.exists()


def test_rerun_skips_finished_units(foreign_corpus, tmp_path):
    config = _config(foreign_corpus, tmp_path / "run")
    first = run_suite(config)
    assert first.done == [("mean", 0)]
    stamp = RunFolder(first.run_dir).predictions_path("mean", 0).stat().st_mtime_ns
    second = run_suite(config)
    assert second.done == [] and second.skipped == [("mean", 0)]
    assert RunFolder(first.run_dir).predictions_path("mean", 0).stat().st_mtime_ns == stamp


def test_run_folder_of_another_corpus_is_refused(foreign_corpus, tmp_path):
    config = _config(foreign_corpus, tmp_path / "run")
    run_suite(config)
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    data["suite_fingerprint"] = "0" * 64
    (tmp_path / "run" / "run.json").write_text(json.dumps(data))
    with pytest.raises(SuiteError, match="holds a run of another suite version, corpus or test partition"):
        run_suite(config)


def test_validate_predictions_rejects_nan_and_missing_sessions(foreign_corpus):
    sessions = load_corpus(foreign_corpus).split("dev")
    good = {s.id: np.zeros((s.num_frames, 2)) for s in sessions}
    assert set(validate_predictions("m", good, sessions, ("arousal", "valence"))) == {"dev_1", "dev_2"}
    bad = dict(good, dev_2=np.full((101, 2), np.nan))
    with pytest.raises(PredictionError, match=r"Model 'm', session dev_2: 101 frame\(s\) contain NaN or inf"):
        validate_predictions("m", bad, sessions, ("arousal", "valence"))
    with pytest.raises(PredictionError, match=r"no predictions for session\(s\) dev_2"):
        validate_predictions("m", {"dev_1": good["dev_1"]}, sessions, ("arousal", "valence"))
    with pytest.raises(PredictionError, match="must be numeric"):
        validate_predictions("m", dict(good, dev_1=np.full((101, 2), "x")), sessions, ("arousal", "valence"))


def test_partition_test_without_labels_is_a_clear_error(foreign_corpus, tmp_path, capsys):
    code = main(["run", "--data-root", str(foreign_corpus), "--models", "mean", "--partition", "test",
                 "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 2
    assert "the 'test' partition is empty" in capsys.readouterr().err


def test_help_and_models_do_not_import_torch():
    code = ("import sys; from benchbox.cli import main\n"
            "for argv in (['models'], ['suites']): main(argv)\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "assert 'pandas' not in sys.modules, 'pandas imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_best_family_reference_is_chosen_on_the_select_partition(tmp_path):
    from benchbox.stats.families import FamilySpec, resolve_family
    from benchbox.stats.run_stats import select_global_ccc

    folder = RunFolder(tmp_path)
    rows = []
    for model, select, test in (("a", 0.2, 0.9), ("b", 0.5, 0.1), ("c", 0.9, 0.9)):
        for partition, value in (("select", select), ("test", test)):
            rows.append({"model": model, "seed": 0, "partition": partition, "target": "arousal", "metric": "ccc",
                         "scope": "global", "session": "", "value": value})
    folder.write_scores(pd.DataFrame(rows))
    write_minimal_run(tmp_path, targets=["arousal"], seeds=[0], models=["a", "b", "c"],
                      families={"a": "handcrafted", "b": "handcrafted", "c": "end-to-end"})
    families = {"a": "handcrafted", "b": "handcrafted", "c": "end-to-end", "mean": "reference"}
    select = select_global_ccc(folder, ["a", "b", "c"])
    assert select == {"a": 0.2, "b": 0.5, "c": 0.9}
    family = resolve_family(FamilySpec("f", ("family:end-to-end",), ("mean", "best:handcrafted")),
                            model_families=families, select_ccc=select)
    assert family.pairs == [("c", "mean"), ("c", "b")]  # b: best handcrafted on select (a is best on test)
    nothing = resolve_family(FamilySpec("g", ("all",), ("best:nothing",)), model_families=families, select_ccc=select)
    assert nothing.pairs == [] and "reference 'best:nothing' names no model" in nothing.notes[0]


def test_warnings_of_a_model_reach_the_unit_status_and_the_report(foreign_corpus, tmp_path):
    """A silent WAV: egemaps warns (naming the file), the run finishes, and the warning is kept in the run."""
    import shutil

    import soundfile

    corpus = tmp_path / "corpus"
    shutil.copytree(foreign_corpus, corpus)
    silent = corpus / "recordings_audio" / "dev_2.wav"
    info = soundfile.info(silent)
    soundfile.write(silent, np.zeros((info.frames, info.channels), dtype=np.float32), info.samplerate)
    summary = run_suite(_config(corpus, tmp_path / "run", models=("egemaps-ridge",)))
    assert summary.done == [("egemaps-ridge", 0)]
    status = RunFolder(summary.run_dir).unit_status("egemaps-ridge", 0)
    assert any(w.startswith("SilentAudioWarning: ") and "dev_2.wav is silent" in w for w in status.warnings)
    predictions = RunFolder(summary.run_dir).read_predictions("egemaps-ridge", 0)
    assert np.isfinite(predictions[["arousal", "valence"]].to_numpy()).all()
    report = summary.report_path.read_text()
    assert 'id="warnings"' in report and "dev_2.wav is silent" in report


def test_a_folder_accumulates_models_and_seeds_of_later_commands(foreign_corpus, tmp_path):
    out = tmp_path / "run"
    base = ["run", "--data-root", str(foreign_corpus), "--out", str(out), "--no-progress"]
    assert main([*base, "--models", "mean,egemaps-ridge"]) == 0
    assert main([*base, "--models", "mean", "--seeds", "3"]) == 0
    folder = RunFolder(out)
    run = folder.read_run()
    assert run.model_names == ["mean", "egemaps-ridge"] and run.seeds == [0, 1, 2]
    assert sorted(run.model("mean").units) == [0, 1, 2] and sorted(run.model("egemaps-ridge").units) == [0]
    scores = folder.scores(partition="test", scope="global", metric="ccc")
    assert sorted(set(zip(scores["model"], scores["seed"], strict=True))) == [
        ("egemaps-ridge", 0), ("mean", 0), ("mean", 1), ("mean", 2)]
    board = folder.leaderboard()
    assert dict(zip(board["model"], board["seeds"], strict=True)) == {"egemaps-ridge": 1, "mean": 3}


def test_package_versions_name_another_distribution_of_the_same_module(monkeypatch):
    """A run records xgboost's version also where ``xgboost-cpu`` provides it (as on a machine whose image had
    it), and OpenCV's where ``opencv-python`` does; a module nobody provides is None."""
    from importlib import metadata

    from benchbox import environment

    assert all(environment.package_versions().values())  # this environment: every package, by its usual name
    real = metadata.version
    replaced = {"xgboost", "opencv-python-headless", "opensmile"}  # not installed under these names

    def version(name):
        if name in replaced:
            raise metadata.PackageNotFoundError(name)
        return {"xgboost-cpu": "3.2.0", "opencv-python": "4.12.0.88"}.get(name) or real(name)

    monkeypatch.setattr(metadata, "version", version)
    providers = {"xgboost": ["xgboost-cpu"], "cv2": ["opencv-python"]}
    monkeypatch.setattr(metadata, "packages_distributions", lambda: providers)
    versions = environment.package_versions()
    assert versions["xgboost"] == "3.2.0 (xgboost-cpu)"
    assert versions["opencv-python-headless"] == "4.12.0.88 (opencv-python)"
    assert versions["opensmile"] is None and versions["numpy"] == real("numpy")
