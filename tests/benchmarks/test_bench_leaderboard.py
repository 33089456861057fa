"""Speed and size of the leaderboard over many runs: 200 run folders x 10 models (20 corpora x 10 runs each,
9 sessions). Budget: the site builds in seconds, not minutes. Run with ``pytest tests/benchmarks --benchmark-only``.
"""

import numpy as np
import pytest
from record_helpers import write_scored_run

from benchbox.leaderboard import write_leaderboard

NUM_CORPORA, RUNS_PER_CORPUS, NUM_MODELS = 20, 10, 10


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("many-runs")
    rng = np.random.default_rng(0)
    for corpus in range(NUM_CORPORA):
        gold = {f"dev_{k + 1}": np.cumsum(rng.normal(size=(50, 2)), axis=0) * 0.05 for k in range(9)}
        for run in range(RUNS_PER_CORPUS):
            predictions = {f"model-{m}": {0: {s: (0.3 + 0.07 * m) * g + rng.normal(scale=0.1, size=g.shape)
                                              for s, g in gold.items()}} for m in range(NUM_MODELS)}
            write_scored_run(root / f"c{corpus}" / f"run-{run}", gold=gold, predictions=predictions,
                             corpus_fingerprint=f"{corpus:064d}", updated_at=f"2026-01-{run + 1:02d}T00:00:00+00:00")
    return root


def test_bench_leaderboard_200_runs(benchmark, many_runs, tmp_path):
    site = tmp_path / "site"
    page = benchmark.pedantic(write_leaderboard, args=([many_runs], site), rounds=2, iterations=1)
    size_mb = page.stat().st_size / 1e6
    benchmark.extra_info["index_html_mb"] = round(size_mb, 2)
    json_mb = (site / 'leaderboard.json').stat().st_size / 1e6
    print(f"\nindex.html: {size_mb:.2f} MB; leaderboard.json: {json_mb:.2f} MB")
    assert benchmark.stats.stats.mean < 60.0
