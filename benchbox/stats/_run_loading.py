"""Reading a run folder for the statistics: gold standard and per-seed predictions, validated.

A seed whose predictions are unreadable, lack gold frames, duplicate frames or hold NaN/inf is excluded
with the reason; a model without any usable seed is reported as failed. Nothing here raises for one bad
model: only a missing or unreadable gold standard is an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchbox.errors import BenchboxError
from benchbox.record import KEY_COLUMNS, ModelUsage, RecordFormatError, RunFolder, RunRecord


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

    def usage(self) -> ModelUsage:
        reason = None
        if not self.ok:
            reason = (
                "no usable predictions: "
                + "; ".join(f"seed {s}: {r}" for s, r in self.seeds_excluded.items())
                if self.seeds_excluded
                else "no prediction files"
            )
        return ModelUsage(status="ok" if self.ok else "failed", seeds_used=self.seeds_used,
                          seeds_missing=self.seeds_missing, seeds_excluded=self.seeds_excluded, reason=reason)


def load_gold(folder: RunFolder, targets: list[str], partition: str):
    """Key columns and (F, T) gold values of ``partition``, sorted by session and frame."""
    try:
        gold = folder.read_gold(targets)
    except RecordFormatError as exc:
        raise BenchboxError(f"Cannot read the gold standard: {exc}") from exc
    part = gold[gold["partition"] == partition]
    if part.empty:
        raise BenchboxError(
            f"{folder.gold_path} has no frames of partition {partition!r}; it has "
            f"{sorted(gold['partition'].unique())}. Pass partition= one of those."
        )
    part = part.sort_values(["session", "frame"], kind="stable").reset_index(drop=True)
    values = part[targets].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise BenchboxError(
            f"{folder.gold_path}: the gold standard of partition {partition!r} holds NaN or infinite values."
        )
    return part[list(KEY_COLUMNS)], values


def _load_seed(folder: RunFolder, model: str, seed: int, keys, targets: list[str], partition: str) -> np.ndarray:
    """Predictions of one seed aligned to the gold frames, (F, T); ValueError says why they are unusable."""
    path = folder.predictions_path(model, seed)
    try:
        frame = folder.read_predictions(model, seed, targets)
    except RecordFormatError as exc:
        raise ValueError(str(exc)) from exc
    frame = frame[frame["partition"] == partition]
    columns = [*KEY_COLUMNS, *targets]
    if frame.duplicated(list(KEY_COLUMNS)).any():
        raise ValueError(f"{path} has duplicate (session, frame) rows")
    merged = keys.merge(frame[columns], on=list(KEY_COLUMNS), how="left", indicator=True)
    absent = int((merged["_merge"] != "both").sum())
    if absent:
        raise ValueError(f"{path} lacks {absent} of the {len(keys)} gold frames of partition {partition!r}")
    values = merged[targets].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        counts = {t: int(c) for t, c in zip(targets, bad.sum(axis=0), strict=True) if c}
        raise ValueError(f"{path} holds NaN or infinite predictions ({counts})")
    return values


def _model_names(run: RunRecord, folder: RunFolder) -> list[str]:
    names = list(dict.fromkeys(run.model_names))
    if not names and (folder.root / "predictions").is_dir():
        names = sorted(p.name for p in (folder.root / "predictions").iterdir() if p.is_dir())
    return names


def _unit_done(folder: RunFolder, name: str, seed: int) -> bool:
    """A unit counts when its status says done; folders without status files (hand-made) count too."""
    if not folder.unit_dir(name, seed).exists():
        return True
    return folder.is_done(name, seed)


def load_model(folder: RunFolder, run: RunRecord, name: str, keys, targets: list[str], partition: str) -> LoadedModel:
    """One model's usable seeds, aligned to the gold frames ``keys``."""
    model = LoadedModel(name)
    model_seeds = list(run.seeds) or sorted(
        int(p.stem.removeprefix("seed-")) for p in (folder.root / "predictions" / name).glob("seed-*.parquet")
    )
    for seed in model_seeds:
        if not folder.predictions_path(name, seed).exists() or not _unit_done(folder, name, seed):
            model.seeds_missing.append(seed)
            continue
        try:
            model.predictions.append(_load_seed(folder, name, seed, keys, targets, partition))
        except (OSError, ValueError) as exc:
            model.seeds_excluded[str(seed)] = str(exc)
            continue
        model.seeds_used.append(seed)
    return model


def load_models(folder: RunFolder, run: RunRecord, keys, targets: list[str], partition: str) -> list[LoadedModel]:
    return [load_model(folder, run, name, keys, targets, partition) for name in _model_names(run, folder)]
