"""Confidence intervals by resampling sessions (cluster bootstrap), and Lin's z-interval for iid pairs.

Frames within a recording are strongly autocorrelated, so the resampling unit is the session: a
resample draws S sessions with replacement and pools them, computed from per-session sufficient sums
(O(sessions) per resample). Intervals are percentile intervals, and **approximate**: with few sessions
(9 for RECOLA dev) they are too narrow (coverage below nominal), which is why the significance tests
use the exact randomisation test rather than "the interval excludes zero".

:func:`lin_ccc_interval` is Lin's (1989; variance as corrected in Lin 2000) asymptotic interval on the
z-transformed CCC. It assumes **independent** (x, y) pairs from a bivariate normal distribution; on
frames of a time series its standard error is far too small (tens of times, for RECOLA-like traces),
so benchbox never applies it to frame data. It is valid, for example, for one (x, y) summary per
recording, or for genuinely independent samples.

Example:
    >>> import numpy as np
    >>> from benchbox.stats import session_sufficient_stats
    >>> rng = np.random.default_rng(0)
    >>> sessions = np.repeat(np.arange(9), 100)
    >>> gold = rng.normal(size=900)
    >>> _, st = session_sufficient_stats(gold, gold + rng.normal(scale=0.5, size=900), sessions)
    >>> ci = session_bootstrap_ci(st, metric="ccc", resamples=2000, rng=0)
    >>> bool(ci.low < ci.estimate < ci.high), ci.resamples
    (True, 2000)
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from benchbox.metrics import SufficientStats
from benchbox.stats._sums import SCOPES, as_rng, metric_of, scoped_metric

__all__ = [
    "Interval",
    "session_bootstrap_weights",
    "session_bootstrap_ci",
    "paired_bootstrap_ci",
    "percentile_interval",
    "lin_ccc_interval",
    "lin_z_standard_error",
    "BOOTSTRAP_METHOD",
    "LIN_METHOD",
]

BOOTSTRAP_METHOD = "session (cluster) bootstrap, percentile, approximate"
LIN_METHOD = "Lin's z-transform interval (independent pairs only)"


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval (array fields when the input is batched).

    Attributes:
        estimate: the statistic on the observed sessions.
        low, high: interval bounds (NaN when undefined).
        confidence: nominal coverage, e.g. 0.95.
        method: how the interval was made.
        resamples: number of bootstrap resamples (0 for analytic intervals).
        num_undefined: resamples where the statistic was undefined (left out of the percentiles).
    """

    estimate: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float
    confidence: float
    method: str
    resamples: int = 0
    num_undefined: np.ndarray | int = 0


def session_bootstrap_weights(
    num_sessions: int, *, resamples: int = 10_000, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """How often each session is drawn in each resample: integer counts, shape (resamples, sessions).

    Share one weight matrix between systems to get paired (common random number) intervals.
    """
    if num_sessions < 1 or resamples < 1:
        raise ValueError(
            f"num_sessions and resamples must be at least 1. Got {num_sessions} and {resamples} instead."
        )
    rng = as_rng(rng)
    return rng.multinomial(num_sessions, np.full(num_sessions, 1.0 / num_sessions), size=resamples).astype(
        np.float64
    )


def percentile_interval(resampled: np.ndarray, *, confidence: float = 0.95) -> tuple:
    """Percentile bounds over axis 0, ignoring NaN resamples: (low, high, num_undefined)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"The 'confidence' parameter must lie in (0, 1). Got {confidence} instead.")
    resampled = np.asarray(resampled, dtype=np.float64)
    undefined = np.isnan(resampled).sum(axis=0)
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds
        low, high = np.nanquantile(resampled, [tail, 1.0 - tail], axis=0)
    return low, high, undefined


def _finish(estimate, resampled, confidence, resamples) -> Interval:
    low, high, undefined = percentile_interval(resampled, confidence=confidence)
    return Interval(
        _out(estimate),
        _out(low),
        _out(high),
        confidence,
        BOOTSTRAP_METHOD,
        resamples,
        int(undefined) if np.ndim(undefined) == 0 else undefined,
    )


def _out(value):
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def _weights(stats: SufficientStats, weights, resamples, rng) -> np.ndarray:
    num_sessions = np.shape(stats.n)[0]
    if weights is None:
        return session_bootstrap_weights(num_sessions, resamples=resamples, rng=rng)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != num_sessions:
        raise ValueError(f"weights must have shape (resamples, {num_sessions}). Got {weights.shape} instead.")
    return weights


def session_bootstrap_ci(
    stats: SufficientStats,
    *,
    metric: str = "ccc",
    scope: str = "global",
    resamples: int = 10_000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    weights: np.ndarray | None = None,
) -> Interval:
    """Session bootstrap percentile interval of a score of one system.

    Args:
        stats: per-session sums, fields of shape ``(S,)`` or ``(S, K)`` (K systems at once).
        metric: ``ccc``, ``pearson`` or ``rmse``.
        scope: ``global`` (sessions pooled, AVEC 2016) or ``session_mean`` (mean of per-session scores).
        resamples: number of resamples (ignored when ``weights`` is given).
        confidence: nominal coverage.
        rng: Generator or seed.
        weights: optional precomputed :func:`session_bootstrap_weights` to share between calls.
    """
    if scope not in SCOPES:
        raise ValueError(f"The 'scope' parameter must be one of {list(SCOPES)}. Got {scope!r} instead.")
    weights = _weights(stats, weights, resamples, rng)
    estimate = scoped_metric(stats, metric, scope)
    resampled = scoped_metric(stats, metric, scope, weights)
    return _finish(estimate, resampled, confidence, weights.shape[0])


def paired_bootstrap_ci(
    stats_a: SufficientStats,
    stats_b: SufficientStats,
    *,
    metric: str = "ccc",
    scope: str = "global",
    resamples: int = 10_000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    weights: np.ndarray | None = None,
) -> Interval:
    """Session bootstrap interval of ``score(A) - score(B)``; both systems get the same resampled sessions."""
    if scope not in SCOPES:
        raise ValueError(f"The 'scope' parameter must be one of {list(SCOPES)}. Got {scope!r} instead.")
    weights = _weights(stats_a, weights, resamples, rng)
    estimate = scoped_metric(stats_a, metric, scope) - scoped_metric(stats_b, metric, scope)
    resampled = scoped_metric(stats_a, metric, scope, weights) - scoped_metric(
        stats_b, metric, scope, weights
    )
    return _finish(estimate, resampled, confidence, weights.shape[0])


def lin_ccc_interval(y_true, y_pred, *, confidence: float = 0.95) -> Interval:
    """Lin's asymptotic interval for CCC from **independent** pairs (never frames of a time series).

    ``Z = atanh(ccc)`` with variance ``1/(n-2) [(1-r^2) c^2 / ((1-c^2) r^2) + 2 c^3 (1-c) u^2 /
    (r (1-c^2)^2) - c^4 u^4 / (2 r^2 (1-c^2)^2)]``, where c is the CCC, r Pearson's r and
    ``u = (mean_x - mean_y) / sqrt(sd_x sd_y)`` (Lin 1989, 2000). Valid for n iid pairs from a
    bivariate normal distribution, e.g. one summary value per recording. On autocorrelated frames the
    effective sample size is far below n and this interval is far too narrow.

    Example:
        >>> ci = lin_ccc_interval([1, 2, 3, 4, 5, 6], [1.2, 1.8, 3.3, 3.9, 5.2, 5.8])
        >>> round(ci.estimate, 4), round(ci.low, 4), round(ci.high, 4)
        (0.9924, 0.9496, 0.9989)
    """
    from scipy.stats import norm

    stats = SufficientStats.from_arrays(y_true, y_pred)
    if stats.n < 3:
        raise ValueError(f"lin_ccc_interval needs at least 3 pairs. Got {int(stats.n)} instead.")
    c, se_z = lin_z_standard_error(stats)
    if not math.isfinite(se_z):
        return Interval(c, math.nan, math.nan, confidence, LIN_METHOD)
    half = norm.ppf(0.5 + confidence / 2.0) * se_z
    z = math.atanh(c)
    return Interval(c, math.tanh(z - half), math.tanh(z + half), confidence, LIN_METHOD)


def lin_z_standard_error(stats: SufficientStats) -> tuple:
    """CCC and Lin's standard error of ``atanh(CCC)`` from sums, treating all n pairs as independent.

    Vectorised over the fields' shape. Used by :func:`lin_ccc_interval`, and by the calibration study
    to show how far too small it is on autocorrelated frames. NaN where undefined (|CCC| = 1, r = 0).
    """
    n = np.asarray(stats.n, dtype=np.float64)
    mean_t, mean_p, var_t, var_p, _ = stats.moments()
    c = np.asarray(metric_of(stats, "ccc"))
    r = np.asarray(metric_of(stats, "pearson"))
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = (mean_t - mean_p) ** 2 / np.sqrt(var_t * var_p)
        var_z = (
            (1 - r**2) * c**2 / ((1 - c**2) * r**2)
            + 2 * c**3 * (1 - c) * u2 / (r * (1 - c**2) ** 2)
            - c**4 * u2**2 / (2 * r**2 * (1 - c**2) ** 2)
        ) / (n - 2)
        se = np.sqrt(np.where((np.abs(c) < 1) & (r != 0) & (n > 2), np.maximum(var_z, 0.0), np.nan))
    if se.ndim == 0:
        return float(c), float(se)
    return c, se
