"""Speed of eGeMAPS window features: one cold 300 s session (a RECOLA session's length, 7,501 frames).

Target: at least 30x real time on one core, i.e. 10 s or less per session. Run on one core:

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/pytest tests/benchmarks/test_bench_egemaps.py --benchmark-only

"Cold" means no feature cache: every round runs the full openSMILE pass (read, LLDs, functionals).
The real-time factor of the fastest round is stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_egemaps import write_voiced_wav

from baselines.features.egemaps import cached_egemaps_window_features, egemaps_window_features
from benchbox.cache import Cache

SESSION_S = 300.0
NUM_FRAMES = 7_501
TARGET_REAL_TIME_FACTOR = 30.0


@pytest.fixture(scope="module")
def session_wav(tmp_path_factory):
    return write_voiced_wav(tmp_path_factory.mktemp("bench-egemaps") / "session_300s.wav", SESSION_S)


def test_bench_egemaps_cold_session(benchmark, session_wav):
    features = benchmark.pedantic(
        egemaps_window_features,
        args=(session_wav,),
        kwargs={"num_frames": NUM_FRAMES},
        rounds=3,
        iterations=1,
    )
    assert features.shape == (NUM_FRAMES, 88) and np.isfinite(features).all()
    real_time_factor = SESSION_S / benchmark.stats.stats.min
    benchmark.extra_info["audio_s"] = SESSION_S
    benchmark.extra_info["real_time_factor"] = round(real_time_factor, 1)
    assert real_time_factor >= TARGET_REAL_TIME_FACTOR


def test_bench_egemaps_cache_hit(benchmark, session_wav, tmp_path):
    cache = Cache(tmp_path / "cache")
    cached_egemaps_window_features(cache, session_wav, num_frames=NUM_FRAMES)  # the one extraction
    features = benchmark(cached_egemaps_window_features, cache, session_wav, num_frames=NUM_FRAMES)
    assert features.shape == (NUM_FRAMES, 88)
