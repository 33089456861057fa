"""Paired tests between two systems scored on the same sessions.

The headline test is a two-sided paired randomisation (sign-flip) test with the **session** as the
exchangeable unit: under the null hypothesis that, within each session, system A's and system B's
predictions are exchangeable, swapping them in any subset of sessions leaves the distribution of the
data unchanged. The statistic is the difference of a pooled (global) metric, e.g.
``CCC(A) - CCC(B)`` over the concatenated sessions, recomputed for each swap from per-session
sufficient sums, so a swap costs O(sessions). With S <= ``max_exact_sessions`` all 2^S swaps are
enumerated and the p-value is exact; otherwise ``resamples`` random swaps give
``p = (1 + b) / (1 + R)``. Frames are never the unit: they are strongly autocorrelated, and
frame-level permutation tests reject a true null most of the time.

The smallest attainable two-sided p-value of the exact test is ``2 / 2^S`` (the identity and the
full swap are always as extreme as the observed statistic): 0.0039 with 9 sessions, 0.0625 with 5. The
one-sided test (``alternative="greater"``: A better than B) halves it: 1 / 2^S.

:func:`wilcoxon_session_test` is a secondary test on the per-session scores (signed-rank), with the
Hodges-Lehmann estimate and its distribution-free (Walsh-average) confidence interval.

Example:
    >>> import numpy as np
    >>> from benchbox.stats import session_sufficient_stats
    >>> rng = np.random.default_rng(0)
    >>> sessions = np.repeat(np.arange(6), 50)
    >>> gold = rng.normal(size=300)
    >>> _, a = session_sufficient_stats(gold, gold + rng.normal(scale=0.3, size=300), sessions)
    >>> _, b = session_sufficient_stats(gold, rng.normal(size=300), sessions)
    >>> result = paired_randomisation_test(a, b, metric="ccc")
    >>> result.num_permutations, result.exact, result.p_value
    (64, True, 0.03125)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from benchbox.metrics import METRICS, SufficientStats
from benchbox.stats._sums import as_rng, metric_of

__all__ = [
    "ALTERNATIVES",
    "PairedTestResult",
    "WilcoxonResult",
    "paired_randomisation_test",
    "wilcoxon_session_test",
    "smallest_attainable_p",
    "RANDOMISATION_METHOD",
    "WILCOXON_METHOD",
]

RANDOMISATION_METHOD = "paired session randomisation test"
WILCOXON_METHOD = "Wilcoxon signed-rank test on per-session scores"

#: Swaps evaluated per block, so that exact enumeration with S = 20 stays within memory.
_BLOCK = 1 << 15


@dataclasses.dataclass(frozen=True)
class PairedTestResult:
    """Result of :func:`paired_randomisation_test` (array fields when the input is batched).

    Attributes:
        metric: the metric whose difference is tested (``ccc``, ``rmse``, ``pearson``).
        statistic: observed ``metric(A) - metric(B)`` over the pooled sessions.
        p_value: the p-value of the chosen alternative (two-sided or one-sided "greater").
        num_sessions: S, the number of exchangeable units.
        num_permutations: 2^S (exact) or the number of random swaps R.
        exact: whether all swaps were enumerated.
        p_min: the smallest p-value this design can produce (2 / 2^S, or 1 / (1 + R)).
        method: a plain-language name of the test.
    """

    metric: str
    statistic: np.ndarray | float
    p_value: np.ndarray | float
    num_sessions: int
    num_permutations: int
    exact: bool
    p_min: float
    method: str = RANDOMISATION_METHOD


@dataclasses.dataclass(frozen=True)
class WilcoxonResult:
    """Result of :func:`wilcoxon_session_test`.

    Attributes:
        statistic: scipy's signed-rank statistic (the smaller of the positive and negative rank sums).
        p_value: two-sided p-value (exact when scipy can, normal approximation otherwise).
        num_sessions: sessions with a defined, non-zero difference.
        estimate: Hodges-Lehmann estimate of the per-session difference (median of Walsh averages).
        ci_low, ci_high: distribution-free confidence interval of the estimate (NaN if too few sessions).
        ci_level: the interval's actual coverage (order-statistic intervals are conservative).
        method: a plain-language name of the test.
    """

    statistic: float
    p_value: float
    num_sessions: int
    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    method: str = WILCOXON_METHOD


def smallest_attainable_p(
    num_sessions: int, *, max_exact_sessions: int = 20, resamples: int = 9_999, alternative: str = "two-sided"
) -> float:
    """The smallest p-value of the session randomisation test with ``num_sessions`` exchangeable units.

    Example:
        >>> smallest_attainable_p(9), smallest_attainable_p(9, alternative="greater")
        (0.00390625, 0.001953125)
    """
    _check_alternative(alternative)
    if num_sessions < 1:
        raise ValueError(f"The 'num_sessions' parameter must be at least 1. Got {num_sessions} instead.")
    if num_sessions <= max_exact_sessions:
        return min(1.0, (2.0 if alternative == "two-sided" else 1.0) / 2.0**num_sessions)
    return 1.0 / (1.0 + resamples)


#: The alternatives of the randomisation test: ``metric(A) != metric(B)`` or ``metric(A) > metric(B)``.
ALTERNATIVES = ("two-sided", "greater")


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"The 'alternative' parameter must be one of {list(ALTERNATIVES)}. "
                         f"Got {alternative!r} instead.")


def _swap_blocks(num_sessions: int, exact: bool, resamples: int, rng: np.random.Generator):
    """Yield blocks of swap indicators (P, S) as float64: 1 where A and B are swapped."""
    if exact:
        bits = np.arange(num_sessions, dtype=np.int64)
        total = 1 << num_sessions
        for start in range(0, total, _BLOCK):
            codes = np.arange(start, min(total, start + _BLOCK), dtype=np.int64)
            yield ((codes[:, None] >> bits) & 1).astype(np.float64)
    else:
        for start in range(0, resamples, _BLOCK):
            size = min(resamples, start + _BLOCK) - start
            yield rng.integers(0, 2, size=(size, num_sessions)).astype(np.float64)


def _check_paired(stats_a: SufficientStats, stats_b: SufficientStats) -> int:
    shapes = {np.shape(f) for f in stats_a.as_tuple() + stats_b.as_tuple()}
    num_sessions = np.shape(stats_a.n)[0] if np.ndim(stats_a.n) else 0
    if num_sessions < 1:
        raise ValueError("stats_a and stats_b must hold per-session sums (fields of shape (S,) or (S, K)).")
    if np.shape(stats_a.sum_pred) != np.shape(stats_b.sum_pred) or len({s[:1] for s in shapes}) != 1:
        raise ValueError(
            "stats_a and stats_b must cover the same sessions with the same batch shape. "
            f"Got field shapes {sorted(shapes)} instead."
        )
    for name in ("n", "sum_true", "sum_true_sq"):
        a, b = getattr(stats_a, name), getattr(stats_b, name)
        if not np.allclose(a, b, rtol=1e-9, atol=1e-9):
            raise ValueError(
                f"stats_a and stats_b must be scored against the same gold standard "
                f"(field {name!r} differs); a paired test compares two systems on the same sessions."
            )
    return num_sessions


def paired_randomisation_test(
    stats_a: SufficientStats | Sequence[SufficientStats],
    stats_b: SufficientStats | Sequence[SufficientStats],
    *,
    metric: str = "ccc",
    max_exact_sessions: int = 20,
    resamples: int = 9_999,
    rng: np.random.Generator | int | None = None,
    alternative: str = "two-sided",
) -> PairedTestResult:
    """Paired randomisation test of ``metric(A) - metric(B)`` with sessions as units.

    Args:
        stats_a: per-session sums of system A, fields of shape ``(S,)``; or ``(S, K)`` to run K tests
            at once (K pairs, or K simulated datasets), sharing the swaps. A sequence of them (one per
            target, same sessions) tests the mean over targets of the differences, with the same swaps
            for every target (a session's predictions of all targets move together).
        stats_b: the same for system B, on the same sessions and gold standard.
        metric: ``ccc`` (headline), ``rmse`` or ``pearson``, computed on the pooled sessions.
        max_exact_sessions: enumerate all 2^S swaps up to this many sessions.
        resamples: number of random swaps R beyond that; p = (1 + b) / (1 + R).
        rng: Generator or seed for the random swaps (unused when exact).
        alternative: ``two-sided`` (the difference is not 0) or ``greater`` (it is above 0: for CCC, A
            is better than B), one-sided.

    Returns:
        A :class:`PairedTestResult`; NaN p-value where the observed statistic is undefined.
    """
    if metric not in METRICS:
        raise ValueError(f"The 'metric' parameter must be one of {sorted(METRICS)}. Got {metric!r} instead.")
    if resamples < 1:
        raise ValueError(f"The 'resamples' parameter must be at least 1. Got {resamples} instead.")
    _check_alternative(alternative)
    targets_a = list(stats_a) if isinstance(stats_a, list | tuple) else [stats_a]
    targets_b = list(stats_b) if isinstance(stats_b, list | tuple) else [stats_b]
    if len(targets_a) != len(targets_b) or not targets_a:
        raise ValueError(f"stats_a and stats_b must hold the same number of targets. Got {len(targets_a)} and "
                         f"{len(targets_b)} instead.")
    sessions = {_check_paired(a, b) for a, b in zip(targets_a, targets_b, strict=True)}
    if len(sessions) != 1:
        raise ValueError(f"Every target must have the same sessions. Got session counts {sorted(sessions)}.")
    num_sessions = sessions.pop()
    exact = num_sessions <= max_exact_sessions
    rng = as_rng(rng)
    parts = [_SwapPart(a, b, metric) for a, b in zip(targets_a, targets_b, strict=True)]

    def difference(swaps):
        return sum(part.difference(swaps) for part in parts) / len(parts)

    observed = difference(None)
    two_sided = alternative == "two-sided"
    reference = np.abs(observed) if two_sided else observed
    threshold = reference - 1e-10 * np.maximum(1.0, np.abs(observed))
    count = np.zeros(np.shape(observed), dtype=np.int64)
    for swaps in _swap_blocks(num_sessions, exact, resamples, rng):
        null = difference(swaps)
        # An undefined permuted statistic counts as extreme (conservative).
        count += np.sum(~((np.abs(null) if two_sided else null) < threshold), axis=0)
    if exact:
        num_permutations = 1 << num_sessions
        p_value = count / num_permutations
    else:
        num_permutations = resamples
        p_value = (1.0 + count) / (1.0 + resamples)
    p_value = np.where(np.isnan(observed), np.nan, np.minimum(p_value, 1.0))
    return PairedTestResult(
        metric=metric,
        statistic=_scalar(observed),
        p_value=_scalar(p_value),
        num_sessions=num_sessions,
        num_permutations=num_permutations,
        exact=exact,
        p_min=smallest_attainable_p(num_sessions, max_exact_sessions=max_exact_sessions, resamples=resamples,
                                    alternative=alternative),
    )


class _SwapPart:
    """One target of a randomisation test: the pooled sums of A and B, and what moving each session from
    A to B changes, so that the statistic of any set of swaps costs O(sessions)."""

    def __init__(self, stats_a: SufficientStats, stats_b: SufficientStats, metric: str) -> None:
        fields = [np.asarray(f, dtype=np.float64) for f in stats_a.as_tuple()]
        self.n, self.sum_true, self.sum_true_sq = (np.sum(fields[k], axis=0) for k in (0, 1, 3))
        pred_fields = ("sum_pred", "sum_pred_sq", "sum_cross")
        a_session = [np.asarray(getattr(stats_a, f), dtype=np.float64) for f in pred_fields]
        b_session = [np.asarray(getattr(stats_b, f), dtype=np.float64) for f in pred_fields]
        self.a_total = [f.sum(axis=0) for f in a_session]
        self.b_total = [f.sum(axis=0) for f in b_session]
        self.delta = [b - a for a, b in zip(a_session, b_session, strict=True)]  # moving session s from A to B
        self.metric = metric

    def difference(self, swaps: np.ndarray | None) -> np.ndarray:
        """``metric(A) - metric(B)`` with the sessions marked in ``swaps`` (P, S) exchanged (None: none)."""
        if swaps is None:
            shift = [np.zeros_like(t) for t in self.a_total]
        else:
            shift = [np.tensordot(swaps, d, axes=(1, 0)) for d in self.delta]
        a, b = self.a_total, self.b_total
        sys_a = SufficientStats(self.n, self.sum_true, a[0] + shift[0], self.sum_true_sq, a[1] + shift[1],
                                a[2] + shift[2])
        sys_b = SufficientStats(self.n, self.sum_true, b[0] - shift[0], self.sum_true_sq, b[1] - shift[1],
                                b[2] - shift[2])
        return metric_of(sys_a, self.metric) - metric_of(sys_b, self.metric)


def _scalar(value: np.ndarray):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


def signed_rank_null_counts(num_sessions: int) -> np.ndarray:
    """Number of sign patterns giving each positive-rank sum T+ = 0 .. n(n+1)/2 (no ties)."""
    counts = np.zeros(num_sessions * (num_sessions + 1) // 2 + 1, dtype=np.float64)
    counts[0] = 1.0
    for rank in range(1, num_sessions + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts


def hodges_lehmann_interval(differences, *, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Hodges-Lehmann estimate and the exact Walsh-average interval of a one-sample location.

    Returns ``(estimate, low, high, achieved_confidence)``; low/high are NaN when there are too few
    values for any interval at ``confidence`` (fewer than 6 at 95%).

    Example:
        >>> est, low, high, level = hodges_lehmann_interval([0.1, 0.3, 0.2, 0.5, 0.4, 0.6, 0.2, 0.3, 0.1])
        >>> round(est, 3), round(low, 3), round(high, 3), round(level, 3)
        (0.3, 0.15, 0.45, 0.961)
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2.0)
    estimate = float(np.median(walsh))
    cdf = np.cumsum(signed_rank_null_counts(n)) / 2.0**n  # P(T+ <= c)
    below = np.flatnonzero(cdf <= (1.0 - confidence) / 2.0)
    if below.size == 0:
        return estimate, math.nan, math.nan, math.nan
    c = int(below[-1])  # largest c with P(T+ <= c) <= alpha/2; the interval is [W_(c+1), W_(N-c)]
    return estimate, float(walsh[c]), float(walsh[walsh.size - 1 - c]), float(1.0 - 2.0 * cdf[c])


def wilcoxon_session_test(scores_a, scores_b, *, confidence: float = 0.95) -> WilcoxonResult:
    """Wilcoxon signed-rank test on per-session scores (e.g. per-session CCC) of two systems.

    A secondary test: it asks whether A's per-session score tends to exceed B's, not whether the
    pooled (global) metric differs. Sessions where either score is undefined (NaN) are dropped; zero
    differences are dropped as in Wilcoxon's original test. The effect is the Hodges-Lehmann estimate
    of the per-session difference with its distribution-free interval.

    Example:
        >>> r = wilcoxon_session_test([0.5, 0.6, 0.7, 0.4, 0.8], [0.1, 0.2, 0.3, 0.35, 0.5])
        >>> r.p_value, r.num_sessions
        (0.0625, 5)
    """
    from scipy import stats as scipy_stats

    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"scores_a and scores_b must be 1-D of the same length. Got {a.shape} and {b.shape} instead."
        )
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    estimate, low, high, level = hodges_lehmann_interval(d, confidence=confidence)
    nonzero = int(np.count_nonzero(d))
    if nonzero == 0:
        statistic, p_value = (math.nan, math.nan) if d.size == 0 else (0.0, 1.0)
    else:
        result = scipy_stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return WilcoxonResult(statistic, p_value, nonzero, estimate, low, high, level)
