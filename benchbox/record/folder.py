"""The run folder: where each piece of a run lives, and the only code that reads and writes it (atomically).

```
RUN/run.json                               RunRecord: suite, corpus provenance, models, seeds, environment
RUN/gold.parquet                           partition, session, frame, <targets>   (select + test)
RUN/predictions/<model>/seed-<s>.parquet   partition, session, frame, <targets>
RUN/units/<model>/seed-<s>/status.json     UnitStatus: done | failed, timings, profile, protocol, error
RUN/units/<model>/seed-<s>/delay-<d>.*     CandidateRecord (.json) and shifted predictions (.npz) per delay
RUN/units/<model>/seed-<s>/traceback.txt   for failed units
RUN/units/<model>/seed-<s>/scratch/        the model's private folder (checkpoints)
RUN/scores.csv                             tidy scores (benchbox.scoring.SCORE_COLUMNS)
RUN/stats.json                             StatsRecord
RUN/report.html
RUN/.lock                                  held (flock) by the run that is using the folder
```
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchbox import atomic
from benchbox.errors import BenchboxError
from benchbox.record._codec import RecordFormatError
from benchbox.record.run import RunRecord
from benchbox.record.stats import StatsRecord
from benchbox.record.unit import CandidateRecord, UnitStatus

__all__ = ["RunFolder", "KEY_COLUMNS", "frame_table", "CorruptFileError"]

log = logging.getLogger("benchbox")


class CorruptFileError(RecordFormatError):
    """A run-folder file that does not read back (truncated, half-written, damaged)."""

#: Columns that identify a frame in ``gold.parquet`` and the predictions.
KEY_COLUMNS = ("partition", "session", "frame")


class RunFolder:
    """Paths and atomic, typed I/O of one run folder.

    Example:
        >>> folder = RunFolder("benchbox-runs/avec2016-dev-0123456789")
        >>> folder.status_path("mean", 0).as_posix()
        'benchbox-runs/avec2016-dev-0123456789/units/mean/seed-0/status.json'
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------------------
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

    def traceback_path(self, model: str, seed: int) -> Path:
        return self.unit_dir(model, seed) / "traceback.txt"

    def scratch_dir(self, model: str, seed: int, delay_frames: int) -> Path:
        return self.unit_dir(model, seed) / "scratch" / f"delay-{delay_frames}"

    def _candidate_paths(self, model: str, seed: int, delay_frames: int) -> tuple[Path, Path]:
        base = self.unit_dir(model, seed) / f"delay-{delay_frames}"
        return base.with_suffix(".npz"), base.with_suffix(".json")

    # -- JSON ------------------------------------------------------------------------------------------
    def _load_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchboxError(f"{path} does not exist; is {self.root} a benchbox run folder?") from None
        except NotADirectoryError:
            raise BenchboxError(f"{self.root} is not a folder; give a benchbox run folder.") from None
        except OSError as exc:
            raise BenchboxError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
        except ValueError as exc:
            raise CorruptFileError(f"{path}: not valid JSON ({exc}).") from exc

    def _set_aside(self, path: Path, reason: str) -> None:
        """Rename an artefact that does not read back to ``<name>.corrupt`` (so it is recomputed, and kept to
        look at), with a warning that names it."""
        target = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return
        log.warning("%s does not read back (%s); set aside as %s and computed again", path, reason, target.name)

    def exists(self) -> bool:
        """Whether the folder holds a run (its ``run.json``)."""
        return self.run_json.exists()

    def read_run(self) -> RunRecord:
        return RunRecord.from_json(self._load_json(self.run_json), source=str(self.run_json))

    def write_run(self, record: RunRecord) -> None:
        atomic.write_json(self.run_json, record.to_json())

    def unit_status(self, model: str, seed: int) -> UnitStatus | None:
        """The unit's status, or None if it has none yet."""
        path = self.status_path(model, seed)
        if not path.exists():
            return None
        try:
            data = self._load_json(path)
        except CorruptFileError as exc:  # a half-written or damaged status: the unit is run again
            self._set_aside(path, str(exc))
            return None
        return UnitStatus.from_json(data, source=str(path), model=model, seed=seed)

    def write_unit_status(self, status: UnitStatus) -> None:
        atomic.write_json(self.status_path(status.model, status.seed), status.to_json())

    def write_traceback(self, model: str, seed: int, text: str) -> None:
        atomic.write_text(self.traceback_path(model, seed), text)

    def is_done(self, model: str, seed: int) -> bool:
        """Whether the unit finished and its predictions read back (a damaged predictions file is set aside,
        so that the unit is run again)."""
        status = self.unit_status(model, seed)
        path = self.predictions_path(model, seed)
        if not (status and status.done and path.exists()):
            return False
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(path)
        except (OSError, ValueError) as exc:
            self._set_aside(path, str(exc))
            return False
        return True

    def finished_units(self) -> list[tuple[str, int]]:
        """(model, seed) pairs with stored predictions and a 'done' status."""
        units = []
        for path in sorted((self.root / "predictions").glob("*/seed-*.parquet")):
            model, seed = path.parent.name, int(path.stem.removeprefix("seed-"))
            if self.is_done(model, seed):
                units.append((model, seed))
        return units

    def read_stats(self) -> StatsRecord | None:
        """The run's statistics, or None if they have not been computed."""
        if not self.stats_path.exists():
            return None
        return StatsRecord.from_json(self._load_json(self.stats_path), source=str(self.stats_path))

    def write_stats(self, record: StatsRecord) -> None:
        atomic.write_json(self.stats_path, record.to_json())

    # -- one annotation-delay candidate of a unit (resumable) ----------------------------------------
    def read_candidate(self, model: str, seed: int, delay_frames: int,
                       session_ids: list[str]) -> tuple[dict[str, np.ndarray], CandidateRecord] | None:
        """A stored candidate's shifted predictions and record, or None if not stored (or of an older
        format this benchbox does not read: the candidate is then fitted again)."""
        arrays, record = self._candidate_paths(model, seed, delay_frames)
        if not (arrays.exists() and record.exists()):
            return None
        try:
            candidate = CandidateRecord.from_json(self._load_json(record), source=str(record))
            with np.load(arrays) as data:
                if not set(session_ids) <= set(data.files):
                    return None
                return {sid: data[sid] for sid in session_ids}, candidate
        except CorruptFileError as exc:
            reason = str(exc)
        except RecordFormatError:  # an older candidate format: fitted again
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            reason = f"{arrays}: {exc}"
        for path in (arrays, record):
            self._set_aside(path, reason)
        return None

    def write_candidate(self, model: str, seed: int, delay_frames: int, predictions: Mapping[str, np.ndarray],
                        record: CandidateRecord) -> None:
        arrays, path = self._candidate_paths(model, seed, delay_frames)
        with atomic.atomic_path(arrays, suffix=".npz") as tmp:
            np.savez(tmp, **predictions)
        atomic.write_json(path, record.to_json())

    # -- tables ------------------------------------------------------------------------------------
    def write_frame(self, path: Path, frame: pd.DataFrame) -> None:
        with atomic.atomic_path(path, suffix=".parquet") as tmp:
            frame.to_parquet(tmp, index=False)

    def write_gold(self, frame: pd.DataFrame) -> None:
        self.write_frame(self.gold_path, frame)

    def write_predictions(self, model: str, seed: int, frame: pd.DataFrame) -> None:
        self.write_frame(self.predictions_path(model, seed), frame)

    def read_gold(self, targets: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """``gold.parquet``; with ``targets``, checked to have the key columns and those targets."""
        if not self.gold_path.exists():
            raise BenchboxError(f"{self.gold_path} does not exist; is {self.root} a benchbox run folder?")
        return self._read_table(self.gold_path, targets, "gold standard")

    def read_predictions(self, model: str, seed: int,
                         targets: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """One unit's predictions; with ``targets``, checked to have the key columns and those targets."""
        return self._read_table(self.predictions_path(model, seed), targets, "predictions")

    @staticmethod
    def _read_table(path: Path, targets, what: str) -> pd.DataFrame:
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise RecordFormatError(f"Cannot read the {what} {path}: {exc}") from exc
        if targets is not None:
            missing = [c for c in (*KEY_COLUMNS, *targets) if c not in frame.columns]
            if missing:
                raise RecordFormatError(f"The {what} {path} lacks columns {missing}; found {list(frame.columns)}.")
        frame["session"] = frame["session"].astype(str)
        return frame

    def write_scores(self, scores: pd.DataFrame) -> None:
        with atomic.atomic_path(self.scores_path) as tmp:
            scores.to_csv(tmp, index=False)

    def scores(self, *, partition: str | None = None, scope: str | None = None,
               metric: str | None = None) -> pd.DataFrame:
        """The tidy scores (``model, seed, partition, target, metric, scope, session, value``), filtered;
        an empty table if the run has no scores yet."""
        from benchbox.scoring import SCORE_COLUMNS

        if not self.scores_path.exists():
            return pd.DataFrame(columns=SCORE_COLUMNS)
        # an undefined score is written as an empty cell; a pooled row's session is the empty string
        scores = pd.read_csv(self.scores_path, keep_default_na=False, na_values={"value": [""]},
                             dtype={"session": str})
        missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
        if missing:
            raise RecordFormatError(f"{self.scores_path} lacks columns {missing}; found {list(scores.columns)}.")
        for column, value in (("partition", partition), ("scope", scope), ("metric", metric)):
            if value is not None:
                scores = scores[scores[column] == value]
        return scores.reset_index(drop=True)

    def leaderboard(self, partition: str = "test", *, run: RunRecord | None = None,
                    stats: StatsRecord | None = None) -> pd.DataFrame:
        """One row per model of this run (see :func:`benchbox.record.leaderboard.leaderboard_table`); ``run``
        and ``stats``: the records, where the caller has read them already."""
        from benchbox.record.leaderboard import leaderboard_table

        run = run or self.read_run()
        stats = stats if stats is not None else self.read_stats()
        return leaderboard_table(self.scores(partition=partition), run.targets, stats=stats)


def frame_table(partition_of: Mapping[str, str], arrays: Mapping[str, np.ndarray],
                targets: tuple[str, ...]) -> pd.DataFrame:
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
