"""Small-sample confidence intervals from per-session sums: jackknife-t and BCa (session level).

The percentile session bootstrap (:mod:`benchbox.stats.bootstrap`) is too narrow with the few sessions of
RECOLA (the calibration study measures 88% coverage for a nominal 95% interval at 9 sessions). The
methods here correct for that, and the calibration study (:mod:`benchbox.stats.simulation`) chose the one
benchbox reports (:data:`REPORTED_INTERVAL`):

- **jackknife-t** (:func:`jackknife_t_interval`): leave each session out once; the jackknife standard error
  of the statistic, and ``estimate ± t(S-1) * SE`` with Student's t on S - 1 degrees of freedom. For a CCC
  (or Pearson r) the interval is built on Fisher's z = atanh scale and transformed back, so it stays in
  [-1, 1]; for a difference of two scores it is built on the raw scale.
- **BCa** (:func:`bca_interval`): the bias-corrected and accelerated session bootstrap (Efron 1987), with
  the acceleration from the same leave-one-session-out values.

Every function takes :class:`~benchbox.metrics.SufficientStats` with fields ``(S,)`` or ``(S, K)`` and is
vectorised over K (systems, pairs or simulated datasets).

Example:
    >>> import numpy as np
    >>> from benchbox.stats import session_sufficient_stats
    >>> rng = np.random.default_rng(0)
    >>> sessions = np.repeat(np.arange(9), 100)
    >>> gold = rng.normal(size=900)
    >>> _, st = session_sufficient_stats(gold, gold + rng.normal(scale=0.5, size=900), sessions)
    >>> estimate, low, high = jackknife_t_interval(st, metric="ccc")
    >>> bool(low < estimate < high <= 1.0)
    True
"""

from __future__ import annotations

import math

import numpy as np

from benchbox.metrics import SufficientStats
from benchbox.stats._sums import scoped_metric

__all__ = ["INTERVAL_METHODS", "REPORTED_INTERVAL", "leave_one_out", "jackknife_t_interval",
           "jackknife_t_difference_interval", "bca_interval", "bca_difference_interval"]

#: Interval methods the calibration study compares (``percentile`` is in :mod:`benchbox.stats.bootstrap`).
INTERVAL_METHODS = {
    "percentile": "percentile session bootstrap",
    "bca": "BCa session bootstrap (bias-corrected and accelerated; acceleration from the session jackknife)",
    "jackknife_t": "session jackknife-t (leave one session out; Student t on S-1 degrees of freedom; CCC on "
                   "Fisher's z scale)",
}
#: The method of the intervals in stats.json, the report and the leaderboard (chosen by the calibration study).
REPORTED_INTERVAL = "jackknife_t"

_BOUNDED = ("ccc", "pearson")


def leave_one_out(stats: SufficientStats, metric: str, scope: str = "global") -> np.ndarray:
    """The statistic with each session left out once: shape ``(S, ...)`` (row i leaves session i out)."""
    num_sessions = np.shape(stats.n)[0]
    weights = 1.0 - np.eye(num_sessions)
    with np.errstate(invalid="ignore", divide="ignore"):  # one session: nothing left, NaN
        return scoped_metric(stats, metric, scope, weights)


def _t_quantile(num_sessions: int, confidence: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2.0, max(num_sessions - 1, 1)))


def _jackknife_se(values: np.ndarray) -> np.ndarray:
    """Jackknife standard error from leave-one-out values ``(S, ...)``."""
    num_sessions = values.shape[0]
    with np.errstate(invalid="ignore"):  # an undefined score: NaN, without a warning
        centred = values - np.mean(values, axis=0)
        return np.sqrt((num_sessions - 1) / num_sessions * np.sum(centred**2, axis=0))


def jackknife_t_interval(stats: SufficientStats, *, metric: str = "ccc", scope: str = "global",
                         confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, low, high)`` of a score by the session jackknife-t (Fisher z scale for CCC and r).

    NaN bounds where a leave-one-out value is undefined or the estimate is at +-1.
    """
    estimate = scoped_metric(stats, metric, scope)
    values = leave_one_out(stats, metric, scope)
    half = _t_quantile(values.shape[0], confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric in _BOUNDED:
            z_values = np.arctanh(np.clip(values, -1.0, 1.0))
            se = np.where(np.isfinite(z_values).all(axis=0), _jackknife_se(z_values), np.nan)
            z = np.arctanh(estimate)
            low, high = np.tanh(z - half * se), np.tanh(z + half * se)
        else:
            se = np.where(np.isfinite(values).all(axis=0), _jackknife_se(values), np.nan)
            low, high = estimate - half * se, estimate + half * se
    return estimate, low, high


def jackknife_t_difference_interval(stats_a: SufficientStats, stats_b: SufficientStats, *, metric: str = "ccc",
                                    scope: str = "global", confidence: float = 0.95):
    """``(estimate, low, high)`` of ``score(A) - score(B)`` by the session jackknife-t (raw scale)."""
    estimate = scoped_metric(stats_a, metric, scope) - scoped_metric(stats_b, metric, scope)
    values = leave_one_out(stats_a, metric, scope) - leave_one_out(stats_b, metric, scope)
    half = _t_quantile(values.shape[0], confidence)
    se = np.where(np.isfinite(values).all(axis=0), _jackknife_se(values), np.nan)
    return estimate, estimate - half * se, estimate + half * se


def _bca(estimate: np.ndarray, resampled: np.ndarray, jackknife: np.ndarray, confidence: float):
    """BCa bounds from bootstrap replicates ``(R, ...)`` and leave-one-out values ``(S, ...)``."""
    from scipy.stats import norm

    estimate = np.asarray(estimate, dtype=np.float64)
    flat_boot = resampled.reshape(resampled.shape[0], -1)
    flat_jack = jackknife.reshape(jackknife.shape[0], -1)
    flat_est = estimate.reshape(-1)
    low, high = np.full(flat_est.shape, np.nan), np.full(flat_est.shape, np.nan)
    z_tail = norm.ppf(0.5 - confidence / 2.0)
    for k in range(flat_est.size):
        boot = flat_boot[:, k][np.isfinite(flat_boot[:, k])]
        jack = flat_jack[:, k]
        if boot.size < 10 or not np.isfinite(flat_est[k]) or not np.isfinite(jack).all():
            continue
        share = (np.sum(boot < flat_est[k]) + 0.5 * np.sum(boot == flat_est[k])) / boot.size
        z0 = norm.ppf(min(max(share, 1.0 / boot.size), 1.0 - 1.0 / boot.size))
        centred = jack.mean() - jack
        denominator = 6.0 * np.sum(centred**2) ** 1.5
        accel = float(np.sum(centred**3) / denominator) if denominator > 0 else 0.0
        levels = []
        for z_alpha in (z_tail, -z_tail):
            adjusted = z0 + (z0 + z_alpha) / (1.0 - accel * (z0 + z_alpha))
            levels.append(float(norm.cdf(adjusted)) if math.isfinite(adjusted) else math.nan)
        if all(math.isfinite(level) for level in levels):
            low[k], high[k] = np.quantile(boot, levels)
    return low.reshape(estimate.shape), high.reshape(estimate.shape)


def bca_interval(stats: SufficientStats, weights: np.ndarray, *, metric: str = "ccc", scope: str = "global",
                 confidence: float = 0.95):
    """``(estimate, low, high)`` of a score by the BCa session bootstrap with resampling ``weights`` (R, S)."""
    estimate = scoped_metric(stats, metric, scope)
    low, high = _bca(estimate, scoped_metric(stats, metric, scope, weights), leave_one_out(stats, metric, scope),
                     confidence)
    return estimate, low, high


def bca_difference_interval(stats_a: SufficientStats, stats_b: SufficientStats, weights: np.ndarray, *,
                            metric: str = "ccc", scope: str = "global", confidence: float = 0.95):
    """``(estimate, low, high)`` of ``score(A) - score(B)`` by the BCa session bootstrap."""
    estimate = scoped_metric(stats_a, metric, scope) - scoped_metric(stats_b, metric, scope)
    resampled = scoped_metric(stats_a, metric, scope, weights) - scoped_metric(stats_b, metric, scope, weights)
    jackknife = leave_one_out(stats_a, metric, scope) - leave_one_out(stats_b, metric, scope)
    low, high = _bca(estimate, resampled, jackknife, confidence)
    return estimate, low, high
