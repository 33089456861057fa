"""Records of one (model, seed) unit: its status (``status.json``) and each annotation-delay candidate's fit
(``delay-<frames>.json`` beside ``delay-<frames>.npz``).

Format history (key ``benchbox_unit_format``):

- 1 (no key; benchbox before the run record): the same fields without ``model``, ``seed`` and the key;
  read by filling ``model`` and ``seed`` from where the status was found.
- 2: adds ``benchbox_unit_format``, ``model`` and ``seed``.
- 3: adds the harness's profile of every unit: ``timing`` (wall and CPU time of each fit, every predict
  sample, the media seconds predicted, peak GPU memory, the machine) and ``size`` (parameters, FLOPs per
  media second); candidates add the same per delay. Format 2 is read as is (no timing samples).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from benchbox.record._codec import RecordFormatError, check_format, from_jsonable, to_jsonable

__all__ = ["UNIT_FORMAT", "UnitStatus", "ProtocolRecord", "TargetDecision", "CandidateRecord", "now_utc"]

UNIT_FORMAT = 3
_KEY = "benchbox_unit_format"

UnitState = Literal["done", "failed", "missing"]


def now_utc() -> str:
    """The current time, UTC, ISO 8601 to the second (the timestamps of every record)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True)
class TargetDecision:
    """What the harness chose for one target on the select partition."""

    annotation_delay_s: float
    select_ccc_by_delay_s: dict[str, float]
    postprocessing: dict[str, Any] | None  # benchbox.protocol.PostProcessing.as_dict(); None: post-processing off
    select_ccc_after_steps: dict[str, float]


@dataclasses.dataclass(frozen=True)
class ProtocolRecord:
    """The protocol step of a unit: delay candidates tried and the per-target decisions."""

    annotation_delay_candidates_s: list[float]
    targets: dict[str, TargetDecision]


@dataclasses.dataclass(frozen=True)
class CandidateRecord:
    """Cost and output notes of one fit-and-predict at one annotation-delay candidate."""

    fit_s: float
    predict_s: float
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    fit_cpu_s: float | None = None
    #: Wall and CPU seconds of every predict call on the scored sessions (``--timing-repeats``).
    predict_samples_s: list[float] = dataclasses.field(default_factory=list)
    predict_cpu_samples_s: list[float] = dataclasses.field(default_factory=list)
    #: Seconds of the control workload timed right before the fit and before each predict call
    #: (:func:`benchbox.machine.control_time_s`).
    fit_control_s: float | None = None
    predict_control_s: list[float] = dataclasses.field(default_factory=list)
    peak_gpu_mb: float | None = None
    #: parameters, parameters_counted, flops_per_media_second (see :mod:`benchbox.profiling`).
    size: dict[str, Any] = dataclasses.field(default_factory=dict)
    torch: bool = False
    benchbox_unit_format: int = UNIT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str) -> CandidateRecord:
        check_format(data, key=_KEY, known=UNIT_FORMAT, source=source, missing=1)
        return from_jsonable(cls, {**data, _KEY: UNIT_FORMAT}, source=source)


@dataclasses.dataclass(frozen=True)
class UnitStatus:
    """State of one (model, seed) unit: ``done`` (timings, profile, protocol decisions, warnings),
    ``failed`` (stage and error) or ``missing`` (never run, as listed in ``run.json``)."""

    model: str
    seed: int
    status: UnitState
    finished_at: str | None = None
    stage: str | None = None
    error: str | None = None
    fit_s: float | None = None
    fits: int | None = None
    predict_s: float | None = None
    predict_real_time_factor: float | None = None
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    protocol: ProtocolRecord | None = None
    #: Figures of the process the unit ran in, alone: wall_s, cpu_user_s, cpu_system_s, peak_rss_mb, pid,
    #: threads (its torch and BLAS threads), node (host, and Ray node id under Ray); where it ended
    #: abnormally, exit_code or signal.
    process: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The harness's timings (format 3): fit_s and fit_cpu_s per delay candidate, predict_s and
    #: predict_cpu_s per predict call (every candidate x ``--timing-repeats``), fit_control_s and
    #: predict_control_s (the control workload timed right before each), control_workload (which one;
    #: absent: the conv1d control of benchbox before 2026-12), predict_media_s, timing_repeats,
    #: peak_gpu_mb, machine_id.
    timing: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: parameters, parameters_counted, flops_per_media_second (None: not counted, shown as n/a).
    size: dict[str, Any] = dataclasses.field(default_factory=dict)
    benchbox_unit_format: int = UNIT_FORMAT

    @property
    def done(self) -> bool:
        return self.status == "done"

    @classmethod
    def failed(cls, model: str, seed: int, *, stage: str, error: str) -> UnitStatus:
        return cls(model=model, seed=seed, status="failed", stage=stage, error=error, finished_at=now_utc())

    @classmethod
    def missing(cls, model: str, seed: int) -> UnitStatus:
        return cls(model=model, seed=seed, status="missing")

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in to_jsonable(self).items() if v is not None}
        if self.status != "done":  # keep failed and missing statuses short
            data = {k: v for k, v in data.items() if v not in ({}, [])}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str, model: str, seed: int) -> UnitStatus:
        """Read a status of any known format; ``model`` and ``seed`` (where it was found) fill format 1."""
        if not isinstance(data, Mapping):
            raise RecordFormatError(f"{source}: a unit status must be a JSON object. Got {type(data).__name__}.")
        version = check_format(data, key=_KEY, known=UNIT_FORMAT, source=source, missing=1)
        if version == 1:
            data = {**data, "model": model, "seed": seed, _KEY: UNIT_FORMAT}
        return from_jsonable(cls, data, source=source)
