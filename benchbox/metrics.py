"""Scores for time-continuous emotion recognition, as pure functions on arrays.

All moments are population (1/N) moments, as in Lin (1989) and audmetric. ``*_score`` functions are
higher-is-better, ``*_error`` functions lower-is-better. Global (AVEC 2016) scores pool several
sessions; they are computed exactly from per-session :class:`SufficientStats`, which is also what the
statistics module resamples.

Example:
    >>> round(ccc_score([1, 2, 3, 4, 5], [1.1, 1.9, 3.2, 3.8, 5.3]), 10)
    0.9908609909
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable

import numpy as np

__all__ = [
    "UndefinedMetricWarning",
    "SufficientStats",
    "ccc_score",
    "pearson_score",
    "rmse_error",
    "METRICS",
    "MetricInfo",
]


class UndefinedMetricWarning(RuntimeWarning):
    """A metric is undefined for the input (e.g. a constant trace for Pearson r); NaN is returned."""


@dataclasses.dataclass(frozen=True)
class SufficientStats:
    """Sums from which CCC, Pearson r and RMSE of a pair of traces follow exactly.

    Adding two instances pools their frames, so a global score over concatenated sessions is the score
    of the sum of the per-session stats. Arrays of sums are allowed (vectorised resampling).
    """

    n: np.ndarray | float
    sum_true: np.ndarray | float
    sum_pred: np.ndarray | float
    sum_true_sq: np.ndarray | float
    sum_pred_sq: np.ndarray | float
    sum_cross: np.ndarray | float

    @classmethod
    def from_arrays(cls, y_true, y_pred) -> SufficientStats:
        y_true, y_pred = _check_pair(y_true, y_pred)
        return cls(
            n=float(y_true.size),
            sum_true=float(y_true.sum()),
            sum_pred=float(y_pred.sum()),
            sum_true_sq=float(np.dot(y_true, y_true)),
            sum_pred_sq=float(np.dot(y_pred, y_pred)),
            sum_cross=float(np.dot(y_true, y_pred)),
        )

    def __add__(self, other: SufficientStats) -> SufficientStats:
        return SufficientStats(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    @classmethod
    def total(cls, parts: Iterable[SufficientStats]) -> SufficientStats:
        parts = list(parts)
        if not parts:
            raise ValueError("The 'parts' parameter of SufficientStats.total must not be empty.")
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out

    def as_tuple(self) -> tuple:
        return (self.n, self.sum_true, self.sum_pred, self.sum_true_sq, self.sum_pred_sq, self.sum_cross)

    def moments(self) -> tuple:
        """Means, population variances and covariance: (mean_t, mean_p, var_t, var_p, cov)."""
        n = np.asarray(self.n, dtype=np.float64)
        mean_t = self.sum_true / n
        mean_p = self.sum_pred / n
        var_t = _variance(self.sum_true_sq / n, mean_t)
        var_p = _variance(self.sum_pred_sq / n, mean_p)
        # A constant trace has exactly zero covariance with anything (Cauchy-Schwarz); without this the
        # rounding error of E[xy] - E[x]E[y] would show up as a CCC of -0.000.
        cov = np.where((var_t == 0) | (var_p == 0), 0.0, self.sum_cross / n - mean_t * mean_p)
        return mean_t, mean_p, var_t, var_p, cov

    def ccc(self):
        mean_t, mean_p, var_t, var_p, cov = self.moments()
        denominator = var_t + var_p + (mean_t - mean_p) ** 2
        return _safe_divide(2.0 * cov, denominator, "CCC", "both traces are the same constant")

    def pearson(self):
        _, _, var_t, var_p, cov = self.moments()
        return _safe_divide(cov, np.sqrt(var_t * var_p), "Pearson r", "a trace is constant")

    def rmse(self):
        n = np.asarray(self.n, dtype=np.float64)
        mse = (self.sum_true_sq - 2.0 * self.sum_cross + self.sum_pred_sq) / n
        return np.sqrt(np.maximum(mse, 0.0))


def _variance(mean_sq, mean):
    """Population variance E[x^2] - E[x]^2, with cancellation noise (a constant trace) set to exactly 0."""
    variance = mean_sq - mean**2
    return np.where(variance <= 1e-12 * np.abs(mean_sq), 0.0, variance)


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length. Got {y_true.size} and {y_pred.size} instead."
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred must not be empty.")
    return y_true, y_pred


def _safe_divide(numerator, denominator, metric: str, reason: str):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    undefined = denominator <= 0
    if np.any(undefined):
        warnings.warn(f"{metric} is undefined when {reason}; returning NaN.", UndefinedMetricWarning, stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(undefined, np.nan, numerator / np.where(undefined, 1.0, denominator))
    return float(out) if out.ndim == 0 else out


def ccc_score(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient with population moments.

    ``2 cov / (var_t + var_p + (mean_t - mean_p)^2)``; NaN with :class:`UndefinedMetricWarning` when
    both traces are the same constant.
    """
    return SufficientStats.from_arrays(y_true, y_pred).ccc()


def pearson_score(y_true, y_pred) -> float:
    """Pearson's correlation coefficient; NaN with a warning when a trace is constant."""
    return SufficientStats.from_arrays(y_true, y_pred).pearson()


def rmse_error(y_true, y_pred) -> float:
    """Root mean squared error."""
    return float(SufficientStats.from_arrays(y_true, y_pred).rmse())


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """Metadata of a metric: how to compute it from sufficient stats and which way is better."""

    name: str
    higher_is_better: bool
    bounds: tuple[float, float]
    from_stats: str  # method name on SufficientStats

    def compute(self, stats: SufficientStats):
        return getattr(stats, self.from_stats)()


#: The metrics benchbox reports, in report order.
METRICS: dict[str, MetricInfo] = {
    "ccc": MetricInfo("ccc", True, (-1.0, 1.0), "ccc"),
    "pearson": MetricInfo("pearson", True, (-1.0, 1.0), "pearson"),
    "rmse": MetricInfo("rmse", False, (0.0, float("inf")), "rmse"),
}
