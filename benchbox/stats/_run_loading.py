"""Reading a run folder for the statistics: gold standard and per-seed predictions, validated.

A seed whose predictions are unreadable, lack gold frames, duplicate frames or hold NaN/inf is excluded
with the reason; a model without any usable seed is reported as failed. Nothing here raises for one bad
model: only a missing or unreadable gold standard is an error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from benchbox.errors import BenchboxError
from benchbox.results import RunFolder

KEY_COLUMNS = ["partition", "session", "frame"]


@dataclasses.dataclass
class LoadedModel:
    """One model's usable seeds (predictions aligned to the gold frames) and why others were left out."""

    name: str
    seeds_used: list[int] = dataclasses.field(default_factory=list)
    seeds_missing: list[int] = dataclasses.field(default_factory=list)
    seeds_excluded: dict[str, str] = dataclasses.field(default_factory=dict)
    predictions: list[np.ndarray] = dataclasses.field(default_factory=list)  # per used seed, (F, T)

    @property
    def ok(self) -> bool:
        return bool(self.seeds_used)

    def summary(self) -> dict:
        reason = None
        if not self.ok:
            reason = (
                "no usable predictions: "
                + "; ".join(f"seed {s}: {r}" for s, r in self.seeds_excluded.items())
                if self.seeds_excluded
                else "no prediction files"
            )
        return {
            "status": "ok" if self.ok else "failed",
            "seeds_used": self.seeds_used,
            "seeds_missing": self.seeds_missing,
            "seeds_excluded": self.seeds_excluded,
            "reason": reason,
        }


def _read_parquet(path: Path, columns: list[str], what: str):
    import pandas as pd

    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} {path} lacks columns {missing}; found {list(frame.columns)}")
    return frame


def load_gold(root: Path, targets: list[str], partition: str):
    path = root / "gold.parquet"
    if not path.exists():
        raise BenchboxError(f"{path} does not exist; is {root} a benchbox run folder?")
    try:
        gold = _read_parquet(path, KEY_COLUMNS + targets, "gold standard")
    except (OSError, ValueError) as exc:
        raise BenchboxError(f"Cannot read the gold standard: {exc}") from exc
    part = gold[gold["partition"] == partition]
    if part.empty:
        raise BenchboxError(
            f"{path} has no frames of partition {partition!r}; it has {sorted(gold['partition'].unique())}. "
            "Pass partition= one of those."
        )
    part = part.sort_values(["session", "frame"], kind="stable").reset_index(drop=True)
    part["session"] = part["session"].astype(str)
    values = part[targets].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise BenchboxError(
            f"{path}: the gold standard of partition {partition!r} holds NaN or infinite values."
        )
    return part[KEY_COLUMNS], values


def _load_seed(path: Path, keys, targets: list[str], partition: str) -> np.ndarray:
    """Predictions of one seed aligned to the gold frames, (F, T); ValueError says why they are unusable."""
    frame = _read_parquet(path, KEY_COLUMNS + targets, "predictions")
    frame = frame[frame["partition"] == partition].copy()
    frame["session"] = frame["session"].astype(str)
    if frame.duplicated(KEY_COLUMNS).any():
        raise ValueError(f"{path} has duplicate (session, frame) rows")
    merged = keys.merge(frame[KEY_COLUMNS + targets], on=KEY_COLUMNS, how="left", indicator=True)
    absent = int((merged["_merge"] != "both").sum())
    if absent:
        raise ValueError(f"{path} lacks {absent} of the {len(keys)} gold frames of partition {partition!r}")
    values = merged[targets].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        counts = {t: int(c) for t, c in zip(targets, bad.sum(axis=0), strict=True) if c}
        raise ValueError(f"{path} holds NaN or infinite predictions ({counts})")
    return values


def _model_names(run: dict, root: Path) -> list[str]:
    names = []
    for entry in run.get("models", []):
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name not in names:
            names.append(name)
    if not names and (root / "predictions").is_dir():
        names = sorted(p.name for p in (root / "predictions").iterdir() if p.is_dir())
    return names


def _unit_done(root: Path, name: str, seed: int) -> bool:
    """A unit counts when its status says done; folders without status files (hand-made) count too."""
    folder = RunFolder(root)
    if not folder.unit_dir(name, seed).exists():
        return True
    return folder.is_done(name, seed)


def load_models(root: Path, run: dict, keys, targets: list[str], partition: str) -> list[LoadedModel]:
    seeds = [int(s) for s in run.get("seeds", [])]
    models = []
    for name in _model_names(run, root):
        model = LoadedModel(name)
        model_seeds = seeds or sorted(
            int(p.stem.removeprefix("seed-")) for p in (root / "predictions" / name).glob("seed-*.parquet")
        )
        for seed in model_seeds:
            path = RunFolder(root).predictions_path(name, seed)
            if not path.exists() or not _unit_done(root, name, seed):
                model.seeds_missing.append(seed)
                continue
            try:
                model.predictions.append(_load_seed(path, keys, targets, partition))
            except (OSError, ValueError) as exc:
                model.seeds_excluded[str(seed)] = str(exc)
                continue
            model.seeds_used.append(seed)
        models.append(model)
    return models
