"""Corrections for testing many system pairs at once.

- :func:`holm_adjust` (family-wise error rate, Holm 1979) for the **pre-declared** family: each system
  against the suite's reference systems, all targets together. These adjusted p-values back the
  verdicts.
- :func:`benjamini_hochberg_adjust` (false discovery rate, Benjamini & Hochberg 1995) for the full
  pairwise matrix, which is **exploratory**: nobody declared those comparisons in advance.

NaN p-values (comparisons that could not be made, e.g. a model whose predictions failed) are left out
of the family and stay NaN.

A design can make rejection impossible: Holm's first step needs ``p <= alpha / m``, and the exact
session randomisation test cannot go below ``2 / 2^S``; see :func:`holm_rejection_possible`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["holm_adjust", "benjamini_hochberg_adjust", "holm_rejection_possible"]


def _as_p_values(p_values, name: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"The 'p_values' parameter of {name} must be 1-D. Got shape {p.shape} instead.")
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(
            f"The 'p_values' parameter of {name} must lie in [0, 1]. Got {p[finite].tolist()} instead."
        )
    return p, finite


def holm_adjust(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values: reject where the adjusted p <= alpha.

    ``p_adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the sorted p-values.

    Example:
        >>> holm_adjust([0.01, 0.04, 0.03, 0.005]).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    return _step_adjust(p_values, "holm_adjust",
                        lambda ordered, m: np.maximum.accumulate((m - np.arange(m)) * ordered))


def benjamini_hochberg_adjust(p_values) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (q-values): FDR control at alpha where q <= alpha.

    ``q_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the sorted p-values.

    Example:
        >>> benjamini_hochberg_adjust([0.01, 0.04, 0.03, 0.005]).tolist()
        [0.02, 0.04, 0.04, 0.02]
    """
    return _step_adjust(
        p_values, "benjamini_hochberg_adjust",
        lambda ordered, m: np.minimum.accumulate((m * ordered / np.arange(1, m + 1))[::-1])[::-1],
    )


def holm_rejection_possible(p_min: float, family_size: int, *, alpha: float = 0.05) -> bool:
    """Whether any Holm-adjusted p-value can reach ``alpha`` when no p-value can go below ``p_min``.

    Example:
        >>> holm_rejection_possible(2 / 512, 12), holm_rejection_possible(2 / 512, 14)
        (True, False)
    """
    if family_size < 1:
        return False
    return family_size * p_min <= alpha


def _step_adjust(p_values, function: str, step) -> np.ndarray:
    """Shared frame of the step-wise adjustments: ``step(sorted finite p, m)`` gives the adjusted
    sorted values; they are capped at 1 and put back in input order; NaN inputs stay NaN."""
    p, finite = _as_p_values(p_values, function)
    out = np.full_like(p, np.nan)
    values = p[finite]
    m = values.size
    if m:
        order = np.argsort(values, kind="stable")
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(step(values[order], m), 1.0)
        out[finite] = adjusted
    return out
