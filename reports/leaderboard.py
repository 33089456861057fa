"""The leaderboard site's page: one self-contained ``index.html`` (inline CSS, JS and figures, data embedded;
opens from disk, no network). Registered in the ``benchbox.leaderboard_writers`` entry-point group."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2

from benchbox import atomic
from benchbox.leaderboard import RANK_METHOD, Board, BoardRow, BoardTable, relative_link
from reports.figures import forest_plot_png, score_cost_png

__all__ = ["write_leaderboard_html", "render_leaderboard"]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _sort_value(value: Any) -> str:
    """A cell's numeric sort key ('' sorts last)."""
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else repr(float(value))


def _display_family(row: BoardRow) -> str:
    if row.family:
        return row.family
    return "user plugin" if row.package != "benchbox" else "other"


def _cells(row: BoardRow, targets: tuple[str, ...]) -> list[dict[str, str]]:
    cells = []
    for target in targets:
        mean = row.values.get(f"{target}/ccc/global")
        sd = row.values.get(f"{target}/ccc/global/sd")
        low, high = row.values.get(f"{target}/ccc/global/ci_low"), row.values.get(f"{target}/ccc/global/ci_high")
        text = _fmt(mean) + (f" ± {_fmt(sd)}" if row.seeds > 1 and sd is not None and math.isfinite(sd) else "")
        interval = f"[{_fmt(low)}, {_fmt(high)}]" if low is not None and math.isfinite(low) else ""
        cells.append({"text": text, "extra": interval, "sort": _sort_value(mean)})
        for key in (f"{target}/ccc/session_mean", f"{target}/rmse/global"):
            cells.append({"text": _fmt(row.values.get(key)), "extra": "", "sort": _sort_value(row.values.get(key))})
    return cells


def _cost_cells(row: BoardRow) -> list[dict[str, str]]:
    cost = row.cost
    parameters = cost.get("parameters")
    figures = [(parameters / 1e6 if parameters is not None else None, 2), (cost.get("gflops_per_media_s"), 2),
               (cost.get("fit_s"), 1), (cost.get("predict_rtf"), 5), (cost.get("peak_mb"), 0)]
    cells = []
    for value, digits in figures:
        cells.append({"text": _fmt(value, digits), "extra": "", "sort": _sort_value(value)})
    return cells


def _row_view(row: BoardRow, table: BoardTable, site: Path) -> dict[str, Any]:
    report = row.run_dir / "report.html"
    complete = all(row.values.get(f"{t}/ccc/global") is not None
                   and math.isfinite(row.values.get(f"{t}/ccc/global", math.nan)) for t in table.key.targets)
    options = json.dumps(row.options, sort_keys=True) if row.options else "default options"
    return {
        "rank": row.rank, "rank_sort": row.rank.rstrip("=") if row.ranked else "", "model": row.model,
        "family": _display_family(row), "modalities": "+".join(row.modalities) or "–", "seeds": row.seeds,
        "options": options, "options_hash": row.options_sha256[:10], "description": row.description,
        "cells": _cells(row, table.key.targets), "mean": _fmt(row.values.get("mean/ccc/global")),
        "mean_sort": _sort_value(row.values.get("mean/ccc/global")), "cost": _cost_cells(row),
        "device": row.device, "machine": row.machine, "run_date": row.run_updated_at[:10],
        "run_date_full": row.run_updated_at, "version": row.benchbox_version, "commit": row.git_commit[:10],
        "report": relative_link(report, site) if report.exists() else None,
        "complete": complete and row.failed_seeds == 0,
        "p_vs_best": _fmt(row.p_vs_best, 4), "p_adjusted": _fmt(row.p_adjusted, 4),
        "superseded": [{"path": relative_link(path, site), "date": date[:10]} for path, date in row.superseded],
        "interval_method": row.interval_method,
    }


def _published_view(row, targets: tuple[str, ...]) -> dict[str, Any]:
    return {"system": row.system, "citation": row.citation, "link": row.link, "where": row.where,
            "verified": row.verified, "protocol_match": row.protocol_match, "partition": row.partition,
            "ccc_form": row.ccc_form, "note": row.note, "modalities": "+".join(row.modalities),
            "cells": [_fmt(row.values.get(t)) for t in targets],
            "sorts": [_sort_value(row.values.get(t)) for t in targets],
            "mean": _fmt(sum(row.values[t] for t in targets) / len(targets)
                         if all(t in row.values for t in targets) else None)}


def _table_view(table: BoardTable, site: Path, alpha: float) -> dict[str, Any]:
    rows = [_row_view(row, table, site) for row in table.rows]
    figures = []
    for target in table.key.targets:
        image = forest_plot_png([(r.model, r.values.get(f"{target}/ccc/global"),
                                  r.values.get(f"{target}/ccc/global/ci_low"),
                                  r.values.get(f"{target}/ccc/global/ci_high")) for r in table.rows], target)
        if image:
            figures.append({"title": f"{target}: global CCC with 95% interval", "image": image})
    scatter = score_cost_png([(r.model, r.values.get("mean/ccc/global"), r.cost.get("predict_rtf"))
                              for r in table.rows])
    if scatter:
        figures.append({"title": "mean CCC against predict real-time factor (Pareto front marked)", "image": scatter})
    return {"id": table.key.slug, "suite": table.key.suite, "major": table.key.suite_major,
            "partition": table.key.partition, "targets": list(table.key.targets), "synthetic": table.synthetic,
            "corpus": table.corpus_description, "fingerprint": table.key.corpus_fingerprint[:12],
            "num_sessions": table.num_sessions, "rows": rows, "figures": figures,
            "published": [_published_view(p, table.key.targets) for p in table.published],
            "rank_notes": table.rank_notes, "alpha": alpha}


def _embedded_json(board: Board, site: Path) -> str:
    """The board's rows as JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` are
    escaped, so no text in it can end the script element."""
    from benchbox.leaderboard import board_records

    text = json.dumps(board_records(board, site), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_leaderboard(board: Board, site: Path) -> str:
    tables = [_table_view(table, site, board.alpha) for table in board.tables]
    families = sorted({row["family"] for table in tables for row in table["rows"]})
    modalities = sorted({m for table in tables for row in table["rows"] for m in row["modalities"].split("+")
                         if m != "–"})
    targets = sorted({t for table in tables for t in table["targets"]})
    elsewhere = [_published_view(p, tuple(t for t in targets if t in p.values)) for p in board.published_elsewhere]
    return _environment().get_template("leaderboard.html").render(
        tables=tables, families=families, modalities=modalities, not_loaded=board.not_loaded,
        elsewhere=elsewhere, elsewhere_targets=targets, generated_at=board.generated_at, rank_method=RANK_METHOD,
        alpha=board.alpha, data_json=_embedded_json(board, site))


def write_leaderboard_html(board: Board, site: Path) -> Path:
    """Write ``index.html`` of ``board`` into the site folder (atomically) and return its path."""
    path = Path(site) / "index.html"
    atomic.write_text(path, render_leaderboard(board, Path(site)))
    return path
