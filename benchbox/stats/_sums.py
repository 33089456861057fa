"""Per-session sufficient sums: the only thing the resampling code ever touches.

Every statistic in :mod:`benchbox.stats` (global CCC, RMSE, Pearson r, mean per-session CCC) follows
exactly from the six sums of :class:`~benchbox.metrics.SufficientStats` per session, so a resample of
sessions costs O(sessions), not O(frames). Fields are arrays of shape ``(S,)`` or ``(S, K)``: the
first axis is the session, trailing axes are a batch (systems, pairs, simulated datasets).
"""

from __future__ import annotations

import warnings

import numpy as np

from benchbox.metrics import METRICS, SufficientStats, UndefinedMetricWarning

__all__ = ["session_sufficient_stats", "stack_stats"]

#: Scopes of a score, as in :mod:`benchbox.scoring`: sessions pooled (AVEC 2016) or per-session mean.
SCOPES = ("global", "session_mean")


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed or None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def session_sufficient_stats(y_true, y_pred, sessions) -> tuple[np.ndarray, SufficientStats]:
    """Per-session sums of frame-level traces.

    Args:
        y_true: gold standard, shape ``(F,)``.
        y_pred: predictions, shape ``(F,)`` or ``(F, K)`` (K systems on the same frames).
        sessions: session id of each frame, shape ``(F,)``.

    Returns:
        The sorted unique session ids and a :class:`SufficientStats` whose fields have shape ``(S,)``
        (or ``(S, K)``).

    Example:
        >>> ids, st = session_sufficient_stats([1, 2, 3, 4], [1, 2, 2, 4], ["b", "b", "a", "a"])
        >>> ids.tolist(), st.n.tolist(), st.sum_cross.tolist()
        (['a', 'b'], [2.0, 2.0], [22.0, 5.0])
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    sessions = np.asarray(sessions)
    if y_true.ndim != 1 or y_pred.shape[:1] != y_true.shape or sessions.shape != y_true.shape:
        raise ValueError(
            "y_true, y_pred and sessions must have the same number of frames. "
            f"Got shapes {y_true.shape}, {y_pred.shape} and {sessions.shape} instead."
        )
    ids, inverse = np.unique(sessions, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(ids)))
    t = y_true[order]
    p = y_pred[order]
    t_col = t.reshape((-1,) + (1,) * (p.ndim - 1))

    def block_sum(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, starts, axis=0)

    n = np.diff(np.append(starts, len(t))).astype(np.float64)
    stats = SufficientStats(
        n=n,
        sum_true=block_sum(t),
        sum_pred=block_sum(p),
        sum_true_sq=block_sum(t * t),
        sum_pred_sq=block_sum(p * p),
        sum_cross=block_sum(t_col * p),
    )
    return ids, stats


def stack_stats(parts) -> SufficientStats:
    """Stack scalar per-session :class:`SufficientStats` into one with fields of shape ``(S,)``."""
    parts = list(parts)
    if not parts:
        raise ValueError("The 'parts' parameter of stack_stats must not be empty.")
    fields = zip(*(p.as_tuple() for p in parts), strict=True)
    return SufficientStats(*(np.asarray(f, dtype=np.float64) for f in fields))


def _broadcast_true(stats: SufficientStats) -> SufficientStats:
    """Give the gold-standard fields (n, sum_true, sum_true_sq) the shape of the prediction fields."""
    shape = np.shape(stats.sum_pred)
    n, st, sp, stt, spp, sc = (np.asarray(f, dtype=np.float64) for f in stats.as_tuple())
    expand = (slice(None),) + (None,) * (len(shape) - n.ndim)
    return SufficientStats(
        *(np.broadcast_to(f[expand] if f.ndim < len(shape) else f, shape) for f in (n, st, sp, stt, spp, sc))
    )


def take_systems(stats: SufficientStats, index) -> SufficientStats:
    """Columns ``index`` of batched per-session stats (fields (S, K) -> (S, len(index)))."""
    return SufficientStats(*(f[:, index] if np.ndim(f) == 2 else f for f in stats.as_tuple()))


def pooled(stats: SufficientStats) -> SufficientStats:
    """Sum over sessions (axis 0): the stats of the concatenated sessions."""
    return SufficientStats(*(np.sum(f, axis=0) for f in _broadcast_true(stats).as_tuple()))


def resample_sums(stats: SufficientStats, weights: np.ndarray) -> SufficientStats:
    """Pooled stats of weighted sessions: ``weights`` (R, S) of counts -> fields of shape (R, ...)."""
    return SufficientStats(
        *(np.tensordot(weights, f, axes=(1, 0)) for f in _broadcast_true(stats).as_tuple())
    )


def metric_of(stats: SufficientStats, metric: str) -> np.ndarray:
    """``ccc``, ``pearson`` or ``rmse`` of stats (any shape), NaN where undefined, without warnings."""
    if metric not in METRICS:
        raise ValueError(f"The 'metric' parameter must be one of {sorted(METRICS)}. Got {metric!r} instead.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(METRICS[metric].compute(stats), dtype=np.float64)


def per_session_metric(stats: SufficientStats, metric: str) -> np.ndarray:
    """The metric of each session separately, shape of the prediction fields."""
    return metric_of(_broadcast_true(stats), metric)


def scoped_metric(
    stats: SufficientStats, metric: str, scope: str, weights: np.ndarray | None = None
) -> np.ndarray:
    """A score of per-session stats: pooled (``global``) or the mean of per-session values.

    With ``weights`` (R, S) the score of each of R weighted resamples of the sessions, shape (R, ...).
    """
    if scope == "global":
        return metric_of(pooled(stats) if weights is None else resample_sums(stats, weights), metric)
    if scope == "session_mean":
        per_session = per_session_metric(stats, metric)
        if weights is None:
            return np.mean(per_session, axis=0)
        return np.tensordot(weights, per_session, axes=(1, 0)) / weights.sum(axis=1).reshape(
            (-1,) + (1,) * (per_session.ndim - 1)
        )
    raise ValueError(f"The 'scope' parameter must be one of {list(SCOPES)}. Got {scope!r} instead.")
