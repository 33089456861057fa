"""Writing a board as a static site: ``leaderboard.csv`` and ``leaderboard.json`` (the same rows) and the HTML
page, which an installed writer of the ``benchbox.leaderboard_writers`` entry-point group renders (the built-in
one is :mod:`reports.leaderboard`; benchbox never imports ``reports`` directly)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchbox import atomic
from benchbox.errors import BenchboxError
from benchbox.leaderboard.board import Board, build_board, relative_link
from benchbox.leaderboard.published import PublishedSet, builtin_published, load_published

__all__ = ["LEADERBOARD_WRITER_GROUP", "board_records", "write_leaderboard"]

LEADERBOARD_WRITER_GROUP = "benchbox.leaderboard_writers"


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def board_records(board: Board, site_dir: Path) -> list[dict[str, Any]]:
    """Every row of every table (runs and published results) as a flat record; links relative to the site."""
    records = []
    for table in board.tables:
        base = {"table": table.key.slug, "suite": table.key.suite, "suite_major_version": table.key.suite_major,
                "corpus_fingerprint": table.key.corpus_fingerprint, "synthetic": table.synthetic,
                "partition": table.key.partition, "targets": ";".join(table.key.targets)}
        for row in table.rows:
            report = row.run_dir / "report.html"
            records.append({
                **base, "kind": "run", "model": row.model, "options_sha256": row.options_sha256,
                "options": json.dumps(row.options, sort_keys=True), "family": row.family,
                "modalities": ";".join(row.modalities), "package": row.package, "seeds": row.seeds,
                "rank": row.rank, "p_vs_best": _number(row.p_vs_best), "p_adjusted": _number(row.p_adjusted),
                **{key: _number(value) for key, value in sorted(row.values.items())},
                "interval_method": row.interval_method,
                **{f"cost/{key}": _number(value) for key, value in row.cost.items()},
                "device": row.device, "machine": row.machine, "run_date": row.run_updated_at,
                "suite_version": row.suite_version, "benchbox_version": row.benchbox_version,
                "git_commit": row.git_commit, "run": relative_link(row.run_dir, site_dir),
                "report": relative_link(report, site_dir) if report.exists() else None,
                "superseded": ";".join(relative_link(path, site_dir) for path, _ in row.superseded),
            })
        for published in table.published:
            records.append({**base, **_published_record(published)})
    records += [{"table": "published-elsewhere", **_published_record(row)} for row in board.published_elsewhere]
    return records


def _published_record(row) -> dict[str, Any]:
    return {"kind": "published", "model": row.system, "citation": row.citation, "link": row.link,
            "where": row.where, "published_partition": row.partition, "verified": row.verified,
            "protocol_match": row.protocol_match, "ccc_form": row.ccc_form,
            **{f"{target}/ccc/global": value for target, value in row.values.items()}}


def _published_sets(extra: Sequence[str | Path]) -> list[PublishedSet]:
    return [*builtin_published(), *(load_published(path) for path in extra)]


#: The page's ``<meta name="generator">``: an ``index.html`` without it is not a board and is never replaced.
GENERATOR_MARK = '<meta name="generator" content="benchbox leaderboard">'


def write_leaderboard(paths: Sequence[str | Path], out: str | Path, *, references: Sequence[str | Path] = (),
                      alpha: float = 0.05) -> Path:
    """Build the board of every run folder under ``paths`` and write the site into ``out``; returns the path
    of its ``index.html`` (or of the CSV when no HTML writer is installed)."""
    from benchbox.registry import _group, load_entry_point

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchboxError(f"--out {out} is a file; give a folder for the site.")
    index = out / "index.html"
    if index.is_file() and GENERATOR_MARK not in index.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise BenchboxError(f"{index} exists and is not a benchbox leaderboard; it is left alone. Give the site "
                            f"another --out folder.")
    board = build_board(paths, published=_published_sets(references), alpha=alpha)
    records = board_records(board, out)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    with atomic.atomic_path(out / "leaderboard.csv") as tmp:
        pd.DataFrame(records).to_csv(tmp, index=False)
    atomic.write_json(out / "leaderboard.json", {"generated_at": board.generated_at, "rows": records,
                                                 "not_loaded": [{"path": str(p), "reason": r}
                                                                for p, r in board.not_loaded]})
    page = out / "leaderboard.csv"
    for name in _group(LEADERBOARD_WRITER_GROUP):
        written = load_entry_point(LEADERBOARD_WRITER_GROUP, name)(board, out)
        if name == "html":
            page = written
    return page
