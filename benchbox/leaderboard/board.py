"""A leaderboard of many run folders: comparable results grouped into tables, ranked by paired tests.

Runs are read only through the run record (:class:`benchbox.record.RunFolder`). A table holds the results that
may be compared: the same suite (name and major version), corpus fingerprint, scored partition and targets.
A row is one model configuration (model name and the hash of its options); where it appears in several
runs of a table, the most recent run's row is shown and the others are listed as superseded. Seeds of one
run are shown as mean ± SD with their count, never the best seed.

Ranks: within a table, the row with the best mean global CCC (mean over targets) is compared with every
other row by the paired session randomisation test of the difference in that mean (one-sided: the best is
better; all targets swapped together), Holm-corrected over those comparisons; the rows not significantly
worse share rank 1 ("1="); the best of the rest starts rank 2, and so on down. Rows of different runs pair
up because a table's runs score the same sessions against the same gold standard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbox.errors import BenchboxError
from benchbox.leaderboard.published import PublishedRow, PublishedSet, published_for
from benchbox.record import HEADLINE_COLUMN, RunFolder, RunRecord

__all__ = ["TableKey", "BoardRow", "BoardTable", "Board", "find_run_folders", "build_board", "RANK_METHOD"]

RANK_METHOD = ("paired session randomisation test of the mean over targets of the global CCC difference against "
               "the best remaining row (one-sided, all targets swapped together), Holm-corrected over the "
               "comparisons of each step; rows not significantly worse share the rank")


@dataclasses.dataclass(frozen=True)
class TableKey:
    """What makes results comparable."""

    suite: str
    suite_major: str
    corpus_fingerprint: str
    partition: str
    targets: tuple[str, ...]

    @property
    def slug(self) -> str:
        text = "|".join([self.suite, self.suite_major, self.corpus_fingerprint, self.partition, *self.targets])
        return f"{self.suite}-v{self.suite_major}-{self.partition}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclasses.dataclass
class BoardRow:
    """One model configuration of a table, from its most recent run."""

    model: str
    options_sha256: str
    options: dict[str, Any]
    family: str
    modalities: list[str]
    package: str
    description: str
    run_dir: Path
    run_updated_at: str
    suite_version: str
    benchbox_version: str
    git_commit: str
    device: str
    machine: str
    seeds: int
    values: dict[str, float]  # "<target>/<metric>/<scope>" (mean over seeds), ".../sd", ci bounds, mean/ccc/global
    interval_method: str
    cost: dict[str, float | None]
    failed_seeds: int = 0
    superseded: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    rank: str = "–"
    p_vs_best: float = math.nan
    p_adjusted: float = math.nan
    ranked: bool = False


@dataclasses.dataclass
class BoardTable:
    key: TableKey
    synthetic: bool
    corpus_description: str
    rows: list[BoardRow]
    published: list[PublishedRow]
    num_sessions: int
    rank_notes: list[str]


@dataclasses.dataclass
class Board:
    tables: list[BoardTable]
    not_loaded: list[tuple[Path, str]]
    published_elsewhere: list[PublishedRow]  # real-corpus results, shown apart on synthetic boards
    generated_at: str
    alpha: float = 0.05


def find_run_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Every folder holding a ``run.json`` at or below ``paths`` (a path that is one counts as one)."""
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise BenchboxError(f"{path} does not exist; give run folders or folders that contain them.")
        if (path / "run.json").is_file():
            found[path] = None
            continue
        if not path.is_dir():
            raise BenchboxError(f"{path} is not a folder; give run folders or folders that contain them.")
        for run_json in sorted(path.rglob("run.json")):
            found[run_json.parent] = None
    return list(found)


def _cost(folder: RunFolder, run: RunRecord, model: str) -> dict[str, float | None]:
    """Mean over the model's done units of its cost figures (None where no unit gives one)."""
    entry = run.model(model)
    units = [u for u in (entry.units.values() if entry else []) if u.done]

    def mean(values: list) -> float | None:
        values = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        return float(np.mean(values)) if values else None

    def peak(unit) -> Any:  # the unit process's peak; older runs: the plugin's own figure
        if unit.process.get("peak_rss_mb") is not None:
            return unit.process["peak_rss_mb"]
        memory = unit.profile.get("peak_memory_fit")
        return memory.get("peak_mb") if isinstance(memory, dict) else memory

    def size(unit, key: str) -> Any:  # the harness's count (unit format 3), else the plugin's
        return unit.size.get(key) if key in unit.size else unit.profile.get(key)

    flops = mean([size(u, "flops_per_media_second") for u in units])
    return {"parameters": mean([size(u, "parameters") for u in units]),
            "gflops_per_media_s": flops / 1e9 if flops is not None else None,
            "fit_s": mean([u.fit_s for u in units]),
            "predict_rtf": mean([u.predict_real_time_factor for u in units]),
            "peak_mb": mean([peak(u) for u in units]),
            "training_s": mean([u.profile.get("training_time_s") for u in units])}


def _rows_of_run(folder: RunFolder, run: RunRecord) -> list[BoardRow]:
    stats = folder.read_stats()
    board = folder.leaderboard(run=run, stats=stats)
    rows = []
    for record in board.to_dict("records"):
        entry = run.model(record["model"])
        if entry is None:
            continue
        values = {k: float(v) for k, v in record.items() if k not in ("model", "seeds") and v is not None}
        environment = run.environment
        rows.append(BoardRow(
            model=entry.name, options_sha256=entry.options_sha256, options=dict(entry.options), family=entry.family,
            modalities=list(entry.modalities), package=entry.package, description=entry.description,
            run_dir=folder.root, run_updated_at=run.updated_at, suite_version=run.suite.version,
            benchbox_version=str(environment.packages.get("benchbox") or "?"),
            git_commit=str(environment.git_commit or "unknown"), device=environment.device_name,
            machine=f"{environment.platform}; {environment.cpu_count or '?'} CPUs",
            seeds=int(record["seeds"]), values=values,
            interval_method=stats.interval_method if stats else "none", cost=_cost(folder, run, entry.name),
            failed_seeds=sum(1 for unit in entry.units.values() if not unit.done)))
    return rows


def _key(run: RunRecord) -> TableKey:
    return TableKey(run.suite.name, run.suite.major_version, run.corpus.fingerprint, run.test_split,
                    tuple(run.targets))


def build_board(paths: Sequence[str | Path], *, published: Sequence[PublishedSet] = (), alpha: float = 0.05,
                rank: bool = True) -> Board:
    """Read every run folder under ``paths`` and build the board (see the module docstring).

    A folder that cannot be read (corrupt or half-written JSON, an unknown format) is listed in
    ``Board.not_loaded`` with the reason; the others still appear.
    """
    grouped: dict[TableKey, list[tuple[RunFolder, RunRecord]]] = {}
    not_loaded: list[tuple[Path, str]] = []
    for path in find_run_folders(paths):
        folder = RunFolder(path)
        try:
            run = folder.read_run()
            grouped.setdefault(_key(run), []).append((folder, run))
        except (BenchboxError, OSError, ValueError) as exc:
            not_loaded.append((path, str(exc)))
    tables = []
    for key, runs in sorted(grouped.items(), key=lambda item: (item[0].suite, item[0].partition, item[0].slug)):
        runs.sort(key=lambda pair: pair[1].updated_at, reverse=True)  # most recent first
        rows: dict[tuple[str, str], BoardRow] = {}
        for folder, run in runs:
            try:
                run_rows = _rows_of_run(folder, run)
            except (BenchboxError, OSError, ValueError) as exc:
                not_loaded.append((folder.root, str(exc)))
                continue
            for row in run_rows:
                config = (row.model, row.options_sha256)
                if config in rows:
                    rows[config].superseded.append((row.run_dir, row.run_updated_at))
                else:
                    rows[config] = row
        ordered = sorted(rows.values(), key=lambda r: -_headline(r))
        newest = runs[0][1]
        table = BoardTable(key=key, synthetic=newest.corpus.synthetic, corpus_description=newest.corpus.description,
                           rows=ordered, published=[], num_sessions=len(newest.partitions.get("test", [])),
                           rank_notes=[])
        if rank:
            _rank(table, alpha)
        tables.append(table)
    for table in tables:  # published rows join only real-corpus tables of their partition
        if not table.synthetic:
            table.published = [r for r in published_for(published, table.key.suite)
                               if r.partition == table.key.partition and set(table.key.targets) <= set(r.values)]
    # a synthetic-corpus board shows them apart, so that its reader still sees where real systems stand
    elsewhere = [r for suite in sorted({t.key.suite for t in tables if t.synthetic})
                 for r in published_for(published, suite)]
    return Board(tables=tables, not_loaded=not_loaded, published_elsewhere=elsewhere,
                 generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), alpha=alpha)


def _headline(row: BoardRow) -> float:
    value = row.values.get(HEADLINE_COLUMN, math.nan)
    return value if math.isfinite(value) else -math.inf


def _session_stats(table: BoardTable) -> tuple[dict[int, list], int, list[str]]:
    """Per-row, per-target per-session sums of the rows' seed-averaged predictions against the table's gold."""
    from benchbox.stats._run_loading import load_gold, load_model
    from benchbox.stats._sums import session_sufficient_stats

    targets = list(table.key.targets)
    notes: list[str] = []
    reference = table.rows[0].run_dir
    keys, gold = load_gold(RunFolder(reference), targets, "test")
    sessions, frame_session = np.unique(keys["session"].to_numpy(), return_inverse=True)
    by_row: dict[int, list] = {}
    for index, row in enumerate(table.rows):
        folder = RunFolder(row.run_dir)
        try:
            if row.run_dir != reference:
                _, other_gold = load_gold(folder, targets, "test")
                if other_gold.shape != gold.shape or not np.array_equal(other_gold, gold):
                    notes.append(f"{row.model} ({row.run_dir.name}): its run's gold standard differs from the "
                                 f"table's; not ranked.")
                    continue
            loaded = load_model(folder, folder.read_run(), row.model, keys, targets, "test")
        except (BenchboxError, OSError, ValueError) as exc:
            notes.append(f"{row.model} ({row.run_dir.name}): predictions not readable ({exc}); not ranked.")
            continue
        if not loaded.ok:
            notes.append(f"{row.model} ({row.run_dir.name}): no usable predictions; not ranked.")
            continue
        averaged = np.mean(np.stack(loaded.predictions), axis=0)
        by_row[index] = [session_sufficient_stats(gold[:, t], averaged[:, t:t + 1], frame_session)[1]
                         for t in range(len(targets))]
    return by_row, len(sessions), notes


def _rank(table: BoardTable, alpha: float) -> None:
    """Fill rank, p against the best and its Holm-adjusted value (see the module docstring)."""
    from benchbox.metrics import SufficientStats
    from benchbox.stats.multiplicity import holm_adjust
    from benchbox.stats.paired import paired_randomisation_test

    if not table.rows:
        return
    by_row, num_sessions, notes = _session_stats(table)
    table.num_sessions = num_sessions
    table.rank_notes = notes
    remaining = [i for i in range(len(table.rows)) if i in by_row and math.isfinite(_headline(table.rows[i]))]
    position = 1
    while remaining:
        best, others = remaining[0], remaining[1:]
        group = [best]
        if others:
            targets = len(table.key.targets)

            def stack(indices: list[int], t: int) -> SufficientStats:
                fields = [np.concatenate([np.asarray(f).reshape(-1, 1) for f in (by_row[i][t].as_tuple()[k]
                                                                                   for i in indices)], axis=1)
                          for k in range(6)]
                return SufficientStats(*fields)

            result = paired_randomisation_test([stack([best] * len(others), t) for t in range(targets)],
                                               [stack(others, t) for t in range(targets)], alternative="greater",
                                               rng=0)
            p_values = np.atleast_1d(result.p_value)
            adjusted = holm_adjust(p_values)
            for i, p, q in zip(others, p_values, adjusted, strict=True):
                table.rows[i].p_vs_best, table.rows[i].p_adjusted = float(p), float(q)
                if not (math.isfinite(q) and q <= alpha):
                    group.append(i)
        label = f"{position}=" if len(group) > 1 else str(position)
        for i in group:
            table.rows[i].rank, table.rows[i].ranked = label, True
        position += len(group)
        remaining = [i for i in remaining if i not in group]


def relative_link(target: Path, site_dir: Path) -> str:
    """``target`` relative to ``site_dir``, with forward slashes (works when both are copied together)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(site_dir).resolve())).as_posix()
