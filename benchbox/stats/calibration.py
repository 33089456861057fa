"""The figures of the calibration study that benchbox ships (``benchbox/stats/calibration.json``).

They are made by ``python -m benchbox.stats.simulation --out benchbox/stats/calibration.json`` (see
:func:`benchbox.stats.simulation.full_study`) and read here: the coverage of the reported interval that the
report's method note quotes, and the block lengths at which the within-session block test keeps its size
(a suite may use only those).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["calibration", "adopted_block_s", "interval_calibration", "block_calibration"]


@functools.cache
def calibration() -> dict[str, Any]:
    """The shipped study (empty if the file is missing, e.g. in a source tree before it was generated)."""
    resource = resources.files("benchbox.stats") / "calibration.json"
    try:
        return json.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def adopted_block_s() -> list[float]:
    """Block lengths (seconds) whose block test held its size in every design and number of sessions."""
    return [float(b) for b in calibration().get("adopted_block_s", [])]


def interval_calibration(method: str) -> dict[str, Any]:
    """``{design: {sessions: {"global_ccc": {coverage, mean_width}, "ccc_difference": {...}}}}`` of ``method``
    with the percentile bootstrap's figures beside it (key ``percentile``)."""
    out: dict[str, Any] = {}
    for design, by_sessions in calibration().get("results", {}).items():
        for sessions, result in by_sessions.items():
            out.setdefault(design, {})[sessions] = {
                kind: {"coverage": result["intervals"][kind][method]["coverage"],
                       "mean_width": result["intervals"][kind][method]["mean_width"],
                       "percentile_coverage": result["intervals"][kind]["percentile"]["coverage"],
                       "percentile_mean_width": result["intervals"][kind]["percentile"]["mean_width"]}
                for kind in ("global_ccc", "ccc_difference")}
    return out


def block_calibration(block_s: float) -> dict[str, dict[str, float]]:
    """Null rejection rate and power of the block test with ``block_s`` blocks, per design and sessions
    (empty where the study did not try that length)."""
    key = f"{block_s:g}"
    return {f"{design} ({sessions} sessions)": result["block_test"][key]
            for design, by_sessions in calibration().get("results", {}).items()
            for sessions, result in by_sessions.items() if key in result["block_test"]}
