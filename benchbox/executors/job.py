"""A unit job: everything one (model, seed) unit needs, picklable, without the scored partition's labels.

The driver builds one :class:`UnitJob` per unit; an executor runs :func:`run_job` in a process of its own
(:mod:`benchbox.executors.local`). The job reads the predictions of the models it requires from the run folder
and writes its own unit folder (delay candidates, predictions, status, traceback), atomically; the driver
writes everything else. The sessions of the scored partition reach the job as label-free
:class:`~benchbox.corpus.session.Session` objects: the protocol step needs only the fit and select labels, so
no process that runs a plugin ever holds the labels it is scored on.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import socket
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchbox import atomic
from benchbox.corpus.session import strip_labels
from benchbox.errors import BenchboxError
from benchbox.profiling import peak_rss_mb
from benchbox.record import CandidateRecord, RunFolder, UnitStatus, frame_table
from benchbox.specs import ModelSpec
from benchbox.suites.suite import Partitions, ProtocolSettings
from benchbox.units import UnitFailure, UnitInputs, fit_candidate, run_unit

__all__ = ["UnitJob", "CandidateJob", "candidate_jobs", "run_job", "run_candidate_job", "without_scored_labels",
           "STAGE_FILE", "NODE_VARIABLE"]

#: Where an executor names the node a unit runs on (the Ray executor: host and Ray node id); else the host name.
NODE_VARIABLE = "BENCHBOX_NODE"
#: Written into the unit folder as a unit enters each stage, so that a process that dies without a word
#: (``os._exit``, a signal, the memory limit) can still be reported with the stage it was in.
STAGE_FILE = "stage.txt"


def without_scored_labels(partitions: Partitions) -> Partitions:
    """``partitions`` with the scored (test) sessions as label-free sessions."""
    return dataclasses.replace(partitions, test=strip_labels(partitions.test))


@dataclasses.dataclass(frozen=True)
class UnitJob:
    """One unit of a run, as a process receives it."""

    spec: ModelSpec
    seed: int
    run_dir: Path
    inputs: UnitInputs
    settings: ProtocolSettings
    #: How many units that hold several CPUs may run at the same time as this one, itself included
    #: (:func:`~benchbox.executors.graph.cpu_shares`); an executor gives it at most its cores divided by this.
    cpu_share: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return self.spec.name, self.seed

    def cpus(self, cores: int) -> int:
        """The CPUs (torch and BLAS threads) this unit holds when the run has ``cores``: what its model
        declares, at most its share of the cores, at least one."""
        return max(1, min(int(self.resources.get("num_cpus", 1)), cores // max(1, self.cpu_share)))

    @property
    def resources(self) -> dict[str, float]:
        return self.spec.resources(self.inputs.device)

    @property
    def needs_gpu(self) -> bool:
        """Whether an executor should give this unit a GPU of its own (only with ``--device cuda``: a unit
        on ``cuda:N`` uses the device it was told)."""
        return self.inputs.device == "cuda" and self.resources.get("num_gpus", 0) > 0


@dataclasses.dataclass(frozen=True)
class CandidateJob:
    """One annotation-delay candidate of a unit, fitted in a process of its own ahead of the unit, so that the
    candidates of one unit run in parallel. It only stores the candidate in the unit folder (as the unit
    would); the unit's own job then finds it there and runs the protocol step. A candidate job that fails
    leaves nothing: the unit fits that candidate itself and, if it fails again, records why."""

    unit: UnitJob
    delay_frames: int

    @property
    def key(self) -> tuple[str, int]:
        return self.unit.key

    @property
    def spec(self) -> ModelSpec:
        return self.unit.spec

    @property
    def seed(self) -> int:
        return self.unit.seed

    @property
    def inputs(self) -> UnitInputs:
        return self.unit.inputs

    @property
    def resources(self) -> dict[str, float]:
        return self.unit.resources

    def cpus(self, cores: int) -> int:
        return self.unit.cpus(cores)

    @property
    def needs_gpu(self) -> bool:
        return self.unit.needs_gpu

    @property
    def description(self) -> str:
        step = self.unit.inputs.frame_step_s
        return f"model {self.spec.name}, seed {self.seed}: the annotation delay {self.delay_frames * step:g} s"


def candidate_jobs(units: Sequence[UnitJob], *, cores: int) -> list[CandidateJob]:
    """The delay candidates of ``units`` not yet stored in their folders, as jobs of their own, when ``cores``
    (the run's, or the cluster's CPUs) outnumber the units; otherwise none (a process per candidate would cost
    more than it gains). A unit with one candidate gets none either."""
    if cores <= len(units):
        return []
    jobs = []
    for unit in units:
        delays = list(unit.settings.delays_frames)
        if len(delays) < 2:
            continue
        folder = RunFolder(unit.run_dir)
        session_ids = [s.id for s in unit.inputs.scored]
        jobs += [CandidateJob(unit, delay) for delay in delays
                 if folder.read_candidate(unit.spec.name, unit.seed, delay, session_ids) is None]
    return jobs


class _FolderCandidates:
    """The candidate store of one unit in the run folder (``units/<model>/seed-<s>/delay-<d>.*``)."""

    def __init__(self, folder: RunFolder, model: str, seed: int) -> None:
        self.folder, self.model, self.seed = folder, model, seed

    def load(self, delay_frames: int, session_ids: list[str]):
        return self.folder.read_candidate(self.model, self.seed, delay_frames, session_ids)

    def save(self, delay_frames: int, predictions: dict[str, np.ndarray], record: CandidateRecord) -> None:
        self.folder.write_candidate(self.model, self.seed, delay_frames, predictions, record)

    def scratch_dir(self, delay_frames: int) -> Path:
        return self.folder.scratch_dir(self.model, self.seed, delay_frames)


def _upstream_predictions(folder: RunFolder, spec: ModelSpec, seed: int,
                          targets: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    upstream = {}
    for required in spec.requires:
        if not folder.is_done(required, seed):
            raise BenchboxError(f"Model {spec.name!r} combines {required!r}, which has no finished predictions "
                                f"for seed {seed} (see its status in {folder.unit_dir(required, seed)}).")
        table = folder.read_predictions(required, seed, targets)
        upstream[required] = {sid: part[list(targets)].to_numpy(dtype=np.float64)
                              for sid, part in table.groupby("session", sort=False)}
    return upstream


def _process_figures(started: float, threads: int | None) -> dict[str, float | int | None]:
    """Wall time, CPU time and peak resident memory of this process (the unit's own, when it runs alone in
    its process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": round(time.perf_counter() - started, 3), "cpu_user_s": round(usage.ru_utime, 3),
            "cpu_system_s": round(usage.ru_stime, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
            "pid": os.getpid(), "threads": threads, "node": os.environ.get(NODE_VARIABLE) or socket.gethostname()}


def run_job(job: UnitJob, *, measure_process: bool = False, threads: int | None = None) -> str | None:
    """Run one unit into its run folder; None on success, else the error message (also in its status).

    ``measure_process``: record this process's figures (peak memory, CPU time, and ``threads``, the torch
    and BLAS threads it was given) in the status; true in a process of its own, where they are the unit's.
    """
    started = time.perf_counter()
    folder = RunFolder(job.run_dir)
    name, seed = job.key
    unit_dir = folder.unit_dir(name, seed)
    unit_dir.mkdir(parents=True, exist_ok=True)

    def enter(stage: str) -> None:
        atomic.write_text(unit_dir / STAGE_FILE, stage)

    try:
        try:
            enter("create")
            upstream = _upstream_predictions(folder, job.spec, seed, job.inputs.targets)
        except BenchboxError as exc:
            raise UnitFailure("create", exc) from exc
        result = run_unit(job.spec, seed, job.inputs, job.settings, upstream=upstream,
                          store=_FolderCandidates(folder, name, seed), on_stage=enter)
    except UnitFailure as failure:
        folder.write_traceback(name, seed, traceback.format_exc())
        status = UnitStatus.failed(name, seed, stage=failure.stage, error=str(failure))
        if measure_process:
            status = dataclasses.replace(status, process=_process_figures(started, threads))
        folder.write_unit_status(status)
        return str(failure)
    partitions = job.inputs.partitions
    partition_of = {s.id: "select" for s in partitions.select} | {s.id: "test" for s in partitions.test}
    folder.write_predictions(name, seed, frame_table(partition_of, result.predictions, job.inputs.targets))
    status = result.status
    if measure_process:
        status = dataclasses.replace(status, process=_process_figures(started, threads))
    folder.write_unit_status(status)
    return None


def run_candidate_job(job: CandidateJob) -> str | None:
    """Fit and store one candidate (in this process); None once it is stored, else why it was not."""
    unit = job.unit
    folder = RunFolder(unit.run_dir)
    name, seed = unit.key
    store = _FolderCandidates(folder, name, seed)
    if store.load(job.delay_frames, [s.id for s in unit.inputs.scored]) is not None:
        return None
    try:
        upstream = _upstream_predictions(folder, unit.spec, seed, unit.inputs.targets)
        predictions, record = fit_candidate(unit.spec, seed, unit.inputs, job.delay_frames, upstream=upstream,
                                            scratch_dir=store.scratch_dir(job.delay_frames))
    except Exception as exc:  # the unit fits this candidate again and records the failure with its traceback
        error = getattr(exc, "error", exc)
        return f"{type(error).__name__}: {error}"
    store.save(job.delay_frames, predictions, record)
    return None
