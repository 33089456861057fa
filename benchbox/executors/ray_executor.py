"""The Ray executor: the feature jobs and units of a run as Ray tasks, on a local Ray instance or a cluster.

``benchbox run --executor ray [--ray-address ADDRESS]``. Without an address a local Ray instance is started
for the run (and stopped after it); with one, the run joins that cluster (``auto``: the cluster this machine
belongs to). Ray is an optional extra (``pip install "benchbox[ray]"``); it is imported here only.

Each unit is one Ray task that needs what the model declares (``resources``: ``num_cpus``, ``num_gpus``,
``memory_gb``; a torch model on a CUDA device asks for a GPU), so Ray runs as many at a time as the cluster has
room for (a unit asking for more CPUs than the largest node has gets that node's CPUs; units that ask for
several and may run at the same time share the cluster's CPUs as on one machine:
:func:`~benchbox.executors.graph.cpu_shares`). Each feature job
(:mod:`benchbox.features`: one session's audio or video features, filling the shared cache) is a one-CPU task;
when the cluster has more CPUs than the run has units, each delay candidate of a unit is a task of its own
(in a process of its own, like a unit), and the unit's task runs the protocol step once they are stored.
The driver submits a job once what it waits for is done, in the critical-path order of
:class:`~benchbox.executors.graph.TaskGraph`, the order of the local executor. A unit's task runs the same
supervision as the local executor (:func:`benchbox.executors.local.supervise_unit`): the unit in a process of
its own with its torch and BLAS threads set to the task's CPUs, the ``--unit-timeout`` and ``--unit-memory-gb``
limits, a status for every way it can end, and a new start when its process is killed by a signal. A task whose
worker or node dies is retried by Ray (``max_retries``, ``--retries``, default 2); after the retries the unit
is marked failed with the reason and the run goes on; a feature job that fails is reported, and its units
compute the features themselves.

The run folder, the corpus and the cache must be visible at the same paths on every node (shared storage):
before any unit is submitted, one small task per node checks that it sees them and can write the run folder,
and the run stops with a message naming the node and the path if one cannot. Every unit writes only its
own unit folder, atomically; the driver writes the rest, so resuming works as with the local executor.
Ctrl-C on the driver cancels the outstanding tasks (their unit processes die with them) and leaves a
resumable run folder.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from benchbox.errors import BenchboxError
from benchbox.executors.graph import TaskGraph
from benchbox.executors.job import NODE_VARIABLE, CandidateJob, UnitJob, candidate_jobs
from benchbox.executors.local import CandidateProcess, UnitOutcome, supervise_unit
from benchbox.features import FeatureFailures, FeatureJob, FeatureOutcome, run_feature_job

__all__ = ["RayExecutor", "storage_problems"]

log = logging.getLogger("benchbox")

#: What a task that never got a status reports (its worker, or its node, died every time).
_LOST = "The unit's Ray task was lost {attempts} time(s) (its worker or node died): {error}"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BenchboxError("--executor ray needs Ray: pip install \"benchbox[ray]\" (or pip install ray).") from None
    return ray


def storage_problems(paths: Sequence[str | os.PathLike], writable: str | os.PathLike) -> list[str]:
    """What this machine cannot see or write of the run's shared paths: ``"<node>: <path> ..."`` lines."""
    node = socket.gethostname()
    problems = [f"{node}: {path} does not exist here" for path in paths if not Path(path).exists()]
    probe = Path(writable) / f".benchbox-probe-{node}-{os.getpid()}"
    try:
        probe.write_text("probe", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        problems.append(f"{node}: cannot write into {writable} ({exc.strerror or exc})")
    return problems


def _task_supervise(job: UnitJob, threads: int, memory_limit_mb: int | None, unit_timeout_s: float | None,
                    retries: int) -> UnitOutcome:
    """The body of a unit's Ray task. The unit's process inherits the GPU Ray gave the task
    (``CUDA_VISIBLE_DEVICES``) and the name of the node, which its status records."""
    import ray

    os.environ[NODE_VARIABLE] = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:12]}"
    return supervise_unit(job, threads=threads, memory_limit_mb=memory_limit_mb, unit_timeout_s=unit_timeout_s,
                          retries=retries)


def _task_candidate(job: CandidateJob, threads: int, memory_limit_mb: int | None,
                    unit_timeout_s: float | None) -> str | None:
    """The body of a delay candidate's Ray task: the candidate in a process of its own; why it was not stored."""
    return CandidateProcess(job, threads=threads, memory_limit_mb=memory_limit_mb,
                            unit_timeout_s=unit_timeout_s).start().wait().error()


class RayExecutor:
    """Run unit jobs as Ray tasks.

    Args:
        address: a Ray cluster to join (``ray.init(address=...)``); None starts a local instance for the run.
        jobs: the CPUs of that local instance (default: every core); a cluster has the CPUs its nodes declared.
        unit_timeout_s: wall-clock limit of one unit (None: none).
        memory_limit_mb: address-space limit of one unit's process (None: none).
        retries: times a task whose worker dies, or whose unit process is killed, is run again (default 2).
        shared_paths: paths every node must see (the corpus, the cache); the run folder must be writable.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, jobs: int | None = None, unit_timeout_s: float | None = None,
                 memory_limit_mb: int | None = None, retries: int = 2,
                 shared_paths: Sequence[str | os.PathLike] = (), poll_s: float = 0.2) -> None:
        self.address = address
        self.jobs = jobs
        self.unit_timeout_s = unit_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.retries = retries
        self.shared_paths = [str(p) for p in shared_paths]
        self.poll_s = poll_s

    def _init(self, ray) -> bool:
        """Connect to (or start) Ray; True when this call started it (and must stop it)."""
        if ray.is_initialized():
            return False
        # Workers of a local instance import the plugins the driver sees (a user's plugin folder on sys.path);
        # on a cluster the plugins must be installed on every node.
        python_path = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir())
        settings = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True,
                    "runtime_env": {"env_vars": {"PYTHONPATH": python_path}}}
        if self.address is None:
            settings["object_store_memory"] = 200 * 1024 * 1024  # units exchange files, not objects
            if self.jobs:
                settings["num_cpus"] = self.jobs
        try:
            ray.init(address=self.address, **settings)
        except ConnectionError as exc:
            raise BenchboxError(f"--ray-address {self.address}: cannot connect to a Ray cluster ({exc}).") from None
        return True

    def _check_storage(self, ray, run_dir: Path) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        check = ray.remote(num_cpus=0)(storage_problems)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote([*self.shared_paths, str(run_dir)], str(run_dir)) for n in nodes]
        problems = [line for found in ray.get(refs) for line in found]
        if problems:
            raise BenchboxError("Every Ray node must see the corpus, the cache and the run folder at the same "
                                "paths (shared storage):\n  - " + "\n  - ".join(problems))

    def run(self, jobs: Sequence[UnitJob], *, features: Sequence[FeatureJob] = (),
            needs: Mapping[tuple[str, int], Iterable[tuple[str, str]]] | None = None,
            on_finish: Callable[[UnitOutcome | FeatureOutcome], None] | None = None) -> list[UnitOutcome]:
        """Run ``features`` and ``jobs`` (a unit after its ``needs`` and the units it requires), submitted in
        critical-path order (:class:`~benchbox.executors.graph.TaskGraph`); one outcome per unit job."""
        if not jobs:
            return []
        ray = _import_ray()
        started_here = self._init(ray)
        try:
            self._check_storage(ray, Path(jobs[0].run_dir))
            return self._schedule(ray, jobs, features, needs, on_finish)
        finally:
            if started_here:
                ray.shutdown()

    @staticmethod
    def _node_cpus(ray) -> list[int]:
        return [int(n.get("Resources", {}).get("CPU", 1)) for n in ray.nodes() if n.get("Alive")] or [1]

    def _submit(self, ray, tasks, job: UnitJob | CandidateJob | FeatureJob, node_cpus: int, total_cpus: int):
        if isinstance(job, FeatureJob):
            return tasks["features"].options(num_cpus=1, max_retries=self.retries,
                                             name=f"benchbox-features-{job.session.id}-{job.modality}").remote(job)
        needs = job.resources
        cpus = min(job.cpus(total_cpus), node_cpus)  # no node has more: it would never start
        on_cuda = job.inputs.device.startswith("cuda")
        options = {"num_cpus": cpus, "num_gpus": needs.get("num_gpus", 0) if on_cuda else 0,
                   "max_retries": self.retries}
        if needs.get("memory_gb"):
            options["memory"] = int(needs["memory_gb"] * 1024**3)
        if isinstance(job, CandidateJob):
            return tasks["candidate"].options(**options, name=f"benchbox-candidate-{job.spec.name}-{job.seed}-"
                                              f"{job.delay_frames}").remote(job, cpus, self.memory_limit_mb,
                                                                            self.unit_timeout_s)
        return tasks["unit"].options(**options, name=f"benchbox-unit-{job.spec.name}-{job.seed}").remote(
            job, cpus, self.memory_limit_mb, self.unit_timeout_s, self.retries)

    def _schedule(self, ray, jobs: Sequence[UnitJob], features, needs, on_finish) -> list[UnitOutcome]:
        tasks = {"unit": ray.remote(_task_supervise), "features": ray.remote(run_feature_job),
                 "candidate": ray.remote(_task_candidate)}
        cpus = self._node_cpus(ray)
        candidates = candidate_jobs(jobs, cores=sum(cpus))
        graph = TaskGraph(jobs, features, needs, candidates=candidates,
                          cpus=lambda job: 1 if isinstance(job, FeatureJob) else job.cpus(sum(cpus)))
        self.failures = FeatureFailures()
        node_cpus = max(cpus)
        running: dict = {}  # ObjectRef -> graph key
        outcomes: dict[tuple[str, int], UnitOutcome] = {}
        try:
            while not graph.done or running:
                for key in graph.ready():
                    running[self._submit(ray, tasks, graph.start(key), node_cpus, sum(cpus))] = key
                if not running:
                    time.sleep(self.poll_s)
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=self.poll_s)
                for ref in ready:
                    key = running.pop(ref)
                    job = graph.jobs[key]
                    if isinstance(job, CandidateJob):
                        self._candidate_outcome(ray, ref, job)
                        graph.finish(key)
                        continue
                    if isinstance(job, FeatureJob):
                        outcome = self._feature_outcome(ray, ref, job)
                    else:
                        outcome = outcomes[job.key] = self._outcome(ray, ref, job)
                    graph.finish(key)
                    if on_finish is not None:
                        on_finish(outcome)
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        return [outcomes[job.key] for job in jobs]

    @staticmethod
    def _candidate_outcome(ray, ref, job: CandidateJob) -> None:
        try:
            error = ray.get(ref)
        except (ray.exceptions.RayError, OSError) as exc:
            error = f"its Ray task was lost: {str(exc).splitlines()[0][:300]}"
        if error is not None:
            log.warning("%s was not stored (%s); the unit fits it itself", job.description, error)

    def _feature_outcome(self, ray, ref, job: FeatureJob) -> FeatureOutcome:
        try:
            outcome = ray.get(ref)
        except (ray.exceptions.RayError, OSError) as exc:
            outcome = FeatureOutcome(job.key, f"its Ray task was lost: {str(exc).splitlines()[0][:300]}")
        self.failures.report(job, outcome)
        return outcome

    def _outcome(self, ray, ref, job: UnitJob) -> UnitOutcome:
        from benchbox import atomic
        from benchbox.record import RunFolder, UnitStatus

        try:
            return ray.get(ref)
        except (ray.exceptions.RayError, OSError) as exc:  # the task itself was lost after its retries
            name, seed = job.key
            message = _LOST.format(attempts=self.retries + 1, error=str(exc).splitlines()[0][:300])
            folder = RunFolder(job.run_dir)
            atomic.write_text(folder.traceback_path(name, seed), f"{message}\n\n{exc}\n")
            folder.write_unit_status(UnitStatus.failed(name, seed, stage="start", error=message))
            return UnitOutcome(name, seed, message, self.retries + 1)
