"""Figures of the report as inline PNG data URIs (the report stays one self-contained file)."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

from benchbox.record import PairTest

__all__ = ["significance_matrix_png"]


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
