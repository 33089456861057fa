"""The local executor: every unit in a process of its own, ``jobs`` at a time, supervised by the driver.

Each unit runs in a fresh process (``multiprocessing`` with the ``spawn`` start method: no state, threads or
CUDA context inherited from the driver), which dies with its supervisor (``PR_SET_PDEATHSIG`` on Linux). One
plugin therefore cannot change what another sees, cannot reach the driver's objects, and cannot end the run:
a unit whose process exits without a status (``os._exit``, a signal, the memory limit) is recorded as failed
with its exit code or signal and the stage it was in; a unit that runs past ``unit_timeout_s`` is killed and
recorded as timed out; the other units go on. A unit killed by a signal (the system's out-of-memory killer,
a preempted node) is started again up to ``retries`` times; a unit that exits or raises is not (it would
fail the same way). A unit starts once the units it requires (same seed) have ended. Torch and BLAS threads
of a unit follow its share of the cores (``cores // jobs``), so that parallel units do not oversubscribe the
machine; the count is recorded in each unit's status (``process.threads``). With GPUs, units that ask for one
(the e2e models on a CUDA device) get one each (``CUDA_VISIBLE_DEVICES``), as many at a time as there are
GPUs. Training the end-to-end models on the CPU is not bit-reproducible across thread counts (the default
run's e2e scores moved by up to 0.46 CCC on one session between 2 threads and 1), so their results with
``--jobs 2`` on 2 cores differ from ``--jobs 1``; every other built-in model gives identical scores.

:class:`UnitProcess` is the supervision of one unit; the Ray executor (:mod:`benchbox.executors.ray_executor`)
runs the same supervision inside a Ray task, so both executors run, limit and report a unit the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

from benchbox import atomic
from benchbox.executors.job import STAGE_FILE, UnitJob, run_job
from benchbox.record import RunFolder, UnitStatus

__all__ = ["LocalExecutor", "UnitOutcome", "UnitProcess", "available_cores", "supervise_unit", "visible_gpus"]

log = logging.getLogger("benchbox")


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The CUDA devices this process may hand out (``CUDA_VISIBLE_DEVICES``, else every device torch sees)."""
    variable = os.environ.get("CUDA_VISIBLE_DEVICES")
    if variable is not None:
        return [d.strip() for d in variable.split(",") if d.strip()]
    import torch

    return [str(k) for k in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


@dataclasses.dataclass(frozen=True)
class UnitOutcome:
    """How a unit ended: ``error`` is None for a finished unit, else the message stored in its status."""

    model: str
    seed: int
    error: str | None
    attempts: int = 1


def _limit_threads(threads: int) -> None:
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ["BENCHBOX_UNIT_THREADS"] = str(threads)


def _die_with_parent() -> None:
    """Linux: be killed when the supervising process dies (a cancelled Ray task, a killed driver)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # no glibc: the process is still ended by the supervisor's kill on timeout or Ctrl-C
        pass


def _unit_process(job: UnitJob, threads: int, memory_limit_mb: int | None, gpu: str | None) -> None:
    """The entry point of a unit's process: limits, then the unit; the exit code says whether it ran."""
    import resource

    _die_with_parent()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _limit_threads(threads)
    if memory_limit_mb:
        limit = int(memory_limit_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)
    run_job(job, measure_process=True, threads=threads)


class UnitProcess:
    """One unit in a process of its own: start it, poll it, kill it, and read how it ended.

    Args:
        job: the unit.
        threads: torch and BLAS threads of the unit.
        memory_limit_mb: address-space limit of the process (None: none).
        unit_timeout_s: wall-clock limit (None: none).
        gpu: the CUDA device it may use (its ``CUDA_VISIBLE_DEVICES``), or None.
    """

    def __init__(self, job: UnitJob, *, threads: int, memory_limit_mb: int | None = None,
                 unit_timeout_s: float | None = None, gpu: str | None = None) -> None:
        self.job, self.threads, self.memory_limit_mb = job, threads, memory_limit_mb
        self.unit_timeout_s, self.gpu = unit_timeout_s, gpu
        self.process: multiprocessing.process.BaseProcess | None = None
        self.started = 0.0
        self.timed_out = False

    def start(self) -> UnitProcess:
        _clear(self.job)
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_unit_process,
                                       args=(self.job, self.threads, self.memory_limit_mb, self.gpu),
                                       name=f"benchbox-unit-{self.job.spec.name}-{self.job.seed}", daemon=True)
        self.process.start()
        self.started = time.monotonic()
        return self

    def ended(self) -> bool:
        """Whether the process has ended (it is killed here once past the time limit)."""
        assert self.process is not None, "start() first"
        if self.process.is_alive():
            if self.unit_timeout_s is None or time.monotonic() - self.started <= self.unit_timeout_s:
                return False
            self.timed_out = True
            self.process.kill()
        self.process.join()
        return True

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join()

    def restart_due(self, attempt: int, retries: int) -> bool:
        """Whether this ended attempt should be started again: killed by a signal, retries left (logged)."""
        if not (self.killed_by_signal and attempt <= retries):
            return False
        log.warning("model %s, seed %d: the unit's process was killed (signal %s); starting it again "
                    "(retry %d of %d)", *self.job.key, -self.process.exitcode, attempt, retries)
        return True

    @property
    def killed_by_signal(self) -> bool:
        """Ended by a signal that it did not send itself through a status (retry-worthy: OOM, preemption)."""
        code = self.process.exitcode if self.process is not None else None
        return not self.timed_out and code is not None and code < 0 and \
            not RunFolder(self.job.run_dir).status_path(*self.job.key).exists()

    def outcome(self, attempts: int = 1) -> UnitOutcome:
        """How the unit ended; a process that ended without a status gets a failed one written here."""
        job = self.job
        folder = RunFolder(job.run_dir)
        name, seed = job.key
        status = folder.unit_status(name, seed) if folder.status_path(name, seed).exists() else None
        if status is not None and not self.timed_out:
            return UnitOutcome(name, seed, None if status.done else status.error, attempts)
        stage_file = folder.unit_dir(name, seed) / STAGE_FILE
        stage = stage_file.read_text(encoding="utf-8").strip() if stage_file.exists() else "start"
        exit_code = self.process.exitcode if self.process is not None else None
        if self.timed_out:
            reason, process = f"timed out after {self.unit_timeout_s:g} s (--unit-timeout)", {"timed_out": True}
        elif exit_code is not None and exit_code < 0:
            signal_name = signal.Signals(-exit_code).name
            hint = " (the memory limit, or the system out of memory)" if -exit_code == signal.SIGKILL else ""
            reason, process = f"was killed by signal {signal_name}{hint}", {"signal": signal_name}
        else:
            reason, process = f"exited with code {exit_code}", {"exit_code": exit_code}
        tries = f" (attempt {attempts}; the earlier ones were killed too)" if attempts > 1 else ""
        message = f"The unit's process {reason} during {stage}{tries}."
        atomic.write_text(folder.traceback_path(name, seed), message + "\n(no Python traceback: the process ended "
                          "without one)\n")
        folder.write_unit_status(dataclasses.replace(
            UnitStatus.failed(name, seed, stage=stage, error=message), process={**process, "attempts": attempts}))
        return UnitOutcome(name, seed, message, attempts)


def _clear(job: UnitJob) -> None:
    """Remove the status and stage marker an earlier attempt left, so the outcome is this attempt's."""
    folder = RunFolder(job.run_dir)
    for path in (folder.status_path(*job.key), folder.unit_dir(*job.key) / STAGE_FILE):
        path.unlink(missing_ok=True)


def supervise_unit(job: UnitJob, *, threads: int, memory_limit_mb: int | None = None,
                   unit_timeout_s: float | None = None, retries: int = 0, gpu: str | None = None,
                   poll_s: float = 0.1) -> UnitOutcome:
    """Run one unit in a process of its own to the end (blocking), starting it again up to ``retries`` times
    when it is killed by a signal; its outcome."""
    attempt = 0
    while True:
        attempt += 1
        unit = UnitProcess(job, threads=threads, memory_limit_mb=memory_limit_mb, unit_timeout_s=unit_timeout_s,
                           gpu=gpu).start()
        try:
            while not unit.ended():
                time.sleep(poll_s)
        except BaseException:
            unit.kill()
            raise
        if not unit.restart_due(attempt, retries):
            return unit.outcome(attempt)


class LocalExecutor:
    """Run unit jobs in child processes on this machine.

    Args:
        jobs: units at a time (default 1: on 2 cores the default run was not faster with 2, and the
            end-to-end models' results depend on the torch thread count, see the module docstring).
        unit_timeout_s: wall-clock limit of one unit (None: no limit).
        memory_limit_mb: address-space limit of one unit's process (None: no limit).
        retries: times a unit killed by a signal is started again (default 0).
        poll_s: how often the driver looks at its children.
    """

    name = "local"

    def __init__(self, *, jobs: int | None = None, unit_timeout_s: float | None = None,
                 memory_limit_mb: int | None = None, retries: int = 0, poll_s: float = 0.1) -> None:
        self.jobs = jobs
        self.unit_timeout_s = unit_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.retries = retries
        self.poll_s = poll_s

    def run(self, jobs: Sequence[UnitJob], *,
            on_finish: Callable[[UnitOutcome], None] | None = None) -> list[UnitOutcome]:
        """Run ``jobs`` (in order, a job after the jobs of the models it requires); one outcome per job."""
        parallel = max(1, self.jobs or 1)
        threads = max(1, available_cores() // parallel)
        gpus = visible_gpus() if any(job.needs_gpu for job in jobs) else []
        free_gpus = list(gpus)
        pending = list(jobs)
        keys = {job.key for job in jobs}
        running: dict[tuple[str, int], tuple[UnitProcess, int]] = {}
        outcomes: dict[tuple[str, int], UnitOutcome] = {}
        try:
            while pending or running:
                for job in list(pending):
                    if len(running) >= parallel:
                        break
                    if any((r, job.seed) in keys and (r, job.seed) not in outcomes for r in job.spec.requires):
                        continue
                    gpu = None
                    if job.needs_gpu and gpus:
                        if not free_gpus:
                            continue  # every GPU is taken: a unit that needs none may still start
                        gpu = free_gpus.pop(0)
                    pending.remove(job)
                    running[job.key] = (self._start(job, threads, gpu), 1)
                for key, (unit, attempt) in list(running.items()):
                    if not unit.ended():
                        continue
                    if unit.restart_due(attempt, self.retries):
                        running[key] = (self._start(unit.job, threads, unit.gpu), attempt + 1)
                        continue
                    del running[key]
                    if unit.gpu is not None:
                        free_gpus.append(unit.gpu)
                    outcome = unit.outcome(attempt)
                    outcomes[key] = outcome
                    if on_finish is not None:
                        on_finish(outcome)
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for unit, _ in running.values():
                unit.kill()
            raise
        return [outcomes[job.key] for job in jobs]

    def _start(self, job: UnitJob, threads: int, gpu: str | None) -> UnitProcess:
        return UnitProcess(job, threads=threads, memory_limit_mb=self.memory_limit_mb,
                           unit_timeout_s=self.unit_timeout_s, gpu=gpu).start()
