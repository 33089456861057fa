"""The local executor: every unit in a process of its own, ``jobs`` at a time, supervised by the driver.

Each unit runs in a fresh process (``multiprocessing`` with the ``spawn`` start method: no state, threads or
CUDA context inherited from the driver). One plugin therefore cannot change what another sees, cannot reach
the driver's objects, and cannot end the run: a unit whose process exits without a status (``os._exit``, a
signal, the memory limit) is recorded as failed with its exit code or signal and the stage it was in; a unit
that runs past ``unit_timeout_s`` is killed and recorded as timed out; the other units go on. A unit starts
once the units it requires (same seed) have ended. Torch and BLAS threads of a unit follow its share of the
cores (``cores // jobs``), so that parallel units do not oversubscribe the machine; the count is recorded in
each unit's status (``process.threads``). Training the end-to-end models on the CPU is not bit-reproducible
across thread counts (the default run's e2e scores moved by up to 0.46 CCC on one session between 2 threads
and 1), so their results with ``--jobs 2`` on 2 cores differ from ``--jobs 1``; every other built-in model
gives identical scores.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence

from benchbox import atomic
from benchbox.executors.job import STAGE_FILE, UnitJob, run_job
from benchbox.record import RunFolder, UnitStatus

__all__ = ["LocalExecutor", "UnitOutcome", "available_cores"]

log = logging.getLogger("benchbox")


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class UnitOutcome:
    """How a unit ended: ``error`` is None for a finished unit, else the message stored in its status."""

    model: str
    seed: int
    error: str | None


def _limit_threads(threads: int) -> None:
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ["BENCHBOX_UNIT_THREADS"] = str(threads)


def _unit_process(job: UnitJob, threads: int, memory_limit_mb: int | None) -> None:
    """The entry point of a unit's process: limits, then the unit; the exit code says whether it ran."""
    import resource

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


class LocalExecutor:
    """Run unit jobs in child processes on this machine.

    Args:
        jobs: units at a time (default 1: on 2 cores the default run was not faster with 2, and the
            end-to-end models' results depend on the torch thread count, see the module docstring).
        unit_timeout_s: wall-clock limit of one unit (None: no limit).
        memory_limit_mb: address-space limit of one unit's process (None: no limit).
        poll_s: how often the driver looks at its children.
    """

    name = "local"

    def __init__(self, *, jobs: int | None = None, unit_timeout_s: float | None = None,
                 memory_limit_mb: int | None = None, poll_s: float = 0.1) -> None:
        self.jobs = jobs
        self.unit_timeout_s = unit_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.poll_s = poll_s

    def run(self, jobs: Sequence[UnitJob], *,
            on_finish: Callable[[UnitOutcome], None] | None = None) -> list[UnitOutcome]:
        """Run ``jobs`` (in order, a job after the jobs of the models it requires); one outcome per job."""
        parallel = max(1, self.jobs or 1)
        threads = max(1, available_cores() // parallel)
        context = multiprocessing.get_context("spawn")
        pending = list(jobs)
        keys = {job.key for job in jobs}
        running: dict[tuple[str, int], tuple[multiprocessing.process.BaseProcess, float, UnitJob]] = {}
        outcomes: dict[tuple[str, int], UnitOutcome] = {}
        try:
            while pending or running:
                for job in list(pending):
                    if len(running) >= parallel:
                        break
                    waiting = [(r, job.seed) for r in job.spec.requires if (r, job.seed) in keys
                               and (r, job.seed) not in outcomes]
                    if waiting:
                        continue
                    pending.remove(job)
                    self._clear(job)
                    process = context.Process(target=_unit_process, args=(job, threads, self.memory_limit_mb),
                                              name=f"benchbox-unit-{job.spec.name}-{job.seed}", daemon=True)
                    process.start()
                    running[job.key] = (process, time.monotonic(), job)
                for key, (process, started, job) in list(running.items()):
                    timed_out = self.unit_timeout_s is not None and time.monotonic() - started > self.unit_timeout_s
                    if process.is_alive() and not timed_out:
                        continue
                    if timed_out and process.is_alive():
                        process.kill()
                    process.join()
                    del running[key]
                    outcome = self._outcome(job, process.exitcode, timed_out)
                    outcomes[key] = outcome
                    if on_finish is not None:
                        on_finish(outcome)
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for process, _, _ in running.values():
                process.kill()
                process.join()
            raise
        return [outcomes[job.key] for job in jobs]

    @staticmethod
    def _clear(job: UnitJob) -> None:
        """Remove the status and stage marker an earlier attempt left, so the outcome is this attempt's."""
        folder = RunFolder(job.run_dir)
        for path in (folder.status_path(*job.key), folder.unit_dir(*job.key) / STAGE_FILE):
            path.unlink(missing_ok=True)

    def _outcome(self, job: UnitJob, exit_code: int | None, timed_out: bool) -> UnitOutcome:
        folder = RunFolder(job.run_dir)
        name, seed = job.key
        status = folder.unit_status(name, seed) if folder.status_path(name, seed).exists() else None
        if status is not None and not timed_out:
            return UnitOutcome(name, seed, None if status.done else status.error)
        stage_file = folder.unit_dir(name, seed) / STAGE_FILE
        stage = stage_file.read_text(encoding="utf-8").strip() if stage_file.exists() else "start"
        if timed_out:
            reason, process = f"timed out after {self.unit_timeout_s:g} s (--unit-timeout)", {"timed_out": True}
        elif exit_code is not None and exit_code < 0:
            signal_name = signal.Signals(-exit_code).name
            hint = " (the memory limit, or the system out of memory)" if -exit_code == signal.SIGKILL else ""
            reason, process = f"killed by signal {signal_name}{hint}", {"signal": signal_name}
        else:
            reason, process = f"exited with code {exit_code}", {"exit_code": exit_code}
        message = f"The unit's process {reason} during {stage}."
        atomic.write_text(folder.traceback_path(name, seed), message + "\n(no Python traceback: the process ended "
                          "without one)\n")
        folder.write_unit_status(dataclasses.replace(
            UnitStatus.failed(name, seed, stage=stage, error=message), process=process))
        return UnitOutcome(name, seed, message)
