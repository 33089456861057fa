"""The run record: typed, versioned run-folder files; older formats read, unknown ones refused by name."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchbox.cli import main
from benchbox.record import (
    RUN_FORMAT,
    STATS_FORMAT,
    UNIT_FORMAT,
    RecordFormatError,
    RunFolder,
    RunRecord,
    StatsRecord,
    UnitStatus,
    leaderboard_table,
    to_jsonable,
)
from benchbox.scoring import score_table

FORMAT_1 = Path(__file__).parent / "data" / "run-format-1"  # written by benchbox at commit afc6edf


@pytest.fixture
def format_1_run(tmp_path) -> RunFolder:
    return RunFolder(shutil.copytree(FORMAT_1, tmp_path / "run"))


def test_a_format_1_run_folder_is_read_as_the_current_format(format_1_run):
    raw = json.loads(format_1_run.run_json.read_text())
    assert raw["benchbox_run_format"] == 1 and "frame_step_s" not in raw
    run = format_1_run.read_run()
    assert run.benchbox_run_format == RUN_FORMAT and run.frame_step_s == 0.04
    assert run.model_names == ["mean", "egemaps-ridge"] and run.targets == ["arousal", "valence"]
    ridge = run.model("egemaps-ridge")
    assert len(ridge.options_sha256) == 64 and ridge.option_sources == {}
    unit = ridge.units[0]
    assert unit.model == "egemaps-ridge" and unit.seed == 0 and unit.done and unit.fits == 6
    assert unit.protocol.targets["arousal"].annotation_delay_s in {0.0, 0.8, 1.6, 2.4, 3.2, 4.0}
    status = format_1_run.unit_status("egemaps-ridge", 0)  # status.json of format 1 (no version key)
    assert status == unit and status.benchbox_unit_format == UNIT_FORMAT
    assert format_1_run.finished_units() == [("egemaps-ridge", 0), ("mean", 0)]


def test_a_format_1_run_folder_rescores_to_the_last_digits(format_1_run):
    # Not bit for bit: the stored scores were computed on another CPU, and numpy's vectorised sums round a
    # last bit differently on AVX2 and AVX-512 (seen: 0.04390423149285575 vs 0.043904231492856556).
    run = format_1_run.read_run()
    stored = format_1_run.scores()
    gold = format_1_run.read_gold(run.targets)
    metrics = tuple(run.suite.definition["scoring"]["metrics"])
    rescored = pd.concat([score_table(gold, format_1_run.read_predictions(m, s, run.targets), model=m, seed=s,
                                      targets=tuple(run.targets), metrics=metrics)
                          for m, s in format_1_run.finished_units()], ignore_index=True)
    pd.testing.assert_frame_equal(rescored.reset_index(drop=True), stored, check_dtype=False, rtol=1e-12, atol=0)


def test_a_format_1_run_folder_gets_new_statistics_and_a_report(format_1_run, capsys):
    assert json.loads(format_1_run.stats_path.read_text())["benchbox_stats_format"] == 1
    old_stats = format_1_run.read_stats()  # stats.json written by the old code, upgraded on load
    assert old_stats.benchbox_stats_format == STATS_FORMAT and old_stats.interval_method.startswith("percentile")
    old_family = old_stats.families[0]
    assert old_family.size == 2 and not old_family.rejection_possible
    assert main(["stats", str(format_1_run.root), "--resamples", "300"]) == 0
    out = capsys.readouterr().out
    assert "egemaps-ridge is not significantly different from mean" in out
    stats = format_1_run.read_stats()
    assert stats.resamples == 300 and set(stats.usable_models) == {"mean", "egemaps-ridge"}
    pairs = [(c.model, c.reference, c.target) for c in stats.families[0].comparisons]
    assert pairs == [(c.model, c.reference, c.target) for c in old_family.comparisons]  # same family, recomputed
    assert stats.families[0].name == "every model against the references"  # the run's suite: [models] references
    assert stats.score("egemaps-ridge", "arousal").estimate == pytest.approx(
        old_stats.score("egemaps-ridge", "arousal").estimate, abs=1e-12)
    assert main(["report", str(format_1_run.root)]) == 0
    report = format_1_run.report_path.read_text()
    assert "egemaps-ridge" in report and 'id="protocol"' in report and "These scores are not RECOLA results" in report
    board = format_1_run.leaderboard()
    assert list(board["model"]) == ["mean", "egemaps-ridge"]  # sorted by the mean of the targets' global CCC
    assert board.loc[1, "arousal/ccc/global/ci_low"] <= board.loc[1, "arousal/ccc/global"] + 1e-12


@pytest.mark.parametrize(("file", "key", "read"), [
    ("run.json", "benchbox_run_format", lambda f: f.read_run()),
    ("units/mean/seed-0/status.json", "benchbox_unit_format", lambda f: f.unit_status("mean", 0)),
    ("stats.json", "benchbox_stats_format", lambda f: f.read_stats()),
])
def test_an_unknown_future_format_is_refused_by_name(format_1_run, file, key, read):
    path = format_1_run.root / file
    data = json.loads(path.read_text())
    data[key] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(RecordFormatError, match=rf"{path}: {key} 99 is not a format this benchbox reads \(it reads "
                                                rf"1 to \d\)\. Upgrade benchbox to read it\."):
        read(format_1_run)


def test_a_wrong_value_names_the_file_and_the_field(format_1_run):
    data = json.loads(format_1_run.run_json.read_text())
    data["seeds"] = "0"
    format_1_run.run_json.write_text(json.dumps(data))
    with pytest.raises(RecordFormatError, match=r"run.json: RunRecord.seeds must be an array. Got \"0\" instead"):
        format_1_run.read_run()
    del data["corpus"]["fingerprint"]
    data["seeds"] = [0]
    format_1_run.run_json.write_text(json.dumps(data))
    with pytest.raises(RecordFormatError, match=r"RunRecord.corpus lacks the required field 'fingerprint'"):
        format_1_run.read_run()
    format_1_run.run_json.write_text('{"benchbox_run_format": 2, "suite": ')
    with pytest.raises(RecordFormatError, match=r"run.json: not valid JSON"):
        format_1_run.read_run()


def test_records_round_trip_and_nan_is_written_as_null(format_1_run, tmp_path):
    run = format_1_run.read_run()
    assert RunRecord.from_json(json.loads(json.dumps(run.to_json())), source="x") == run
    stats = format_1_run.read_stats()
    text = json.dumps(stats.to_json(), allow_nan=False)
    again = StatsRecord.from_json(json.loads(text), source="x")
    pearson = again.score("mean", "arousal", "pearson")  # constant predictions: undefined
    written = next(r for r in json.loads(text)["scores"]
                   if (r["model"], r["target"], r["metric"]) == ("mean", "arousal", "pearson"))
    assert math.isnan(pearson.estimate) and written["estimate"] is None
    folder = RunFolder(tmp_path / "new")
    failed = UnitStatus.failed("m", 3, stage="fit (annotation delay 0 s)", error="RuntimeError during fit: x")
    folder.write_unit_status(failed)
    stored = json.loads(folder.status_path("m", 3).read_text())
    assert stored["benchbox_unit_format"] == UNIT_FORMAT and "profile" not in stored
    assert folder.unit_status("m", 3) == failed


def test_one_encoder_for_numpy_pandas_and_paths():
    value = {"a": np.float32(0.25), "b": np.array([1, 2]), "c": pd.NA, "d": np.inf, "e": Path("x/y"),
             "f": np.bool_(True), "g": pd.Timestamp("2026-01-02T03:04:05")}
    assert to_jsonable(value) == {"a": 0.25, "b": [1, 2], "c": None, "d": None, "e": "x/y", "f": True,
                                  "g": "2026-01-02T03:04:05"}


def test_leaderboard_is_mean_and_sd_over_seeds():
    rows = [dict(model=m, seed=s, partition="test", target=t, metric="ccc", scope="global", session="", value=v)
            for m, s, t, v in [("a", 0, "x", 0.1), ("a", 1, "x", 0.3), ("b", 0, "x", 0.5)]]
    board = leaderboard_table(pd.DataFrame(rows), ["x"])
    assert list(board["model"]) == ["b", "a"] and list(board["seeds"]) == [1, 2]
    assert board.loc[1, "x/ccc/global"] == pytest.approx(0.2)
    assert board.loc[1, "x/ccc/global/sd"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
