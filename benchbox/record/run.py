"""The record of a run (``run.json``): suite, corpus provenance, models with their options, seeds, environment.

Format history (key ``benchbox_run_format``):

- 1: benchbox before the run record. Read by upgrading: ``frame_step_s`` is 0.04 (the only label grid
  format 1 was written for), each model's ``options_sha256`` is computed from its options and the run's
  ``option_files``, ``option_sources`` are unknown (empty), unit statuses are format 1 (see
  :mod:`benchbox.record.unit`).
- 2: adds ``frame_step_s``, ``options_sha256`` and ``option_sources``; unit statuses of format 2.
- 3: the environment adds the machine's fingerprint and id, the calibration workload's time, and the
  ``--timing-repeats`` of the last command; unit statuses of format 3 (the harness's timings and sizes).
  Format 2 is read as is (no machine, no calibration).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from benchbox.record._codec import RecordFormatError, check_format, from_jsonable, to_jsonable
from benchbox.record.unit import UnitStatus

__all__ = ["RUN_FORMAT", "RunRecord", "SuiteInfo", "CorpusInfo", "ModelEntry", "EnvironmentInfo", "options_sha256"]

RUN_FORMAT = 3
_KEY = "benchbox_run_format"
_FORMAT_1_FRAME_STEP_S = 0.04


def options_sha256(options: Mapping[str, Any], option_files: Mapping[str, str] | None = None) -> str:
    """Content hash of a model's options: their canonical JSON, plus the SHA-256 of every file an option
    names (so that replacing a weights file makes another configuration).

    Example:
        >>> options_sha256({}) == options_sha256({}, {})
        True
    """
    files = {value: option_files[value] for value in options.values()
             if isinstance(value, str) and option_files and value in option_files}
    text = json.dumps({"options": to_jsonable(options), "files": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class SuiteInfo:
    name: str
    version: str
    source: str
    definition_sha256: str
    definition: dict[str, Any]

    @property
    def major_version(self) -> str:
        return self.version.split(".", 1)[0]


@dataclasses.dataclass(frozen=True)
class CorpusInfo:
    root: str
    fingerprint: str
    synthetic: bool
    description: str
    num_sessions: int
    generator: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class EnvironmentInfo:
    python: str
    platform: str
    packages: dict[str, str | None]
    git_commit: str | None
    device: str
    device_name: str
    cpu_count: int | None = None
    #: :func:`benchbox.machine.machine_fingerprint` and :func:`~benchbox.machine.machine_id` of the machine
    #: the last command ran on, and its :func:`~benchbox.machine.calibration_time_s`.
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)
    machine_id: str | None = None
    calibration_s: float | None = None
    calibration_workload: str | None = None
    timing_repeats: int = 1


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of the run: where it came from, the options it was created with, its units by seed."""

    name: str
    package: str
    entry_point: str
    modalities: list[str]
    description: str
    family: str
    options: dict[str, Any]
    options_sha256: str
    option_sources: dict[str, str] = dataclasses.field(default_factory=dict)
    units: dict[int, UnitStatus] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Everything ``run.json`` says about a run. Build it, then :meth:`RunFolder.write_run`."""

    suite: SuiteInfo
    suite_fingerprint: str
    corpus: CorpusInfo
    targets: list[str]
    frame_step_s: float
    test_split: str
    partitions: dict[str, list[str]]
    references: list[str]
    models: list[ModelEntry]
    seeds: list[int]
    environment: EnvironmentInfo
    option_files: dict[str, str] = dataclasses.field(default_factory=dict)
    entry_point_group: str = "benchbox.models"
    command: str = ""
    updated_at: str = ""
    benchbox_run_format: int = RUN_FORMAT

    def model(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.models]

    def to_json(self) -> dict[str, Any]:
        data = to_jsonable(self)
        for entry, model in zip(data["models"], self.models, strict=True):
            entry["units"] = {str(seed): unit.to_json() for seed, unit in model.units.items()}
        return data

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> RunRecord:
        if not isinstance(data, Mapping):
            raise RecordFormatError(f"{source}: run.json must be a JSON object. Got {type(data).__name__}.")
        version = check_format(data, key=_KEY, known=RUN_FORMAT, source=source)
        data = _upgrade_from_1(data) if version == 1 else copy.deepcopy(dict(data))
        models = data.get("models")
        if not isinstance(models, list):
            raise RecordFormatError(f"{source}: 'models' must be an array. Got {json.dumps(models)[:60]} instead.")
        for entry in models:
            units = entry.get("units") if isinstance(entry, Mapping) else None
            if isinstance(units, Mapping):  # statuses carry their own format: read each as one
                entry["units"] = {seed: UnitStatus.from_json(unit, source=f"{source} (model {entry.get('name')!r}, "
                                                             f"seed {seed})", model=str(entry.get("name")),
                                                             seed=_seed(seed, source)).to_json()
                                  for seed, unit in units.items()}
        return from_jsonable(cls, data, source=source)


def _seed(text: str, source: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RecordFormatError(f"{source}: unit seeds must be integers. Got {text!r} instead.") from None


def _upgrade_from_1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A format-1 ``run.json`` as format 2 (see the module docstring); the input is not changed."""
    upgraded = copy.deepcopy(dict(data))
    upgraded[_KEY] = RUN_FORMAT
    upgraded.setdefault("frame_step_s", _FORMAT_1_FRAME_STEP_S)
    files = upgraded.get("option_files") or {}
    for entry in upgraded.get("models") or []:
        if isinstance(entry, dict):
            entry.setdefault("options_sha256", options_sha256(entry.get("options") or {}, files))
            entry.setdefault("option_sources", {})
    return upgraded
