"""Thresholds of ``benchbox check``: defaults, and where a user sets them.

Sources, each overriding the one before: the defaults below; the run's suite file (``[check]``); the
user's ``pyproject.toml`` (``[tool.benchbox.check]``, found in the current folder or above); a file given
with ``--config`` (its ``[check]`` table, or the whole file). Overrides per model / target / metric are
``[[check.override]]`` entries with glob patterns; the last one that matches wins::

    [check]
    alpha = 0.05
    metrics = ["ccc", "rmse"]          # gated metrics (pooled over the scored sessions)
    tolerance = { ccc = 0.01, rmse = 0.01 }
    fit_factor = 1.25                   # median fit time per delay candidate, same machine
    predict_factor = 1.25               # median predict real-time factor, same machine
    cross_machine_factor = 1.5          # either, after dividing by each run's calibration time
    min_timed_s = 0.05                  # figures faster than this are not speed-checked
    use_control = true                  # divide each timed call by the control timed beside it

    [[check.override]]
    model = "e2e-*"
    metric = "ccc"
    tolerance = 0.15
"""

from __future__ import annotations

import dataclasses
import fnmatch
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbox.errors import BenchboxError

__all__ = ["Thresholds", "Override", "load_thresholds", "parse_check_table", "GATE_METRICS"]

#: Metrics a baseline keeps and a check can gate: those that follow from the per-session sums.
GATE_METRICS = ("ccc", "pearson", "rmse")

_KEYS = {"alpha", "metrics", "tolerance", "fit_factor", "predict_factor", "cross_machine_factor", "min_timed_s",
         "use_control", "override"}
_OVERRIDE_KEYS = {"model", "target", "metric", "tolerance", "fit_factor", "predict_factor"}


@dataclasses.dataclass(frozen=True)
class Override:
    model: str = "*"
    target: str = "*"
    metric: str = "*"
    tolerance: float | None = None
    fit_factor: float | None = None
    predict_factor: float | None = None

    def matches(self, model: str, target: str = "*", metric: str = "*") -> bool:
        return (fnmatch.fnmatchcase(model, self.model) and fnmatch.fnmatchcase(target, self.target)
                and fnmatch.fnmatchcase(metric, self.metric))


@dataclasses.dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.05
    metrics: tuple[str, ...] = ("ccc", "rmse")
    tolerance: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"ccc": 0.01, "pearson": 0.01, "rmse": 0.01})
    fit_factor: float = 1.25
    predict_factor: float = 1.25
    cross_machine_factor: float = 1.5
    min_timed_s: float = 0.05
    use_control: bool = True
    overrides: tuple[Override, ...] = ()
    sources: tuple[str, ...] = ("defaults",)

    def tolerance_for(self, model: str, target: str, metric: str) -> float:
        value = self.tolerance.get(metric, 0.01)
        for override in self.overrides:
            if override.tolerance is not None and override.matches(model, target, metric):
                value = override.tolerance
        return value

    def factor_for(self, model: str, figure: str) -> float:
        """The slow-down factor of ``figure`` (``fit`` or ``predict``) on the baseline's machine."""
        value = self.fit_factor if figure == "fit" else self.predict_factor
        for override in self.overrides:
            own = override.fit_factor if figure == "fit" else override.predict_factor
            if own is not None and fnmatch.fnmatchcase(model, override.model):
                value = own
        return value


def _number(value: Any, where: str, *, low: float, high: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > low and \
        (high is None or value < high)
    if not ok:
        bound = f"in ({low:g}, {high:g})" if high is not None else f"above {low:g}"
        raise BenchboxError(f"{where} must be a number {bound}. Got {value!r} instead.")
    return float(value)


def parse_check_table(table: Mapping[str, Any], source: str, base: Thresholds | None = None) -> Thresholds:
    """``base`` (default: the defaults) with the settings of one ``[check]`` table."""
    base = base or Thresholds()
    if not isinstance(table, Mapping):
        raise BenchboxError(f"{source}: [check] must be a table. Got {table!r} instead.")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise BenchboxError(f"{source}: unknown key(s) {unknown} in [check]; known: {sorted(_KEYS)}.")
    changes: dict[str, Any] = {}
    if "alpha" in table:
        changes["alpha"] = _number(table["alpha"], f"{source}: [check] alpha", low=0.0, high=1.0)
    if "metrics" in table:
        metrics = table["metrics"]
        if not isinstance(metrics, list) or not metrics or not set(metrics) <= set(GATE_METRICS):
            raise BenchboxError(f"{source}: [check] metrics must be a non-empty list among {list(GATE_METRICS)}. "
                                f"Got {metrics!r} instead.")
        changes["metrics"] = tuple(metrics)
    if "tolerance" in table:
        tolerance = table["tolerance"]
        if not isinstance(tolerance, Mapping) or not set(tolerance) <= set(GATE_METRICS):
            raise BenchboxError(f"{source}: [check] tolerance must be a table of metrics among "
                                f"{list(GATE_METRICS)}. Got {tolerance!r} instead.")
        changes["tolerance"] = {**base.tolerance, **{m: _number(v, f"{source}: [check] tolerance.{m}", low=-1e-12)
                                                      for m, v in tolerance.items()}}
    for key in ("fit_factor", "predict_factor", "cross_machine_factor"):
        if key in table:
            changes[key] = _number(table[key], f"{source}: [check] {key}", low=1.0)
    if "min_timed_s" in table:
        changes["min_timed_s"] = _number(table["min_timed_s"], f"{source}: [check] min_timed_s", low=-1e-12)
    if "use_control" in table:
        if not isinstance(table["use_control"], bool):
            raise BenchboxError(f"{source}: [check] use_control must be true or false. Got "
                                f"{table['use_control']!r} instead.")
        changes["use_control"] = table["use_control"]
    if "override" in table:
        changes["overrides"] = base.overrides + tuple(_override(o, f"{source}: [[check.override]] {k + 1}")
                                                       for k, o in enumerate(_list(table["override"], source)))
    changes["sources"] = (*base.sources, source)
    return dataclasses.replace(base, **changes)


def _list(value: Any, source: str) -> list:
    if not isinstance(value, list):
        raise BenchboxError(f"{source}: [[check.override]] must be an array of tables. Got {value!r} instead.")
    return value


def _override(entry: Any, where: str) -> Override:
    if not isinstance(entry, Mapping) or not set(entry) <= _OVERRIDE_KEYS:
        raise BenchboxError(f"{where}: must be a table with keys among {sorted(_OVERRIDE_KEYS)}. Got {entry!r}.")
    values: dict[str, Any] = {}
    for key in ("model", "target", "metric"):
        if key in entry:
            if not isinstance(entry[key], str):
                raise BenchboxError(f"{where}: {key} must be a name or glob pattern. Got {entry[key]!r} instead.")
            values[key] = entry[key]
    if "tolerance" in entry:
        values["tolerance"] = _number(entry["tolerance"], f"{where}: tolerance", low=-1e-12)
    for key in ("fit_factor", "predict_factor"):
        if key in entry:
            values[key] = _number(entry[key], f"{where}: {key}", low=1.0)
    return Override(**values)


def _pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchboxError(f"{what} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BenchboxError(f"{what} {path}: not valid TOML ({exc}).") from None


def load_thresholds(*, suite_definition: Mapping[str, Any] | None = None, suite_source: str = "the suite",
                    config: str | Path | None = None, cwd: str | Path = ".") -> Thresholds:
    """The thresholds from every source (see the module docstring), later sources winning."""
    thresholds = Thresholds()
    if suite_definition and "check" in suite_definition:
        thresholds = parse_check_table(suite_definition["check"], f"{suite_source} [check]", thresholds)
    pyproject = _pyproject(Path(cwd).resolve())
    if pyproject is not None:
        table = _read_toml(pyproject, "pyproject").get("tool", {}).get("benchbox", {}).get("check")
        if table is not None:
            thresholds = parse_check_table(table, f"{pyproject} [tool.benchbox.check]", thresholds)
    if config is not None:
        data = _read_toml(Path(config), "--config")
        thresholds = parse_check_table(data.get("check", data), f"{config}", thresholds)
    return thresholds
