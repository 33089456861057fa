"""The jobs of a run and what each waits for, handed out in critical-path order to any executor.

A run is a graph: feature jobs (:mod:`benchbox.features`, one per session and modality) and unit jobs (one per
model and seed). A unit waits for the feature jobs of the modalities it requested and for the units it
``requires`` (same seed). :class:`TaskGraph` tells an executor which jobs may start now, most urgent first: a
job's rank is the length of the longest chain of jobs that wait on it, itself included, so feature jobs come
before the units that read them and a unit that others wait for (``e2e-audio``, which ``e2e-av`` needs) before
one that nothing waits for (``egemaps-xgb``). Between equally long chains the job that holds more CPUs starts
first, so that the largest job is not left for the end. The local and the Ray executors both schedule through
it, so both start work in the same order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from benchbox.executors.job import UnitJob
from benchbox.features import FeatureJob

__all__ = ["TaskGraph", "unit_key", "feature_key"]


def unit_key(name: str, seed: int) -> tuple:
    return ("unit", name, seed)


def feature_key(session_id: str, modality: str) -> tuple:
    return ("features", session_id, modality)


class TaskGraph:
    """Feature and unit jobs with their dependencies.

    Args:
        units: the unit jobs to run.
        features: the feature jobs to run.
        needs: for a unit ``(model, seed)``, the ``(session, modality)`` keys of the feature jobs it waits for.
        cpus: the CPUs a job holds, for the tie-break between equally long chains (default 1 each).
    """

    def __init__(self, units: Sequence[UnitJob], features: Sequence[FeatureJob] = (),
                 needs: Mapping[tuple[str, int], Iterable[tuple[str, str]]] | None = None,
                 cpus=None) -> None:
        self.jobs: dict[tuple, UnitJob | FeatureJob] = {}
        for job in features:
            self.jobs[feature_key(*job.key)] = job
        for job in units:
            self.jobs[unit_key(*job.key)] = job
        unit_keys = {unit_key(*job.key) for job in units}
        self.waits: dict[tuple, set[tuple]] = {key: set() for key in self.jobs}
        for job in units:
            key = unit_key(*job.key)
            self.waits[key] |= {unit_key(r, job.seed) for r in job.spec.requires} & unit_keys
            self.waits[key] |= {feature_key(*f) for f in (needs or {}).get(job.key, ())} & set(self.jobs)
        self._cpus = cpus or (lambda job: 1)
        self._rank = self._ranks()
        order = {key: i for i, key in enumerate(self.jobs)}
        self.pending: list[tuple] = sorted(self.jobs, key=lambda k: (-self._rank[k], -self._cpus(self.jobs[k]),
                                                                     order[k]))
        self.finished: set[tuple] = set()

    def _ranks(self) -> dict[tuple, int]:
        waiting_on: dict[tuple, list[tuple]] = {key: [] for key in self.jobs}
        for key, waits in self.waits.items():
            for before in waits:
                waiting_on[before].append(key)
        rank: dict[tuple, int] = {}

        def visit(key: tuple) -> int:
            if key not in rank:
                rank[key] = 1 + max((visit(after) for after in waiting_on[key]), default=0)
            return rank[key]

        for key in self.jobs:
            visit(key)
        return rank

    def rank(self, key: tuple) -> int:
        return self._rank[key]

    def ready(self) -> list[tuple]:
        """Keys of the pending jobs whose dependencies have all finished, most urgent first."""
        return [key for key in self.pending if self.waits[key] <= self.finished]

    def start(self, key: tuple) -> UnitJob | FeatureJob:
        self.pending.remove(key)
        return self.jobs[key]

    def finish(self, key: tuple) -> None:
        self.finished.add(key)

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def units(self) -> list[UnitJob]:
        return [job for key, job in self.jobs.items() if key[0] == "unit"]
