"""Seed aggregation and Almost Stochastic Order."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchbox.stats import almost_stochastic_order, average_over_seeds, seed_summary, violation_ratio


def test_seed_summary_matches_numpy_and_scipy():
    values = [0.61, 0.65, 0.63, 0.58, 0.66]
    s = seed_summary(values)
    assert s.num_seeds == 5 and s.mean == pytest.approx(np.mean(values))
    assert s.sd == pytest.approx(np.std(values, ddof=1))
    low, high = scipy_stats.t.interval(0.95, 4, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (s.ci_low, s.ci_high) == pytest.approx((low, high))


def test_seed_summary_with_failed_and_single_seeds():
    s = seed_summary([0.6, np.nan])
    assert s.num_seeds == 1 and s.mean == 0.6 and np.isnan(s.sd) and np.isnan(s.ci_low)
    assert seed_summary([]).num_seeds == 0


def test_average_over_seeds():
    out = average_over_seeds([np.ones((3, 2)), np.zeros((3, 2)), np.full((3, 2), 2.0)])
    assert out.tolist() == [[1.0, 1.0]] * 3
    with pytest.raises(ValueError, match=r"same shape. Got \[\(2,\), \(3,\)\]"):
        average_over_seeds([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="must not be empty"):
        average_over_seeds([])


def test_violation_ratio_extremes_and_symmetry():
    a, b = [0.7, 0.72, 0.74], [0.6, 0.65, 0.71]
    assert violation_ratio(a, b) == 0.0  # A's quantiles are above B's everywhere
    assert violation_ratio(b, a) == 1.0
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(0.1, size=60)
    assert violation_ratio(x, y) + violation_ratio(y, x) == pytest.approx(1.0)
    assert violation_ratio([0.5, 0.5], [0.5, 0.5]) == 0.5


def test_almost_stochastic_order():
    rng = np.random.default_rng(1)
    better = rng.normal(0.70, 0.01, size=10)
    worse = rng.normal(0.60, 0.01, size=10)
    assert almost_stochastic_order(better, worse, rng=0) < 0.05
    assert almost_stochastic_order(worse, better, rng=0) > 0.95
    same_a, same_b = rng.normal(0.6, 0.02, size=8), rng.normal(0.6, 0.02, size=8)
    assert almost_stochastic_order(same_a, same_b, rng=0) > 0.3  # no evidence of order
    assert almost_stochastic_order(better, worse, rng=3) == almost_stochastic_order(better, worse, rng=3)
    with pytest.raises(ValueError, match="at least one defined score each. Got 0 and 2"):
        almost_stochastic_order([np.nan], [0.1, 0.2])
