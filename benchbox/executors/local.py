"""The local executor: every unit in a process of its own, feature jobs in worker processes, as many at a
time as the run's cores allow, supervised by the driver.

Each unit runs in a fresh process (``multiprocessing`` with the ``spawn`` start method: no state, threads or
CUDA context inherited from the driver), which dies with its supervisor (``PR_SET_PDEATHSIG`` on Linux). One
plugin therefore cannot change what another sees, cannot reach the driver's objects, and cannot end the run:
a unit whose process exits without a status (``os._exit``, a signal, the memory limit) is recorded as failed
with its exit code or signal and the stage it was in; a unit that runs past ``unit_timeout_s`` is killed and
recorded as timed out; the other units go on. A unit killed by a signal (the system's out-of-memory killer,
a preempted node) is started again up to ``retries`` times; a unit that exits or raises is not (it would
fail the same way). Feature jobs (:mod:`benchbox.features`: per session and modality, filling the cache) run
in a few long-lived worker processes, one CPU each, so that dozens of short jobs do not each pay a process
start; a worker that dies or runs past the time limit is replaced and its job reported failed (the units that
need it then compute the features themselves).

Scheduling (:class:`~benchbox.executors.graph.TaskGraph`): the run may use ``jobs`` cores (default: all). A
unit holds the CPUs its model declares (``resources["num_cpus"]``, default 1, at most ``jobs``; units that declare
several and may run at the same time share the cores: :func:`~benchbox.executors.graph.cpu_shares`), a feature
job one; with more cores than units, the delay candidates of each unit are fitted in processes of their own
(:class:`CandidateProcess`) before the unit's protocol step; jobs start in critical-path order once their
dependencies are done and their cores are free, and a job never overtakes a more urgent one that waits for
cores. A process's torch and BLAS threads equal the CPUs it holds (set in its environment before it starts,
recorded in each unit's status as ``process.threads``), so parallel jobs do not oversubscribe the machine, and
a model's thread count, hence its floating-point results, does not depend on what runs beside it. With GPUs,
units that ask for one (the e2e models on a CUDA device) get one each (``CUDA_VISIBLE_DEVICES``), as many at a
time as there are GPUs.

:class:`UnitProcess` is the supervision of one unit; the Ray executor (:mod:`benchbox.executors.ray_executor`)
runs the same supervision inside a Ray task, so both executors run, limit and report a unit the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from benchbox import atomic
from benchbox.executors.graph import TaskGraph
from benchbox.executors.job import STAGE_FILE, CandidateJob, UnitJob, candidate_jobs, run_candidate_job, run_job
from benchbox.features import FeatureFailures, FeatureJob, FeatureOutcome, run_feature_job
from benchbox.record import RunFolder, UnitStatus

__all__ = ["LocalExecutor", "CandidateProcess", "FeatureWorker", "UnitOutcome", "UnitProcess", "available_cores",
           "supervise_unit", "visible_gpus"]

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


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BENCHBOX_UNIT_THREADS")


def _limit_threads(threads: int) -> None:
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    try:  # the BLAS libraries numpy already loaded read their variables at load time
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return
    threadpool_limits(threads)


@contextlib.contextmanager
def _thread_environment(threads: int, gpu: str | None):
    """The thread (and GPU) variables a child process is started with: a spawned child reads its environment
    when it starts, before the BLAS libraries that read these variables load."""
    saved = {name: os.environ.get(name) for name in (*_THREAD_VARIABLES, "CUDA_VISIBLE_DEVICES")}
    try:
        for variable in _THREAD_VARIABLES:
            os.environ[variable] = str(threads)
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _die_with_parent() -> None:
    """Linux: be killed when the supervising process dies (a cancelled Ray task, a killed driver)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # no glibc: the process is still ended by the supervisor's kill on timeout or Ctrl-C
        pass


def _unit_process(job: UnitJob | CandidateJob, threads: int, memory_limit_mb: int | None, gpu: str | None) -> None:
    """The entry point of a unit's (or a candidate's) process: limits, then the job; for a candidate the exit
    code says whether it was stored."""
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
    if isinstance(job, CandidateJob):
        error = run_candidate_job(job)
        if error is not None:
            print(f"benchbox: {job.description}: {error}", file=sys.stderr)
            sys.exit(1)
        return
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
        self._prepare()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_unit_process,
                                       args=(self.job, self.threads, self.memory_limit_mb, self.gpu),
                                       name=f"benchbox-unit-{self.job.spec.name}-{self.job.seed}", daemon=True)
        with _thread_environment(self.threads, self.gpu):
            self.process.start()
        self.started = time.monotonic()
        return self

    def _prepare(self) -> None:
        _clear(self.job)

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

    def wait(self, poll_s: float = 0.1) -> UnitProcess:
        """Block until the process has ended (killed if this wait is interrupted)."""
        try:
            while not self.ended():
                time.sleep(poll_s)
        except BaseException:
            self.kill()
            raise
        return self

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


class CandidateProcess(UnitProcess):
    """One delay candidate of a unit (:class:`~benchbox.executors.job.CandidateJob`) in a process of its own,
    with a unit's limits. It writes no status: :meth:`error` says why the candidate was not stored, and the
    unit then fits it itself."""

    def _prepare(self) -> None:
        pass

    def error(self) -> str | None:
        code = self.process.exitcode if self.process is not None else None
        if self.timed_out:
            return f"timed out after {self.unit_timeout_s:g} s (--unit-timeout)"
        if code == 0:
            return None
        if code is not None and code < 0:
            return f"its process was killed by signal {signal.Signals(-code).name}"
        return f"its process ended with code {code}"


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
                           gpu=gpu).start().wait(poll_s)
        if not unit.restart_due(attempt, retries):
            return unit.outcome(attempt)


class LocalExecutor:
    """Run feature, candidate and unit jobs in child processes on this machine.

    Args:
        jobs: CPU cores the run may use at a time (default: every core this process may use). A unit holds
            the CPUs its model declares (``resources["num_cpus"]``, default 1, at most its share of ``jobs``)
            and runs that many torch and BLAS threads; a feature job holds one. With more cores than units, the delay
            candidates of a unit are fitted as jobs of their own, in parallel, before the unit's protocol step.
        unit_timeout_s: wall-clock limit of one unit, and of one feature job (None: no limit).
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

    @property
    def capacity(self) -> int:
        return max(1, self.jobs or available_cores())

    def cpus(self, job: UnitJob | CandidateJob | FeatureJob) -> int:
        """The CPUs ``job`` holds here: a feature job one, a unit what its model declares, at most its share of
        the run's cores (:meth:`UnitJob.cpus <benchbox.executors.job.UnitJob.cpus>`)."""
        if isinstance(job, FeatureJob):
            return 1
        return job.cpus(self.capacity)

    def run(self, jobs: Sequence[UnitJob], *, features: Sequence[FeatureJob] = (),
            needs: Mapping[tuple[str, int], Iterable[tuple[str, str]]] | None = None,
            on_finish: Callable[[UnitOutcome | FeatureOutcome], None] | None = None) -> list[UnitOutcome]:
        """Run ``features`` and ``jobs`` (a unit after its ``needs`` and the units it requires), most urgent
        first (:class:`~benchbox.executors.graph.TaskGraph`); one outcome per unit job, in order."""
        candidates = candidate_jobs(jobs, cores=self.capacity)
        graph = TaskGraph(jobs, features, needs, cpus=self.cpus, candidates=candidates)
        gpus = visible_gpus() if any(job.needs_gpu for job in jobs) else []
        free_gpus = list(gpus)
        used = 0
        units: dict[tuple, tuple[UnitProcess, int]] = {}
        extracting: dict[tuple, FeatureWorker] = {}
        idle: list[FeatureWorker] = []
        outcomes: dict[tuple[str, int], UnitOutcome] = {}
        failures = FeatureFailures()

        def report(key: tuple, outcome) -> None:
            graph.finish(key)
            if on_finish is not None:
                on_finish(outcome)

        try:
            while not graph.done or units or extracting:
                for key in graph.ready():
                    job = graph.jobs[key]
                    need = self.cpus(job)
                    if used + need > self.capacity:
                        break  # the most urgent job waits for its cores; nothing less urgent overtakes it
                    if isinstance(job, FeatureJob):
                        worker = idle.pop() if idle else FeatureWorker()
                        extracting[key] = worker.submit(job)
                    else:
                        gpu = None
                        if job.needs_gpu and gpus:
                            if not free_gpus:
                                continue  # every GPU is taken: a unit that needs none may still start
                            gpu = free_gpus.pop(0)
                        units[key] = (self._start(job, need, gpu), 1)
                    graph.start(key)
                    used += need
                for key, worker in list(extracting.items()):
                    outcome = worker.outcome(self.unit_timeout_s)
                    if outcome is None:
                        continue
                    del extracting[key]
                    used -= 1
                    if worker.alive:
                        idle.append(worker)
                    failures.report(graph.jobs[key], outcome)
                    report(key, outcome)
                if idle and not graph.pending_of("features"):
                    for worker in idle:  # no feature job is left: give their memory back to the units
                        worker.close()
                    idle.clear()
                for key, (unit, attempt) in list(units.items()):
                    if not unit.ended():
                        continue
                    if not isinstance(unit, CandidateProcess) and unit.restart_due(attempt, self.retries):
                        units[key] = (self._start(unit.job, unit.threads, unit.gpu), attempt + 1)
                        continue
                    del units[key]
                    used -= unit.threads
                    if unit.gpu is not None:
                        free_gpus.append(unit.gpu)
                    if isinstance(unit, CandidateProcess):
                        error = unit.error()
                        if error is not None:
                            log.warning("%s was not stored (%s); the unit fits it itself", unit.job.description,
                                        error)
                        graph.finish(key)
                        continue
                    outcome = unit.outcome(attempt)
                    outcomes[unit.job.key] = outcome
                    report(key, outcome)
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for unit, _ in units.values():
                unit.kill()
            raise
        finally:
            for worker in [*idle, *extracting.values()]:
                worker.close()
        return [outcomes[job.key] for job in jobs]

    def _start(self, job: UnitJob | CandidateJob, threads: int, gpu: str | None) -> UnitProcess:
        kind = CandidateProcess if isinstance(job, CandidateJob) else UnitProcess
        return kind(job, threads=threads, memory_limit_mb=self.memory_limit_mb, unit_timeout_s=self.unit_timeout_s,
                    gpu=gpu).start()


def _feature_worker(connection) -> None:
    """The loop of a feature worker process: run each job it is sent, send back its outcome; None ends it."""
    _die_with_parent()
    _limit_threads(1)
    while True:
        job = connection.recv()
        if job is None:
            return
        connection.send(run_feature_job(job))


class FeatureWorker:
    """A process that runs feature jobs one after another (one CPU; started once, reused for many jobs)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        with _thread_environment(1, None):
            self.process = context.Process(target=_feature_worker, args=(child,), name="benchbox-features",
                                           daemon=True)
            self.process.start()
        child.close()
        self.job: FeatureJob | None = None
        self.started = 0.0

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def submit(self, job: FeatureJob) -> FeatureWorker:
        self.job, self.started = job, time.monotonic()
        self.connection.send(job)
        return self

    def outcome(self, timeout_s: float | None) -> FeatureOutcome | None:
        """The running job's outcome once it has ended (None while it runs); a worker that died or ran past
        ``timeout_s`` is ended and its job reported failed."""
        assert self.job is not None, "submit() first"
        if self.connection.poll():
            try:
                return self.connection.recv()
            except (EOFError, OSError):
                pass  # it died while sending
        elif self.process.is_alive():
            if timeout_s is None or time.monotonic() - self.started <= timeout_s:
                return None
            self.process.kill()
            self.process.join()
            return FeatureOutcome(self.job.key, f"timed out after {timeout_s:g} s (--unit-timeout)",
                                  time.monotonic() - self.started)
        self.process.join()
        return FeatureOutcome(self.job.key, f"its process ended with code {self.process.exitcode}",
                              time.monotonic() - self.started)

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.connection.close()
