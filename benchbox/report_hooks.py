"""Finishing a run folder: statistics, then every installed report writer.

Report writers come from the ``benchbox.reporters`` entry-point group (the built-in HTML report lives in
the top-level ``reports`` package), so that ``benchbox`` never imports ``reports`` directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchbox.registry import _group, load_entry_point

__all__ = ["REPORTER_GROUP", "write_reports"]

REPORTER_GROUP = "benchbox.reporters"
log = logging.getLogger("benchbox")


def write_reports(run_dir: Path) -> Path | None:
    """Run every installed reporter on ``run_dir``; returns the HTML report's path if one was written."""
    html = None
    for name in _group(REPORTER_GROUP):
        writer = load_entry_point(REPORTER_GROUP, name)
        path = writer(Path(run_dir))
        if name == "html":
            html = path
    return html
