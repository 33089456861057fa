"""Session bootstrap intervals against a naive frame-concatenating loop; Lin's interval where it is valid."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchbox.metrics import SufficientStats
from benchbox.stats import (
    lin_ccc_interval,
    lin_z_standard_error,
    paired_bootstrap_ci,
    session_bootstrap_ci,
    session_bootstrap_weights,
    stack_stats,
)
from benchbox.stats.simulation import SimulationDesign, simulate_datasets


def _ccc(x, y):
    cov = np.cov(x, y, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (np.mean(x) - np.mean(y)) ** 2)


REFERENCES = {
    "ccc": _ccc,
    "pearson": lambda x, y: scipy_stats.pearsonr(x, y).statistic,
    "rmse": lambda x, y: np.sqrt(np.mean((x - y) ** 2)),
}


def _sessions(seed=0, num_sessions=6):
    rng = np.random.default_rng(seed)
    gold, pred_a, pred_b = [], [], []
    for k in range(num_sessions):
        frames = 30 + 5 * k  # unequal lengths: pooling must weight by frames
        g = np.cumsum(rng.normal(size=frames)) * 0.1 + rng.normal() * 0.3
        gold.append(g)
        pred_a.append(0.7 * g + rng.normal(scale=0.2, size=frames) + rng.normal() * 0.1)
        pred_b.append(0.4 * g + rng.normal(scale=0.3, size=frames))
    return gold, pred_a, pred_b


def _stats(gold, pred):
    return stack_stats(SufficientStats.from_arrays(g, p) for g, p in zip(gold, pred, strict=True))


def _naive(gold, pred, weights, metric, scope):
    """Resample by actually concatenating the drawn sessions' frames."""
    values = []
    for counts in weights.astype(int):
        drawn = np.repeat(np.arange(len(gold)), counts)
        if scope == "global":
            values.append(
                REFERENCES[metric](
                    np.concatenate([gold[s] for s in drawn]), np.concatenate([pred[s] for s in drawn])
                )
            )
        else:
            values.append(np.mean([REFERENCES[metric](gold[s], pred[s]) for s in drawn]))
    return np.array(values)


@pytest.mark.parametrize(
    ("metric", "scope"),
    [("ccc", "global"), ("pearson", "global"), ("rmse", "global"), ("ccc", "session_mean")],
)
def test_interval_equals_naive_resampling_of_frames(metric, scope):
    gold, pred_a, _ = _sessions()
    weights = session_bootstrap_weights(len(gold), resamples=200, rng=1)
    ci = session_bootstrap_ci(
        _stats(gold, pred_a), metric=metric, scope=scope, weights=weights, confidence=0.9
    )
    naive = _naive(gold, pred_a, weights, metric, scope)
    assert ci.low == pytest.approx(np.quantile(naive, 0.05), abs=1e-10)
    assert ci.high == pytest.approx(np.quantile(naive, 0.95), abs=1e-10)
    full = np.ones((1, len(gold)))
    assert ci.estimate == pytest.approx(_naive(gold, pred_a, full, metric, scope)[0], abs=1e-10)
    assert ci.resamples == 200 and ci.num_undefined == 0


def test_paired_interval_uses_the_same_sessions_for_both_systems():
    gold, pred_a, pred_b = _sessions(seed=2)
    weights = session_bootstrap_weights(len(gold), resamples=200, rng=3)
    ci = paired_bootstrap_ci(_stats(gold, pred_a), _stats(gold, pred_b), weights=weights)
    naive = _naive(gold, pred_a, weights, "ccc", "global") - _naive(gold, pred_b, weights, "ccc", "global")
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(naive, [0.025, 0.975])), abs=1e-10)
    assert ci.estimate == pytest.approx(
        _ccc(np.concatenate(gold), np.concatenate(pred_a))
        - _ccc(np.concatenate(gold), np.concatenate(pred_b))
    )


def test_batched_systems_and_reproducible_weights():
    gold, pred_a, pred_b = _sessions(seed=4)
    a, b = _stats(gold, pred_a), _stats(gold, pred_b)
    both = SufficientStats(
        *(np.stack([x, y], axis=-1) for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True))
    )
    batch = session_bootstrap_ci(both, resamples=500, rng=5)
    single = session_bootstrap_ci(b, resamples=500, rng=5)
    assert batch.low[1] == pytest.approx(single.low) and batch.high[1] == pytest.approx(single.high)


def test_constant_predictions_give_nan_pearson_without_warnings(recwarn):
    gold, pred_a, _ = _sessions()
    constant = [np.zeros_like(g) for g in gold]
    ci = session_bootstrap_ci(_stats(gold, constant), metric="pearson", resamples=50, rng=0)
    assert np.isnan(ci.low) and ci.num_undefined == 50
    assert not recwarn.list


def test_argument_errors():
    gold, pred_a, _ = _sessions()
    st = _stats(gold, pred_a)
    with pytest.raises(ValueError, match="'scope' parameter must be one of .* Got 'median'"):
        session_bootstrap_ci(st, scope="median")
    with pytest.raises(ValueError, match=r"weights must have shape \(resamples, 6\). Got \(3, 5\)"):
        session_bootstrap_ci(st, weights=np.ones((3, 5)))
    with pytest.raises(ValueError, match="'confidence' parameter must lie in"):
        session_bootstrap_ci(st, confidence=95)


def _iid_sums(rng, num_datasets, n):
    x = rng.normal(size=(num_datasets, n))
    y = 0.2 + 0.8 * x + rng.normal(scale=0.6, size=(num_datasets, n))
    return SufficientStats(
        np.full(num_datasets, float(n)), x.sum(1), y.sum(1), (x * x).sum(1), (y * y).sum(1), (x * y).sum(1)
    )


def test_lin_standard_error_is_right_for_independent_pairs():
    """Where Lin's interval is valid (iid bivariate normal pairs) its SE matches the actual spread."""
    rng = np.random.default_rng(0)
    sums = _iid_sums(rng, 4000, 100)
    ccc, se = lin_z_standard_error(sums)
    assert np.std(np.arctanh(ccc), ddof=1) == pytest.approx(np.mean(se), rel=0.06)
    truth = 2 * 0.8 / (1 + 0.64 + 0.36 + 0.04)
    covered = np.abs(np.arctanh(ccc) - np.arctanh(truth)) <= 1.959964 * se
    assert 0.93 <= covered.mean() <= 0.97


def test_lin_interval_wraps_the_vectorised_standard_error():
    x = np.arange(20.0)
    y = x + np.sin(x)
    ci = lin_ccc_interval(x, y)
    ccc, se = lin_z_standard_error(SufficientStats.from_arrays(x, y))
    assert ci.low == pytest.approx(np.tanh(np.arctanh(ccc) - 1.959964 * se), rel=1e-6)
    assert ci.low < ci.estimate < ci.high
    with pytest.raises(ValueError, match="at least 3 pairs. Got 2"):
        lin_ccc_interval([1, 2], [1, 2])


def test_lin_interval_is_far_too_narrow_on_autocorrelated_frames():
    """Why benchbox never applies it to frames: on RECOLA-like traces its SE is tens of times too small."""
    design = SimulationDesign(num_frames=2_000)
    (stats,) = simulate_datasets(design, 200, rng=0)[:1]
    pooled = SufficientStats(*(np.sum(f, axis=0) for f in stats.as_tuple()))
    ccc, se = lin_z_standard_error(pooled)
    assert np.std(np.arctanh(ccc), ddof=1) > 10 * np.mean(se)
