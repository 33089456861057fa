"""The run folder: where each piece of a run lives and how it is read and written (atomically).

```
RUN/run.json                               suite, corpus provenance, models, seeds, environment
RUN/gold.parquet                           partition, session, frame, <targets>   (select + test)
RUN/predictions/<model>/seed-<s>.parquet   partition, session, frame, <targets>
RUN/units/<model>/seed-<s>/status.json     done | failed, timings, profile, error
RUN/units/<model>/seed-<s>/traceback.txt   for failed units
RUN/units/<model>/seed-<s>/scratch/        the model's private folder (checkpoints)
RUN/scores.csv                             tidy scores
RUN/stats.json, RUN/report.html
```
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchbox import atomic
from benchbox.errors import BenchboxError

__all__ = ["RunFolder", "KEY_COLUMNS"]

KEY_COLUMNS = ("partition", "session", "frame")


class RunFolder:
    """Paths and atomic I/O of one run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def gold_path(self) -> Path:
        return self.root / "gold.parquet"

    @property
    def scores_path(self) -> Path:
        return self.root / "scores.csv"

    @property
    def stats_path(self) -> Path:
        return self.root / "stats.json"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"

    def predictions_path(self, model: str, seed: int) -> Path:
        return self.root / "predictions" / model / f"seed-{seed}.parquet"

    def unit_dir(self, model: str, seed: int) -> Path:
        return self.root / "units" / model / f"seed-{seed}"

    def status_path(self, model: str, seed: int) -> Path:
        return self.unit_dir(model, seed) / "status.json"

    def read_json(self, path: Path) -> dict:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchboxError(f"{path} does not exist; is {self.root} a benchbox run folder?") from None
        except ValueError as exc:
            raise BenchboxError(f"{path}: not valid JSON ({exc}).") from exc

    def read_run(self) -> dict:
        return self.read_json(self.run_json)

    def unit_status(self, model: str, seed: int) -> dict | None:
        path = self.status_path(model, seed)
        return self.read_json(path) if path.exists() else None

    def is_done(self, model: str, seed: int) -> bool:
        status = self.unit_status(model, seed)
        return bool(status and status.get("status") == "done" and self.predictions_path(model, seed).exists())

    def write_frame(self, path: Path, frame: pd.DataFrame) -> None:
        with atomic.atomic_path(path, suffix=".parquet") as tmp:
            frame.to_parquet(tmp, index=False)

    def read_gold(self) -> pd.DataFrame:
        return pd.read_parquet(self.gold_path)

    def read_predictions(self, model: str, seed: int) -> pd.DataFrame:
        return pd.read_parquet(self.predictions_path(model, seed))

    def finished_units(self) -> list[tuple[str, int]]:
        """(model, seed) pairs with stored predictions and a 'done' status."""
        units = []
        for path in sorted((self.root / "predictions").glob("*/seed-*.parquet")):
            model, seed = path.parent.name, int(path.stem.removeprefix("seed-"))
            if self.is_done(model, seed):
                units.append((model, seed))
        return units


def frame_table(partition_of: dict[str, str], arrays: dict[str, np.ndarray], targets: tuple[str, ...]) -> pd.DataFrame:
    """Long table (partition, session, frame, targets...) from per-session (frames, targets) arrays."""
    parts = []
    for session_id, values in arrays.items():
        values = np.asarray(values, dtype=np.float64).reshape(len(values), len(targets))
        part = pd.DataFrame(values, columns=list(targets))
        part.insert(0, "frame", np.arange(len(values), dtype=np.int64))
        part.insert(0, "session", session_id)
        part.insert(0, "partition", partition_of[session_id])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
