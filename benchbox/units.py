"""One unit's lifecycle: a (model spec, seed) fitted, predicted, validated and put through the protocol.

The same code runs a unit in ``benchbox run`` (:mod:`benchbox.runner`, which stores candidates and results
in the run folder) and in :func:`benchbox.testing.check_model` (which keeps them in memory), so a plugin
that passes the conformance check behaves the same in a run.

For each annotation-delay candidate *d* of the protocol (:func:`fit_candidate`): create a fresh model from
its spec, check that the corpus has its modalities, seed everything, fit on the fit and select sessions
with labels shifted back by *d*, predict the label-free select and test sessions, validate the predictions,
shift them forward by *d*. Then (:func:`apply_protocol`) per target: choose the delay on select, fit the
post-processing on select, apply both. Any error is raised as :class:`UnitFailure`, which names the stage
(create, fit, predict, validate, protocol) and the delay.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import Session, strip_labels
from benchbox.errors import BenchboxError, PredictionError
from benchbox.machine import CONTROL_WORKLOAD, control_time_s
from benchbox.plugin import ModelContext
from benchbox.profiling import gpu_memory_peak, model_size, profiled, timed, uses_torch
from benchbox.protocol import (
    PostProcessing,
    choose_delay,
    delay_shifted_sessions,
    fit_postprocessing,
    shift_predictions,
)
from benchbox.record import CandidateRecord, ProtocolRecord, TargetDecision, UnitStatus, now_utc
from benchbox.specs import ModelSpec
from benchbox.suites.suite import Partitions, ProtocolSettings

__all__ = ["UnitInputs", "UnitFailure", "UnitResult", "CandidateStore", "MemoryCandidates", "run_unit",
           "fit_candidate", "apply_protocol", "validate_predictions"]


@dataclasses.dataclass(frozen=True)
class UnitInputs:
    """What every unit of a run shares: the sessions, the label grid, the device and the cache.

    Attributes:
        partitions: fit, select and test sessions (with labels; the unit strips them before ``predict``).
        targets: label columns, in the order predictions must use.
        frame_step_s: spacing of the label grid (from the suite).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        cache: the content-addressed cache shared by every model.
        model_options: every model's options in this run (``ModelContext.model_options``).
        corpus_modalities: the modalities every session of the corpus has.
        timing_repeats: how many times ``predict`` runs on the scored sessions (the first call's predictions
            are used; every call is timed, so that speed comparisons have repeats).
        profile: write a profiler trace of every fit and predict into the candidate's scratch folder
            (:func:`benchbox.profiling.profiled`).
        machine_id: the machine the run is timed on (:func:`benchbox.machine.machine_id`), kept with the
            timings of each unit.
        run_cores: the cores the run's units and feature jobs share (``--jobs``), kept with the timings of
            each unit: a unit that holds fewer was timed while other work could run beside it (None: not
            known, e.g. a Ray cluster without ``--jobs``).
    """

    partitions: Partitions
    targets: tuple[str, ...]
    frame_step_s: float
    device: str
    cache: Cache
    model_options: Mapping[str, Mapping[str, Any]]
    corpus_modalities: frozenset[str]
    timing_repeats: int = 1
    profile: bool = False
    machine_id: str | None = None
    run_cores: int | None = None

    @property
    def scored(self) -> list:
        """The sessions a unit predicts: select (for the protocol) then test."""
        return [*self.partitions.select, *self.partitions.test]


class UnitFailure(BenchboxError):
    """A unit failed: ``"<ErrorType> during <stage>: <message>"``, the original error as ``__cause__``."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__} during {stage}: {error}")
        self.stage, self.error = stage, error


@dataclasses.dataclass(frozen=True)
class UnitResult:
    """A finished unit: final predictions of the select and test sessions, and its ``done`` status."""

    predictions: dict[str, np.ndarray]
    status: UnitStatus


class CandidateStore(Protocol):
    """Where a unit keeps each delay candidate's output (the run folder, so that a rerun resumes)."""

    def load(self, delay_frames: int, session_ids: list[str]) -> tuple[dict[str, np.ndarray], CandidateRecord] | None:
        ...

    def save(self, delay_frames: int, predictions: dict[str, np.ndarray], record: CandidateRecord) -> None:
        ...

    def scratch_dir(self, delay_frames: int) -> Path:
        ...


class MemoryCandidates:
    """A candidate store that keeps nothing between runs (the conformance check); scratch under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def load(self, delay_frames: int, session_ids: list[str]):
        return None

    def save(self, delay_frames: int, predictions: dict[str, np.ndarray], record: CandidateRecord) -> None:
        return None

    def scratch_dir(self, delay_frames: int) -> Path:
        return self.root / "scratch" / f"delay-{delay_frames}"


def validate_predictions(model: str, predictions, sessions: Sequence[Session], targets: tuple[str, ...]) -> dict:
    """Check a model's output; return float64 arrays or raise PredictionError naming model and session."""
    if not isinstance(predictions, dict):
        raise PredictionError(
            f"Model {model!r}: predict must return a dict {{session_id: array}}. Got {type(predictions).__name__}."
        )
    expected = {s.id for s in sessions}
    missing, extra = sorted(expected - set(predictions)), sorted(set(predictions) - expected)
    if missing:
        raise PredictionError(f"Model {model!r}: no predictions for session(s) {', '.join(missing)}.")
    if extra:
        raise PredictionError(f"Model {model!r}: predictions for unknown session(s) {', '.join(extra)}.")
    checked = {}
    for session in sessions:
        array = np.asarray(predictions[session.id])
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise PredictionError(
                f"Model {model!r}, session {session.id}: predictions must be numeric. Got dtype {array.dtype}."
            )
        if array.ndim == 1 and len(targets) == 1:
            array = array[:, None]
        want = (session.num_frames, len(targets))
        if array.shape != want:
            raise PredictionError(
                f"Model {model!r}, session {session.id}: predictions have shape {array.shape}; expected {want} "
                f"(one row per {session.frame_step_s * 1000:g} ms label frame, columns {', '.join(targets)})."
            )
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        if bad.size:
            raise PredictionError(
                f"Model {model!r}, session {session.id}: {bad.size} frame(s) contain NaN or inf "
                f"(first at frame {bad[0]})."
            )
        checked[session.id] = array.astype(np.float64)
    return checked


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


class _Stage(Exception):
    """Internal: which stage of a candidate raised, with the original error."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


def _staged(stage: str, function, *args):
    try:
        return function(*args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # re-raised with the stage attached; run_unit names it in the UnitFailure
        raise _Stage(stage, exc) from exc


def _distinct_warnings(caught: Sequence[warnings.WarningMessage], limit: int = 50) -> list[str]:
    """``"Category: message"`` of every distinct warning, in order of first appearance, at most ``limit``.

    Warnings are part of a result (a silent file, a face not found): they go into the unit's status and
    the report, not only to a terminal that may be gone.
    """
    distinct = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if len(distinct) > limit:
        distinct = distinct[:limit] + [f"... and {len(distinct) - limit} more distinct warnings"]
    return distinct


def _read_only(sessions: Sequence) -> list:
    """Copies of labelled sessions whose labels cannot be written: a plugin that writes into them fails
    there, and no plugin can change what a later one learns from."""
    out = []
    for session in sessions:
        labels = np.array(session.labels, copy=True)
        labels.setflags(write=False)
        out.append(dataclasses.replace(session, labels=labels))
    return out


def _no_stage(stage: str) -> None:
    return None


def fit_candidate(spec: ModelSpec, seed: int, inputs: UnitInputs, delay_frames: int, *,
                  upstream: Mapping[str, Mapping[str, np.ndarray]], scratch_dir: Path,
                  on_stage: Callable[[str], None] = _no_stage) -> tuple[dict[str, np.ndarray], CandidateRecord]:
    """Fit a fresh model on labels shifted by ``delay_frames``; its predictions, validated and shifted back.

    ``on_stage(stage)`` is called as the candidate enters each stage (create, fit, predict, validate).

    Raises:
        _Stage: internal; :func:`run_unit` turns it into a :class:`UnitFailure`.
    """
    scratch_dir.mkdir(parents=True, exist_ok=True)
    note = f" (annotation delay {delay_frames * inputs.frame_step_s:g} s)"
    on_stage("create" + note)
    model = _staged("create", spec.create)
    missing = [m for m in sorted(model.modalities) if m not in inputs.corpus_modalities]
    if missing:
        raise _Stage("create", BenchboxError(f"Model {spec.name!r} needs {', '.join(missing)}, which the corpus "
                                             f"does not have."))
    ctx = ModelContext(targets=inputs.targets, seed=seed, device=inputs.device, cache=inputs.cache,
                       scratch_dir=scratch_dir, logger=logging.getLogger(f"benchbox.model.{spec.name}"),
                       frame_step_s=inputs.frame_step_s, upstream=upstream, model_options=inputs.model_options)
    scored = inputs.scored
    _seed_everything(seed)
    train = _read_only(delay_shifted_sessions(inputs.partitions.fit, delay_frames))
    select = _read_only(delay_shifted_sessions(inputs.partitions.select, delay_frames))
    unlabelled = strip_labels(scored)
    torch_model = uses_torch(model)
    with (warnings.catch_warnings(record=True) as caught, gpu_memory_peak(inputs.device) as gpu,
          profiled(inputs.profile, torch_model, scratch_dir / "profile", inputs.device)):
        warnings.simplefilter("always")
        on_stage("fit" + note)
        fit_control = control_time_s()
        fit = _staged("fit", timed, model.fit, train, select, ctx)
        on_stage("predict" + note)
        predict_controls, predicts = [], []
        for _ in range(max(1, inputs.timing_repeats)):  # each call timed beside a control (benchbox.machine)
            predict_controls.append(control_time_s())
            predicts.append(_staged("predict", timed, model.predict, unlabelled, ctx))
    raw = predicts[0].value
    model_warnings = _distinct_warnings(caught)
    for message in model_warnings:
        ctx.logger.warning("%s", message)
    on_stage("validate" + note)
    checked = _staged("validate", validate_predictions, spec.name, raw, scored, inputs.targets)
    shifted = {sid: shift_predictions(values, delay_frames) for sid, values in checked.items()}
    profile = dict(model.profile_info()) if callable(getattr(model, "profile_info", None)) else {}
    record = CandidateRecord(
        fit_s=round(fit.wall_s, 3), predict_s=round(predicts[0].wall_s, 3), profile=profile,
        warnings=model_warnings, fit_cpu_s=round(fit.cpu_s, 3),
        predict_samples_s=[round(p.wall_s, 4) for p in predicts],
        predict_cpu_samples_s=[round(p.cpu_s, 4) for p in predicts],
        fit_control_s=fit_control, predict_control_s=predict_controls,
        peak_gpu_mb=gpu.get("peak_gpu_mb"), size=_size(model, profile), torch=torch_model)
    return shifted, record


def _size(model, profile: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters and FLOPs per media second of a fitted model: the plugin's own counts where its
    ``profile_info`` gives them, else the harness's (:func:`benchbox.profiling.model_size`); FLOPs None
    (shown as n/a) where the plugin does not count them."""
    size = model_size(model)
    if isinstance(profile.get("parameters"), int):
        size = {"parameters": profile["parameters"], "parameters_counted": "by the plugin"}
    flops = profile.get("flops_per_media_second")
    size["flops_per_media_second"] = float(flops) if isinstance(flops, (int, float)) and flops > 0 else None
    return size


def apply_protocol(inputs: UnitInputs, settings: ProtocolSettings,
                   by_delay: Mapping[int, Mapping[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], ProtocolRecord]:
    """Per target: choose the delay on select, then fit and apply post-processing; arrays and the record."""
    partitions, targets, step = inputs.partitions, inputs.targets, inputs.frame_step_s
    final = {s.id: np.empty((s.num_frames, len(targets))) for s in inputs.scored}
    train_labels = np.concatenate([s.labels for s in partitions.fit])
    decisions = {}
    for k, target in enumerate(targets):
        gold = [s.labels[:, k] for s in partitions.select]
        candidates = {d: [preds[s.id][:, k] for s in partitions.select] for d, preds in by_delay.items()}
        delay, delay_scores = choose_delay(gold, candidates)
        chain, history = PostProcessing(), {}
        if settings.postprocessing:
            chain, history = fit_postprocessing(
                gold, candidates[delay], train_mean=float(train_labels[:, k].mean()),
                train_std=float(train_labels[:, k].std()), median_windows_frames=settings.median_windows_frames)
        for s in inputs.scored:
            final[s.id][:, k] = chain.apply(by_delay[delay][s.id][:, k])
        decisions[target] = TargetDecision(
            annotation_delay_s=round(delay * step, 6),
            select_ccc_by_delay_s={f"{d * step:g}": v for d, v in delay_scores.items()},
            postprocessing=chain.as_dict() if settings.postprocessing else None,
            select_ccc_after_steps=history,
        )
    candidates_s = [d * step for d in sorted(by_delay)]
    return final, ProtocolRecord(annotation_delay_candidates_s=candidates_s, targets=decisions)


def run_unit(spec: ModelSpec, seed: int, inputs: UnitInputs, settings: ProtocolSettings, *,
             upstream: Mapping[str, Mapping[str, np.ndarray]], store: CandidateStore,
             on_stage: Callable[[str], None] = _no_stage) -> UnitResult:
    """Every delay candidate of ``settings`` (from ``store`` where it has them), then the protocol step.

    Raises:
        UnitFailure: naming the stage (and the delay) that failed.
    """
    by_delay: dict[int, dict[str, np.ndarray]] = {}
    records: dict[int, CandidateRecord] = {}
    session_ids = [s.id for s in inputs.scored]
    for delay in settings.delays_frames:
        try:
            stored = store.load(delay, session_ids)
            if stored is None:
                stored = fit_candidate(spec, seed, inputs, delay, upstream=upstream,
                                       scratch_dir=store.scratch_dir(delay), on_stage=on_stage)
                store.save(delay, *stored)
        except _Stage as exc:
            raise UnitFailure(f"{exc.stage} (annotation delay {delay * inputs.frame_step_s:g} s)",
                              exc.error) from exc.error
        by_delay[delay], records[delay] = stored
    on_stage("protocol")
    try:
        final, record = apply_protocol(inputs, settings, by_delay)
    except Exception as exc:  # a protocol error (degenerate predictions) fails this unit only
        raise UnitFailure("protocol", exc) from exc
    media_s = sum(s.duration_s for s in inputs.scored)
    samples = [t for r in records.values() for t in (r.predict_samples_s or [r.predict_s])]
    predict_s = float(np.median(samples))
    first = records[settings.delays_frames[0]]
    gpu = [r.peak_gpu_mb for r in records.values() if r.peak_gpu_mb is not None]
    timing = {
        "fit_s": [r.fit_s for r in records.values()],
        "fit_cpu_s": [r.fit_cpu_s for r in records.values()],
        "predict_s": samples,
        "predict_cpu_s": [t for r in records.values() for t in r.predict_cpu_samples_s],
        "fit_control_s": [r.fit_control_s for r in records.values()],
        "predict_control_s": [t for r in records.values() for t in r.predict_control_s],
        "control_workload": CONTROL_WORKLOAD,
        "predict_media_s": round(media_s, 3),
        "timing_repeats": max(1, inputs.timing_repeats),
        "peak_gpu_mb": max(gpu) if gpu else None,
        "machine_id": inputs.machine_id,
        "run_cores": inputs.run_cores,
    }
    status = UnitStatus(
        model=spec.name, seed=seed, status="done", finished_at=now_utc(),
        fit_s=round(sum(r.fit_s for r in records.values()), 3), fits=len(records), predict_s=round(predict_s, 4),
        predict_real_time_factor=round(predict_s / media_s, 7) if media_s else None,
        profile=first.profile, timing=timing, size=first.size,
        warnings=list(dict.fromkeys(w for r in records.values() for w in r.warnings)),
        protocol=record,
    )
    return UnitResult(final, status)
