"""Scores of stored predictions against the gold standard, as a tidy long table."""

from __future__ import annotations

import warnings

import pandas as pd

from benchbox.metrics import METRICS, SufficientStats, UndefinedMetricWarning

__all__ = ["SCORE_COLUMNS", "score_table"]

SCORE_COLUMNS = ["model", "seed", "partition", "target", "metric", "scope", "session", "value"]


def score_table(
    gold: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    model: str,
    seed: int,
    targets: tuple[str, ...],
    metrics: tuple[str, ...],
) -> pd.DataFrame:
    """Global, per-session and mean-per-session scores of one (model, seed), for every partition.

    ``scope`` is ``global`` (sessions of the partition pooled, AVEC 2016), ``session`` (one row per
    session) or ``session_mean`` (mean of the per-session values, AVEC 2018).
    """
    merged = gold.merge(predictions, on=["partition", "session", "frame"], suffixes=("_true", "_pred"),
                        validate="one_to_one")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for partition, part in merged.groupby("partition", sort=False):
            for target in targets:
                per_session = {
                    session: SufficientStats.from_arrays(group[f"{target}_true"], group[f"{target}_pred"])
                    for session, group in part.groupby("session", sort=False)
                }
                pooled = SufficientStats.total(per_session.values())
                for metric in metrics:
                    info = METRICS[metric]
                    values = {s: float(info.compute(st)) for s, st in per_session.items()}
                    base = {"model": model, "seed": seed, "partition": partition, "target": target, "metric": metric}
                    rows.append({**base, "scope": "global", "session": "", "value": float(info.compute(pooled))})
                    rows.append({**base, "scope": "session_mean", "session": "",
                                 "value": float(pd.Series(values).mean())})
                    rows.extend({**base, "scope": "session", "session": s, "value": v} for s, v in values.items())
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
