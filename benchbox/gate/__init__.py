"""Regression checks of scores and speed against a committed baseline (``benchbox baseline``, ``check``,
``compare``); see :mod:`benchbox.gate.compare` for the rules."""

from benchbox.gate.baseline import BASELINE_FORMAT, Baseline, BaselineKey, ModelBaseline
from benchbox.gate.compare import EXIT_CODES, CheckResult, Finding, compare_baselines
from benchbox.gate.render import render_markdown, render_text
from benchbox.gate.thresholds import Thresholds, load_thresholds

__all__ = ["BASELINE_FORMAT", "Baseline", "BaselineKey", "ModelBaseline", "EXIT_CODES", "CheckResult", "Finding",
           "compare_baselines", "render_markdown", "render_text", "Thresholds", "load_thresholds"]
