"""The rules of ``benchbox check`` and ``benchbox compare``: one comparison of a run against a baseline.

**Scores** (per model, target and gated metric, pooled over the scored sessions, mean over seeds): a
*regression* is a change in the worse direction larger than the tolerance that the paired session
randomisation test (from the per-session sums, one-sided in the worse direction, sessions swapped between
baseline and run, seeds paired by number and their differences averaged) finds significant at ``alpha``.
A change past the tolerance that the test does not confirm is *suspect* (``~``), a failure only with
``strict``. A change past the tolerance in the better direction is an *improvement* (``+``).

**Speed** (per model: fit seconds per delay candidate, predict real-time factor), asv's rule: a
*regression* is a ratio of medians (run over baseline) above the factor that a one-sided Mann-Whitney U test
confirms at ``alpha``, with at least 5 samples on each side; with fewer samples the ratio alone makes it
*suspect*. Each timed call is divided by the control workload timed right before it in the same process
(:func:`benchbox.machine.control_time_s`, ``use_control``), so that a machine that is slower for a while,
or another machine, reads less as a regression: in 20 A/A comparisons on a shared 2-core machine with units
run one at a time (``--jobs 1``), none was a regression or suspect (per-control ratios 0.79-1.25, raw up
to 1.40; README, "Gating CI"). Runs without controls are compared raw on one machine, or
after dividing by each run's calibration time on two. On another machine (other machine id) the wider
``cross_machine_factor`` applies; the output says so. Figures whose baseline median is below
``min_timed_s`` seconds are too fast to time and are not checked.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from benchbox.gate.baseline import UNNAMED_CONTROL, Baseline, ModelBaseline
from benchbox.gate.thresholds import Thresholds
from benchbox.metrics import UndefinedMetricWarning
from benchbox.stats.paired import paired_randomisation_test

__all__ = ["Finding", "CheckResult", "compare_baselines", "EXIT_CODES", "MIN_SPEED_SAMPLES"]

Verdict = Literal["ok", "regression", "suspect", "improved", "new", "missing", "untested"]

#: Exit codes of ``benchbox check`` and ``benchbox compare``.
EXIT_CODES = {"pass": 0, "score": 1, "speed": 2, "not_comparable": 3, "usage": 4}
#: Samples needed on each side before the Mann-Whitney test is asked (asv's rule).
MIN_SPEED_SAMPLES = 5

MARKS = {"ok": " ", "regression": "x", "suspect": "~", "improved": "+", "new": "N", "missing": "!",
         "untested": "?"}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One checked figure."""

    kind: Literal["score", "speed", "model"]
    model: str
    target: str  # "" for speed and model findings
    figure: str  # metric name, "fit s/candidate", "predict RTF"
    old: float | None
    new: float | None
    p_value: float | None
    verdict: Verdict
    note: str = ""
    ratio: float | None = None  # speed: the ratio the rule judged (per control, per calibration or raw)

    @property
    def change(self) -> float | None:
        if self.kind == "speed":
            return self.ratio
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def mark(self) -> str:
        return MARKS[self.verdict]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    not_comparable: list[str]
    notes: list[str]
    thresholds: Thresholds
    speed_checked: bool

    def failures(self, *, strict: bool = False, allow_missing: bool = False) -> tuple[bool, bool]:
        """(score failed, speed failed) under the rules."""
        bad = {"regression", "suspect"} if strict else {"regression"}
        score = any(f.kind == "score" and f.verdict in bad for f in self.findings) or (
            not allow_missing and any(f.verdict == "missing" for f in self.findings))
        speed = any(f.kind == "speed" and f.verdict in bad for f in self.findings)
        return score, speed

    def exit_code(self, *, strict: bool = False, allow_missing: bool = False, warn_only: bool = False) -> int:
        if warn_only:
            return EXIT_CODES["pass"]
        if self.not_comparable:
            return EXIT_CODES["not_comparable"]
        score, speed = self.failures(strict=strict, allow_missing=allow_missing)
        if score:
            return EXIT_CODES["score"]
        return EXIT_CODES["speed"] if speed else EXIT_CODES["pass"]


def compare_baselines(base: Baseline, current: Baseline, thresholds: Thresholds, *, speed: bool = True,
                      resamples: int = 9_999) -> CheckResult:
    """Every score and speed figure of ``current`` against ``base`` (see the module docstring)."""
    differences = base.key.differences(current.key)
    if differences:
        return CheckResult([], differences, [], thresholds, speed)
    findings: list[Finding] = []
    notes: list[str] = []
    same_machine = _same_machine(base, current)
    if speed and not same_machine:
        notes.append(_cross_machine_note(base, current, thresholds))
    if speed and (beside := _beside_other_work_note(base, current)):
        notes.append(beside)
    if base.corpus_fingerprint and current.corpus_fingerprint and base.corpus_fingerprint != current.corpus_fingerprint:
        notes.append(f"The generated corpus's bytes differ from the baseline's (fingerprint "
                     f"{base.corpus_fingerprint[:12]} -> {current.corpus_fingerprint[:12]}; same generator and "
                     f"parameters): another machine's rounding, within what the tolerances allow for.")
    for name in base.models:
        if name not in current.models:
            findings.append(Finding("model", name, "", "model", None, None, None, "missing",
                                    "in the baseline, not finished in the run"))
            continue
        if base.models[name].options_sha256 != current.models[name].options_sha256:
            notes.append(f"{name}: its options differ from the baseline's (options hash "
                         f"{base.models[name].options_sha256[:10]} -> {current.models[name].options_sha256[:10]}).")
        findings += _score_findings(name, base.models[name], current.models[name], base.key.targets, thresholds,
                                    resamples)
        if speed:
            findings += _speed_findings(name, base, current, thresholds, same_machine)
    for name in current.models:
        if name not in base.models:
            findings.append(Finding("model", name, "", "model", None, None, None, "new",
                                    "not in the baseline (run `benchbox baseline` to add it)"))
    return CheckResult(findings, [], notes, thresholds, speed)


# -- scores --------------------------------------------------------------------------------------------

def _score_findings(name: str, base: ModelBaseline, current: ModelBaseline, targets: Sequence[str],
                    thresholds: Thresholds, resamples: int) -> list[Finding]:
    findings = []
    seeds = sorted(set(base.sums) & set(current.sums))
    for target in targets:
        for metric in thresholds.metrics:
            old_value, new_value = base.scores[target][metric], current.scores[target][metric]
            old, new = old_value.value, new_value.value
            tolerance = thresholds.tolerance_for(name, target, metric)
            if old is None or new is None:
                findings.append(Finding("score", name, target, metric, old, new, None, "untested",
                                        "undefined on one side (constant predictions)"))
                continue
            worse = (old - new) if old_value.higher_is_better else (new - old)
            p = _worse_p(base, current, seeds, target, metric, old_value.higher_is_better, resamples)
            if worse > tolerance:
                verdict = "regression" if p is not None and p < thresholds.alpha else "suspect"
                note = f"worse by {worse:.4f} > tolerance {tolerance:g}" + (
                    "" if p is not None else "; no common seed to test")
            elif -worse > tolerance:
                verdict, note = "improved", f"better by {-worse:.4f}: consider `benchbox baseline`"
            else:
                verdict, note = "ok", ""
            findings.append(Finding("score", name, target, metric, old, new, p, verdict, note))
    return findings


def _worse_p(base: ModelBaseline, current: ModelBaseline, seeds: list[int], target: str, metric: str,
             higher_is_better: bool, resamples: int) -> float | None:
    """One-sided p of "the run is worse than the baseline" (paired session randomisation test, seeds
    paired by number, their differences averaged), or None without a common seed."""
    if not seeds:
        return None
    base_stats = [base.stats(seed, target) for seed in seeds]
    current_stats = [current.stats(seed, target) for seed in seeds]
    # "greater" tests metric(A) - metric(B) > 0: A is the side whose metric is higher when the run is worse
    a, b = (base_stats, current_stats) if higher_is_better else (current_stats, base_stats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = paired_randomisation_test(a, b, metric=metric, alternative="greater", resamples=resamples, rng=0)
    return None if np.isnan(result.p_value) else float(result.p_value)


# -- speed ---------------------------------------------------------------------------------------------

def _same_machine(base: Baseline, current: Baseline) -> bool:
    ids = {base.machine_id, current.machine_id}
    for model in (*base.models.values(), *current.models.values()):
        ids |= set(model.timing.get("machine_ids") or [])
    return len(ids) == 1 and None not in ids


def _cross_machine_note(base: Baseline, current: Baseline, thresholds: Thresholds) -> str:
    calibration = (f" (calibration workload {base.calibration_s:.3f} s vs {current.calibration_s:.3f} s)"
                   if base.calibration_s and current.calibration_s else "")
    scaling = ("each timed call is divided by its control" if thresholds.use_control
               else "each run's timings are divided by its calibration time")
    return (f"The run and the baseline were timed on different machines ({base.machine.get('cpu_model')} "
            f"x{base.machine.get('cpu_count')} vs {current.machine.get('cpu_model')} "
            f"x{current.machine.get('cpu_count')}){calibration}: "
            f"{scaling} and compared with the factor {thresholds.cross_machine_factor:g}.")


def _beside_other_work_note(base: Baseline, current: Baseline) -> str | None:
    """A note where either side timed a unit while other work could run on the run's other cores."""
    sides = [side for side, run in (("the baseline", base), ("the run", current))
             if any(model.timing.get("beside_other_work") for model in run.models.values())]
    if not sides:
        return None
    return (f"{' and '.join(sides).capitalize()} timed units while other units or feature jobs could run on the "
            f"other cores (--jobs above a unit's CPUs): such timings vary more; `benchbox run --jobs 1` times "
            f"units one at a time (README, \"Gating CI\").")


def _samples(model: ModelBaseline, figure: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(samples of the figure in seconds, their controls' seconds or None where the run has none)."""
    timing = model.timing
    if figure == "fit":
        seconds, controls = timing.get("fit_s") or [], timing.get("fit_control_s") or []
    else:
        seconds, controls = timing.get("predict_s") or [], timing.get("predict_control_s") or []
    seconds = np.asarray(seconds, dtype=float)
    controls = np.asarray(controls, dtype=float) if len(controls) == len(seconds) and len(controls) else None
    if controls is not None and not np.all(controls > 0):
        controls = None
    return seconds, controls


def _same_control(old: ModelBaseline, new: ModelBaseline) -> bool:
    """Whether both sides' controls timed the same workload (a baseline made before baselines named it ran
    the unnamed conv1d control)."""
    workloads = {w for model in (old, new) for w in (model.timing.get("control_workloads") or [UNNAMED_CONTROL])}
    return len(workloads) == 1


def _shown(model: ModelBaseline, figure: str, seconds: np.ndarray) -> float:
    """The median as the table shows it: seconds per fit, or the predict real-time factor."""
    median = float(np.median(seconds))
    media = model.timing.get("predict_media_s")
    return median if figure == "fit" else (median / media if media else float("nan"))


def _speed_findings(name: str, base: Baseline, current: Baseline, thresholds: Thresholds,
                    same_machine: bool) -> list[Finding]:
    from scipy.stats import mannwhitneyu

    findings = []
    for figure, label in (("fit", "fit s/candidate"), ("predict", "predict RTF")):
        old_model, new_model = base.models[name], current.models[name]
        old_seconds, old_controls = _samples(old_model, figure)
        new_seconds, new_controls = _samples(new_model, figure)
        if not old_seconds.size or not new_seconds.size:
            findings.append(Finding("speed", name, "", label, None, None, None, "untested", "no timing samples"))
            continue
        shown = (_shown(old_model, figure, old_seconds), _shown(new_model, figure, new_seconds))
        if np.median(old_seconds) < thresholds.min_timed_s:
            findings.append(Finding("speed", name, "", label, *shown, None, "untested",
                                    f"too fast to time (< {thresholds.min_timed_s:g} s)"))
            continue
        factor = thresholds.factor_for(name, figure) if same_machine else thresholds.cross_machine_factor
        controlled = old_controls is not None and new_controls is not None
        if thresholds.use_control and controlled and _same_control(old_model, new_model):
            old, new = old_seconds / old_controls, new_seconds / new_controls
            how = "per control"
        elif same_machine:
            old, new, how = old_seconds, new_seconds, "raw"
        elif base.calibration_s and current.calibration_s:
            old, new, how = old_seconds / base.calibration_s, new_seconds / current.calibration_s, "per calibration"
        else:
            findings.append(Finding("speed", name, "", label, *shown, None, "untested",
                                    "other machine, and no control or calibration time to scale by"))
            continue
        ratio = float(np.median(new) / np.median(old)) if np.median(old) > 0 else np.inf
        raw = float(np.median(new_seconds) / np.median(old_seconds))
        p = None
        if old.size >= MIN_SPEED_SAMPLES and new.size >= MIN_SPEED_SAMPLES:
            p = float(mannwhitneyu(new, old, alternative="greater").pvalue)
        measured = f"{ratio:.2f}x {how}" + ("" if how == "raw" else f", {raw:.2f}x raw") + \
            ("" if same_machine else ", other machine") + \
            (" (the two sides timed different control workloads)" if thresholds.use_control and controlled
             and how != "per control" else "")
        if ratio > factor:
            verdict = "regression" if p is not None and p < thresholds.alpha else "suspect"
            note = f"{measured} > factor {factor:g}" + (
                f" ({old.size} and {new.size} samples: too few to test, --timing-repeats 5 gives enough)"
                if p is None else "")
        elif ratio < 1.0 / factor:
            verdict, note = "improved", f"{measured} (faster): consider `benchbox baseline`"
        else:
            verdict, note = "ok", measured
        findings.append(Finding("speed", name, "", label, *shown, p, verdict, note, ratio))
    return findings
