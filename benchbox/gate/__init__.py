"""Regression checks of scores and speed against a committed baseline (``benchbox baseline``, ``check``,
``compare``); see :mod:`benchbox.gate.compare` for the rules.

Submodules load on first use, so that reading a suite's ``[check]`` table (:mod:`benchbox.gate.thresholds`)
does not import pandas.
"""

import importlib

__all__ = ["BASELINE_FORMAT", "Baseline", "BaselineKey", "ModelBaseline", "EXIT_CODES", "CheckResult", "Finding",
           "compare_baselines", "render_markdown", "render_text", "Thresholds", "load_thresholds"]

_HOMES = {"BASELINE_FORMAT": "baseline", "Baseline": "baseline", "BaselineKey": "baseline",
          "ModelBaseline": "baseline", "EXIT_CODES": "compare", "CheckResult": "compare", "Finding": "compare",
          "compare_baselines": "compare", "render_markdown": "render", "render_text": "render",
          "Thresholds": "thresholds", "load_thresholds": "thresholds"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"benchbox.gate.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'benchbox.gate' has no attribute {name!r}")
