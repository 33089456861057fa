"""Speed of the statistics layer at RECOLA scale.

10 systems x 2 targets x 9 sessions x 7,501 frames (3 seeds each): all 45 pairwise exact randomisation
tests (CCC and RMSE, 512 swaps each) and Wilcoxon tests per target, the declared family's tests, plus
session jackknife-t intervals for every score and every pairwise difference. Budget: under 10 s on 2 cores.

Run with ``pytest tests/benchmarks --benchmark-only``.
"""

import numpy as np
import pandas as pd
import pytest
from record_helpers import write_minimal_run

from benchbox.stats import compute_run_stats
from benchbox.stats._sums import session_sufficient_stats, take_systems
from benchbox.stats.families import FamilySpec
from benchbox.stats.intervals import jackknife_t_difference_interval, jackknife_t_interval
from benchbox.stats.paired import paired_randomisation_test
from benchbox.stats.run_stats import SCORE_KINDS

NUM_MODELS, NUM_SEEDS, NUM_SESSIONS, NUM_FRAMES = 10, 3, 9, 7_501
TARGETS = ["arousal", "valence"]


def _frame(values, sessions):
    frame = pd.DataFrame(values, columns=TARGETS)
    frame.insert(0, "frame", np.tile(np.arange(NUM_FRAMES), NUM_SESSIONS))
    frame.insert(0, "session", sessions)
    frame.insert(0, "partition", "test")
    return frame


@pytest.fixture(scope="module")
def recola_scale_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-run")
    rng = np.random.default_rng(0)
    sessions = np.repeat([f"dev_{k + 1}" for k in range(NUM_SESSIONS)], NUM_FRAMES)
    gold = np.cumsum(rng.normal(size=(sessions.size, 2)), axis=0) * 0.01
    _frame(gold, sessions).to_parquet(root / "gold.parquet")
    models = [f"model-{k}" for k in range(NUM_MODELS)]
    for k, model in enumerate(models):
        for seed in range(NUM_SEEDS):
            pred = (0.3 + 0.06 * k) * gold + rng.normal(scale=0.1, size=gold.shape)
            path = root / "predictions" / model / f"seed-{seed}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            _frame(pred, sessions).to_parquet(path)
    write_minimal_run(root, targets=TARGETS, seeds=list(range(NUM_SEEDS)), models=models)
    return root, gold, sessions


def test_bench_run_stats_recola_scale(benchmark, recola_scale_run):
    """The whole wrapper: reading 30 prediction files, seed averaging, intervals, all tests, the family."""
    root, _, _ = recola_scale_run
    family = [FamilySpec("vs two references", models=("all",), references=("model-0", "model-1"))]
    out = benchmark.pedantic(compute_run_stats, args=(root,), kwargs={"families": family}, rounds=3, iterations=1)
    assert len(out.tests) == 45 * 2 * 3 and out.tests[0].num_permutations == 512
    assert out.families[0].size == 17 * 2
    assert benchmark.stats.stats.mean < 10.0


def test_bench_stats_core_recola_scale(benchmark, recola_scale_run):
    """The numerical core alone (from frame arrays): sums, jackknife-t intervals, 45 x 2 exact tests."""
    _, gold, sessions = recola_scale_run
    rng = np.random.default_rng(1)
    preds = np.stack(
        [(0.3 + 0.06 * k) * gold + rng.normal(scale=0.1, size=gold.shape) for k in range(NUM_MODELS)], axis=-1
    )  # (F, targets, models)
    first, second = np.triu_indices(NUM_MODELS, k=1)

    def core():
        for t in range(len(TARGETS)):
            _, stats = session_sufficient_stats(gold[:, t], preds[:, t, :], sessions)
            for metric, scope in SCORE_KINDS:
                jackknife_t_interval(stats, metric=metric, scope=scope)
            for metric in ("ccc", "rmse"):
                stats_a, stats_b = take_systems(stats, first), take_systems(stats, second)
                paired_randomisation_test(stats_a, stats_b, metric=metric)
                jackknife_t_difference_interval(stats_a, stats_b, metric=metric)

    benchmark.pedantic(core, rounds=5, iterations=1)
    assert benchmark.stats.stats.mean < 10.0
