"""Across training seeds: mean and spread, seed-averaged predictions, and Almost Stochastic Order.

benchbox never picks the best seed. The leaderboard shows the mean and SD of a score across seeds; the
paired tests compare the **seed-averaged predictions** of two systems (one prediction per frame).

Example:
    >>> s = seed_summary([0.61, 0.65, 0.63])
    >>> round(s.mean, 3), round(s.sd, 3), s.num_seeds
    (0.63, 0.02, 3)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from benchbox.stats._sums import as_rng

__all__ = ["SeedSummary", "seed_summary", "average_over_seeds", "almost_stochastic_order", "violation_ratio"]


@dataclasses.dataclass(frozen=True)
class SeedSummary:
    """Spread of one score across seeds.

    Attributes:
        num_seeds: seeds with a defined score.
        mean: mean across seeds.
        sd: sample standard deviation across seeds (ddof=1; NaN with one seed).
        ci_low, ci_high: Student-t interval of the mean over seeds (seed variability only; NaN with one seed).
        confidence: nominal coverage of the interval.
    """

    num_seeds: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    confidence: float


def seed_summary(scores: Sequence[float], *, confidence: float = 0.95) -> SeedSummary:
    """Mean, SD and t-interval of a score across seeds; NaN scores (failed seeds) are left out."""
    from scipy.stats import t as student_t

    values = np.asarray(scores, dtype=np.float64)
    values = values[~np.isnan(values)]
    k = values.size
    if k == 0:
        return SeedSummary(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(values.mean())
    if k == 1:
        return SeedSummary(1, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(values.std(ddof=1))
    half = float(student_t.ppf(0.5 + confidence / 2.0, k - 1)) * sd / math.sqrt(k)
    return SeedSummary(k, mean, sd, mean - half, mean + half, confidence)


def average_over_seeds(predictions: Sequence[np.ndarray]) -> np.ndarray:
    """Frame-wise mean of several seeds' predictions (all of the same shape).

    Example:
        >>> average_over_seeds([np.array([0.0, 1.0]), np.array([1.0, 2.0])]).tolist()
        [0.5, 1.5]
    """
    arrays = [np.asarray(p, dtype=np.float64) for p in predictions]
    if not arrays:
        raise ValueError("The 'predictions' parameter of average_over_seeds must not be empty.")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"All seeds' predictions must have the same shape. Got {sorted(shapes)} instead.")
    return np.mean(np.stack(arrays), axis=0)


def _quantiles(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Empirical quantile function (left-continuous inverse CDF) of each row of samples at grid points."""
    samples = np.sort(samples, axis=-1)
    n = samples.shape[-1]
    index = np.clip(np.ceil(n * grid).astype(np.int64) - 1, 0, n - 1)
    return samples[..., index]


def violation_ratio(scores_a, scores_b, *, grid_size: int = 1000) -> np.ndarray | float:
    """Share of the squared Wasserstein-2 distance where A's quantiles fall below B's (0: A dominates).

    Rows of 2-D inputs are independent samples (vectorised bootstrap).
    """
    grid = (np.arange(grid_size) + 0.5) / grid_size
    diff = _quantiles(np.asarray(scores_b, np.float64), grid) - _quantiles(
        np.asarray(scores_a, np.float64), grid
    )
    total = np.sum(diff**2, axis=-1)
    violation = np.sum(np.maximum(diff, 0.0) ** 2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total > 0, violation / np.where(total > 0, total, 1.0), 0.5)
    return float(ratio) if ratio.ndim == 0 else ratio


def almost_stochastic_order(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    *,
    alpha: float = 0.05,
    resamples: int = 1000,
    rng: np.random.Generator | int | None = None,
) -> float:
    """Almost Stochastic Order (del Barrio et al. 2018; Dror et al. 2019): the upper bound eps_min.

    ``eps_min < 0.5`` says that A's score distribution (higher is better) is almost stochastically
    larger than B's; values near 0 mean A is better in (almost) every seed quantile. Meant for score
    distributions across seeds; with 3-5 seeds it is a description more than a test. Distributions
    that are identical give 0.5.

    ``eps_min = eps - sqrt((n+m)/(nm)) * sigma * Phi^-1(alpha)``, where sigma is the bootstrap SD of
    ``sqrt(nm/(n+m)) (eps* - eps)`` with resamples of the original sizes.

    Example:
        >>> almost_stochastic_order([0.70, 0.72, 0.71, 0.73], [0.60, 0.62, 0.61, 0.63], rng=0)
        0.0
    """
    from scipy.stats import norm

    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError(
            f"scores_a and scores_b need at least one defined score each. Got {a.size} and {b.size}."
        )
    rng = as_rng(rng)
    eps = violation_ratio(a, b)
    boot_a = rng.choice(a, size=(resamples, a.size), replace=True)
    boot_b = rng.choice(b, size=(resamples, b.size), replace=True)
    scale = math.sqrt(a.size * b.size / (a.size + b.size))
    sigma = float(np.std(scale * (violation_ratio(boot_a, boot_b) - eps)))
    eps_min = eps - sigma / scale * float(norm.ppf(alpha))
    return float(min(max(eps_min, 0.0), 1.0))
