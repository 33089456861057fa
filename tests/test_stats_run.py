"""compute_run_stats / write_run_stats on a tiny fake run folder."""

import json

import numpy as np
import pandas as pd
import pytest
from record_helpers import write_minimal_run

from benchbox.errors import BenchboxError
from benchbox.metrics import ccc_score
from benchbox.stats import compute_run_stats, holm_adjust, write_run_stats
from benchbox.stats.families import FamilySpec


def against(*references, alternative="two-sided"):
    """One family: every model against ``references``."""
    return [FamilySpec("refs", models=("all",), references=tuple(references), alternative=alternative)]


TARGETS = ["arousal", "valence"]


def _frame(partition_of, arrays):
    parts = []
    for session, values in arrays.items():
        part = pd.DataFrame(values, columns=TARGETS)
        part.insert(0, "frame", np.arange(len(values)))
        part.insert(0, "session", session)
        part.insert(0, "partition", partition_of[session])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def make_run(root, *, num_sessions=10, frames=100, seed=0):
    """A run folder: mean (chance), good, meh (seed 1 missing), broken (NaN), ghost (no files)."""
    rng = np.random.default_rng(seed)
    test_ids = [f"dev_{k + 1}" for k in range(num_sessions)]
    partition_of = {s: "test" for s in test_ids} | {"train_1": "select"}
    gold = {
        s: np.cumsum(rng.normal(size=(frames, 2)), axis=0) * 0.05 + rng.normal(size=2) * 0.2
        for s in partition_of
    }
    _frame(partition_of, gold).to_parquet(root / "gold.parquet")

    def noisy(scale, gain):
        return {
            s: gain * g + rng.normal(scale=scale, size=g.shape) + rng.normal(size=2) * 0.05
            for s, g in gold.items()
        }

    predictions = {
        ("mean", 0): {s: np.full_like(g, 0.01) for s, g in gold.items()},
        ("mean", 1): {s: np.full_like(g, 0.02) for s, g in gold.items()},
        ("good", 0): noisy(0.05, 0.9),
        ("good", 1): noisy(0.05, 0.9),
        ("meh", 0): noisy(0.3, 0.5),
        ("broken", 0): {s: np.full_like(g, np.nan) for s, g in gold.items()},
    }
    for (model, s), arrays in predictions.items():
        path = root / "predictions" / model / f"seed-{s}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        _frame(partition_of, arrays).to_parquet(path)
    write_minimal_run(root, targets=TARGETS, seeds=[0, 1], models=["mean", "good", "meh", "broken", "ghost"])
    return gold, predictions, test_ids


@pytest.fixture
def run_dir(tmp_path):
    make_run(tmp_path)
    return tmp_path


def test_run_stats_structure_and_failed_models(run_dir):
    out = compute_run_stats(run_dir, families=against("mean", "svr"), resamples=500).to_json()
    json.dumps(out, allow_nan=False)  # strict JSON: NaN written as null
    assert out["benchbox_stats_format"] == 2 and out["num_sessions"] == 10
    assert out["sessions"] == sorted(f"dev_{k + 1}" for k in range(10))
    assert out["interval_method"] == "jackknife_t"
    models = out["models"]
    assert models["good"]["status"] == "ok" and models["good"]["seeds_used"] == [0, 1]
    assert models["meh"]["seeds_used"] == [0] and models["meh"]["seeds_missing"] == [1]
    assert models["broken"]["status"] == "failed" and "NaN" in models["broken"]["reason"]
    assert models["ghost"]["status"] == "failed" and models["ghost"]["reason"] == "no prediction files"
    notes = " ".join(out["notes"])
    assert "reference 'svr' names no model with usable predictions" in notes and "'broken' is left out" in notes
    assert "different numbers of seeds" in notes
    # 3 usable models -> 3 pairs x 2 targets x 3 tests
    assert len(out["tests"]) == 18
    assert {t["test"] for t in out["tests"]} == {
        "randomisation_ccc",
        "randomisation_rmse",
        "wilcoxon_session_ccc",
    }
    assert len(out["scores"]) == 3 * 2 * 4 and len(out["seeds"]) == 3 * 2
    assert {(c["model"], c["reference"]) for c in out["families"][0]["comparisons"]} == {("good", "mean"),
                                                                                          ("meh", "mean")}


def test_scores_and_seed_figures_match_direct_computation(run_dir):
    gold, predictions, test_ids = make_run(run_dir)  # same seed: same data as the fixture wrote
    out = compute_run_stats(run_dir, families=against("mean"), resamples=500).to_json()
    ids = sorted(test_ids)
    y = np.concatenate([gold[s][:, 0] for s in ids])
    averaged = np.concatenate(
        [(predictions["good", 0][s] + predictions["good", 1][s])[:, 0] / 2 for s in ids]
    )
    row = next(
        r
        for r in out["scores"]
        if (r["model"], r["target"], r["metric"], r["scope"]) == ("good", "arousal", "ccc", "global")
    )
    assert row["estimate"] == pytest.approx(ccc_score(y, averaged), abs=1e-12)
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    per_session = next(
        r
        for r in out["scores"]
        if (r["model"], r["target"], r["metric"], r["scope"]) == ("good", "arousal", "ccc", "session_mean")
    )
    assert per_session["estimate"] == pytest.approx(
        np.mean(
            [
                ccc_score(gold[s][:, 0], (predictions["good", 0][s] + predictions["good", 1][s])[:, 0] / 2)
                for s in ids
            ]
        )
    )
    seeds = next(r for r in out["seeds"] if (r["model"], r["target"]) == ("good", "arousal"))
    per_seed = [ccc_score(y, np.concatenate([predictions["good", k][s][:, 0] for s in ids])) for k in (0, 1)]
    assert seeds["per_seed"] == pytest.approx({"0": per_seed[0], "1": per_seed[1]})
    assert seeds["sd"] == pytest.approx(np.std(per_seed, ddof=1))
    mean_row = next(
        r for r in out["scores"] if (r["model"], r["target"], r["metric"]) == ("mean", "arousal", "pearson")
    )
    assert mean_row["estimate"] is None  # constant predictions: Pearson undefined, written as null


def test_family_holm_outcomes_and_exploratory_bh(run_dir):
    out = compute_run_stats(run_dir, families=against("mean"), resamples=500).to_json()
    family = out["families"][0]
    assert family["size"] == len(family["comparisons"]) == 4  # (good, meh) vs mean, two targets
    assert family["correction"] == "holm" and family["unit"] == "session" and family["num_units"] == 10
    assert {(c["model"], c["reference"]) for c in family["comparisons"]} == {("good", "mean"), ("meh", "mean")}
    p_values = [c["p_value"] for c in family["comparisons"]]
    assert [c["p_adjusted"] for c in family["comparisons"]] == pytest.approx(list(holm_adjust(p_values)))
    assert family["smallest_attainable_adjusted_p"] == pytest.approx(4 * 2 / 2**10) and family["rejection_possible"]
    assert all(t["p_bh"] is not None for t in out["tests"])
    good = next(c for c in family["comparisons"] if (c["model"], c["target"]) == ("good", "arousal"))
    assert good["outcome"] == "better" and good["p_adjusted"] == pytest.approx(4 * 2 / 2**10)
    assert good["sentence"].startswith("good beats mean on arousal: ΔCCC = +")
    assert "p = 0.0078 (Holm-adjusted over family 'refs', paired session randomisation test, two-sided, " \
           "10 sessions" in good["sentence"]
    assert good["ci_low"] <= good["delta_ccc"] <= good["ci_high"]
    test = next(t for t in out["tests"] if t["id"] == "randomisation_ccc:arousal:mean:good")
    assert test["statistic"] == pytest.approx(-good["delta_ccc"]) and test["p_value"] == pytest.approx(2 / 2**10)
    assert test["exact"] and test["num_permutations"] == 1024
    wilcoxon = next(t for t in out["tests"] if t["id"] == "wilcoxon_session_ccc:arousal:mean:good")
    assert wilcoxon["p_value"] == pytest.approx(2 / 2**10)
    assert wilcoxon["effect"]["name"] == "hodges_lehmann_delta_session_ccc"


def test_a_one_sided_family_halves_the_smallest_p(run_dir):
    two = compute_run_stats(run_dir, families=against("mean"), resamples=500).families[0]
    one = compute_run_stats(run_dir, families=against("mean", alternative="greater"), resamples=500).families[0]
    assert one.smallest_attainable_p == 1 / 2**10 and two.smallest_attainable_p == 2 / 2**10
    good_one = next(c for c in one.comparisons if (c.model, c.target) == ("good", "arousal"))
    good_two = next(c for c in two.comparisons if (c.model, c.target) == ("good", "arousal"))
    assert good_one.p_value == pytest.approx(good_two.p_value / 2)
    assert "is not significantly better than" in " ".join(c.sentence for c in one.comparisons
                                                          if c.outcome == "not_significant") or all(
        c.outcome == "better" for c in one.comparisons)


def test_too_few_sessions_for_any_rejection_is_said_plainly(tmp_path):
    make_run(tmp_path, num_sessions=6)
    out = compute_run_stats(tmp_path, families=against("mean"), resamples=200).to_json()
    family = out["families"][0]
    assert not family["rejection_possible"] and family["smallest_attainable_adjusted_p"] == pytest.approx(4 * 2 / 64)
    assert any("none of its comparisons can be significant, whatever the data" in n for n in out["notes"])
    assert all(c["outcome"] == "not_significant" for c in family["comparisons"])


def test_write_run_stats_is_atomic_json(run_dir):
    path = write_run_stats(run_dir, families=against("mean"), resamples=200)
    assert path == run_dir / "stats.json"
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded["partition"] == "test" and loaded["families"][0]["comparisons"]
    assert not list(run_dir.glob(".stats.json.*"))


def test_select_partition_and_errors(run_dir):
    out = compute_run_stats(run_dir, families=against("mean"), resamples=100, partition="select").to_json()
    assert out["num_sessions"] == 1 and any("whatever the data" in n for n in out["notes"])
    with pytest.raises(BenchboxError, match="no frames of partition 'dev'.*Pass partition="):
        compute_run_stats(run_dir, families=against("mean"), partition="dev").to_json()
    with pytest.raises(BenchboxError, match="'alpha' parameter of compute_run_stats must lie in .* Got 5"):
        compute_run_stats(run_dir, families=against("mean"), alpha=5).to_json()
    (run_dir / "gold.parquet").unlink()
    with pytest.raises(BenchboxError, match="gold.parquet does not exist"):
        compute_run_stats(run_dir, families=against("mean")).to_json()
    with pytest.raises(BenchboxError, match="run.json does not exist"):
        compute_run_stats(run_dir / "nowhere", families=against("mean")).to_json()


def test_frames_missing_from_a_seed_exclude_that_seed(run_dir):
    path = run_dir / "predictions" / "good" / "seed-1.parquet"
    pd.read_parquet(path).iloc[5:].to_parquet(path)
    out = compute_run_stats(run_dir, families=against("mean"), resamples=100).to_json()
    assert out["models"]["good"]["seeds_used"] == [0]
    assert "lacks" in out["models"]["good"]["seeds_excluded"]["1"]


def test_two_references_make_one_family_with_the_earlier_reference_second(run_dir):
    out = compute_run_stats(run_dir, families=against("good", "mean"), resamples=100).to_json()
    family = {(c["model"], c["reference"]) for c in out["families"][0]["comparisons"]}
    assert family == {("mean", "good"), ("meh", "good"), ("meh", "mean")}
    assert out["families"][0]["size"] == 6  # three pairs, two targets
