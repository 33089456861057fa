"""Figures of the report as inline PNG data URIs (the report stays one self-contained file)."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

from benchbox.record import PairTest

__all__ = ["significance_matrix_png", "forest_plot_png", "score_cost_png"]


def significance_matrix_png(tests: list[PairTest], models: list[str], target: str) -> str | None:
    """Heatmap of ΔCCC (row minus column) with BH-adjusted p of the session randomisation test.

    Returns a ``data:image/png;base64,...`` URI, or None when fewer than two models have tests.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    index = {m: i for i, m in enumerate(models)}
    delta = np.full((len(models), len(models)), np.nan)
    labels = np.full(delta.shape, "", dtype=object)
    found = False
    for test in tests:
        if test.test != "randomisation_ccc" or test.target != target:
            continue
        a, b = test.model_a, test.model_b
        if a not in index or b not in index:
            continue
        effect, p_bh = test.effect.estimate, test.p_bh
        if effect is None or not np.isfinite(effect):
            continue
        found = True
        for row, col, sign in ((a, b, 1.0), (b, a, -1.0)):
            delta[index[row], index[col]] = sign * effect
            labels[index[row], index[col]] = f"{sign * effect:+.2f}\np={p_bh:.3g}" if p_bh is not None else ""
    if not found:
        return None
    size = max(3.5, 0.9 * len(models) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    limit = np.nanmax(np.abs(delta)) or 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # seaborn 0.13 calls cmap.set_bad
        sns.heatmap(delta, annot=labels, fmt="", cmap="RdBu", vmin=-limit, vmax=limit, center=0, square=True,
                    xticklabels=models, yticklabels=models, cbar_kws={"label": "ΔCCC (row − column)"},
                    annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white", ax=ax)
    ax.set_title(f"{target}: ΔCCC, BH-adjusted p (exploratory)")
    ax.set_xlabel("")
    ax.set_ylabel("")
    plt.setp(ax.get_xticklabels(), rotation=35, ha="right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(value) -> bool:
    return value is not None and np.isfinite(value)


def forest_plot_png(rows: list[tuple[str, float | None, float | None, float | None]], target: str) -> str | None:
    """Each row's global CCC with its interval, best at the top (``rows``: name, estimate, low, high)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if _finite(r[1])]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r[1])
    fig, ax = plt.subplots(figsize=(6.0, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))
    estimates = np.array([r[1] for r in rows])
    low = np.array([r[2] if _finite(r[2]) else r[1] for r in rows])
    high = np.array([r[3] if _finite(r[3]) else r[1] for r in rows])
    xerr = [np.maximum(estimates - low, 0.0), np.maximum(high - estimates, 0.0)]  # rounding: never negative
    ax.errorbar(estimates, y, xerr=xerr, fmt="o", color="#0969da", ecolor="#8c959f",
                capsize=3, markersize=4)
    ax.axvline(0.0, color="#cf222e", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel(f"{target}: global CCC (95% interval)")
    longest = max(len(r[0]) for r in rows)
    fig.subplots_adjust(left=min(0.5, 0.04 + 0.0125 * longest), right=0.97, bottom=0.8 / fig.get_figheight(),
                        top=1 - 0.2 / fig.get_figheight())  # fixed margins: much cheaper than tight_layout
    return _png(fig)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (score, cost) that no other point beats on both: higher score, lower cost.

    Example:
        >>> pareto_front([(0.5, 1.0), (0.4, 2.0), (0.6, 3.0), (0.3, 0.5)])
        [0, 2, 3]
    """
    front = []
    for i, (score, cost) in enumerate(points):
        dominated = any(s >= score and c <= cost and (s > score or c < cost) for j, (s, c) in enumerate(points)
                        if j != i)
        if not dominated:
            front.append(i)
    return front


def score_cost_png(rows: list[tuple[str, float | None, float | None]]) -> str | None:
    """Mean CCC against predict real-time factor (log axis), Pareto front marked (``rows``: name, score, cost)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if _finite(r[1]) and _finite(r[2]) and r[2] > 0]
    if len(rows) < 2:
        return None
    points = [(float(r[1]), float(r[2])) for r in rows]
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.scatter([p[1] for p in points], [p[0] for p in points], color="#0969da", s=18)
    for (name, _, _), (score, cost) in zip(rows, points, strict=True):
        ax.annotate(name, (cost, score), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ordered = sorted((points[i] for i in front), key=lambda p: p[1])
    ax.plot([p[1] for p in ordered], [p[0] for p in ordered], color="#1a7f37", linewidth=1.2, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("predict real-time factor (log; lower is cheaper)")
    ax.set_ylabel("mean global CCC over targets")
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.96)
    return _png(fig)
