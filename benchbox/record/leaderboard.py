"""The one per-model leaderboard of a run: what the CLI prints, the report shows and the cross-run board reads."""

from __future__ import annotations

import pandas as pd

from benchbox.record.stats import StatsRecord

__all__ = ["leaderboard_table", "HEADLINE_COLUMN"]

#: The column rows are sorted by: the mean over targets of the global CCC (mean over seeds).
HEADLINE_COLUMN = "mean/ccc/global"


def leaderboard_table(scores: pd.DataFrame, targets: list[str] | tuple[str, ...], *,
                      stats: StatsRecord | None = None) -> pd.DataFrame:
    """One row per model: mean and SD over seeds of every (target, metric, scope), sorted by the headline.

    Args:
        scores: tidy scores of one partition (``RunFolder.scores(partition=...)``).
        targets: the run's targets, in order.
        stats: the run's statistics; where they are of the same partition, the columns
            ``<target>/ccc/global/ci_low`` and ``.../ci_high`` hold the interval of the seed-averaged
            predictions' global CCC.

    Returns:
        A DataFrame with columns ``model``, ``seeds``, ``<target>/<metric>/<scope>`` (mean over seeds),
        ``.../sd`` (sample SD over seeds; NaN for one seed) and ``mean/ccc/global`` (the targets' global CCCs
        averaged), sorted by the last, best first.

    Example:
        >>> rows = [dict(model="m", seed=s, partition="test", target=t, metric="ccc", scope="global",
        ...              session="", value=v) for s, t, v in [(0, "a", 0.2), (1, "a", 0.4), (0, "b", 0.0),
        ...                                                   (1, "b", 0.2)]]
        >>> table = leaderboard_table(pd.DataFrame(rows), ["a", "b"])
        >>> round(float(table.loc[0, "mean/ccc/global"]), 3), int(table.loc[0, "seeds"])
        (0.2, 2)
    """
    part = scores[scores["scope"].isin(["global", "session_mean"])]
    if part.empty:
        return pd.DataFrame(columns=["model", "seeds"])
    part = part.assign(column=part["target"] + "/" + part["metric"] + "/" + part["scope"])
    wide = part.pivot_table(index=["model", "seed"], columns="column", values="value", aggfunc="first")
    ccc_global = [f"{t}/ccc/global" for t in targets if f"{t}/ccc/global" in wide]
    if ccc_global:
        wide[HEADLINE_COLUMN] = wide[ccc_global].mean(axis=1)
    grouped = wide.groupby(level="model")
    table = grouped.mean()
    table = table.join(grouped.std(ddof=1).add_suffix("/sd"))
    table.insert(0, "seeds", grouped.size())
    table = table.reset_index()
    partition = scores["partition"].iloc[0]
    if stats is not None and stats.partition == partition:
        for target in targets:
            estimates = [stats.score(model, target) for model in table["model"]]
            for bound in ("ci_low", "ci_high"):
                table[f"{target}/ccc/global/{bound}"] = [getattr(e, bound, float("nan")) for e in estimates]
    if HEADLINE_COLUMN in table:
        table = table.sort_values(HEADLINE_COLUMN, ascending=False, kind="stable")
    return table.reset_index(drop=True)
