"""The jobs of a run and what each waits for, handed out in critical-path order to any executor.

A run is a graph: feature jobs (:mod:`benchbox.features`, one per session and modality), unit jobs (one per
model and seed) and, where there are more cores than units, candidate jobs (one per annotation-delay candidate
of a unit, fitted in parallel before the unit's protocol step). A unit waits for the feature jobs of the
modalities it requested, for the units it ``requires`` (same seed) and for its candidate jobs.
:class:`TaskGraph` tells an executor which jobs may start now, most urgent first: a job's rank is the number of
units and candidates on the longest chain of jobs that wait on it, itself included (a feature
job, seconds per session where a unit takes minutes, counts for nothing), so a unit that others wait for
(``e2e-audio``, which ``e2e-av`` needs) starts before one that nothing waits for (``egemaps-xgb``), and a
feature job ranks with the most urgent unit that reads it. Between equal ranks the job that holds more CPUs
starts first, so that the largest job is not left for the end, then a unit before a feature job: once the
audio features of every session are in, ``e2e-audio`` (the longest unit) starts while the video features are
still being extracted on the other cores, instead of after them (feature jobs are listed audio first). The
local and the Ray executors both schedule through it, so both start work in the same order.

:func:`cpu_shares` decides how the cores are split between units that declare several CPUs (the e2e models ask
for 4): units that may run at the same time share them. On 2 cores, ``e2e-audio`` and ``e2e-video`` (neither
waits for the other) get one core each and run side by side, and ``e2e-av``, which waits for both, gets both;
with 8 cores each gets its 4. A unit given 2 threads trains only ~1.5x faster than on 1, so side by side the
run ends sooner (the cold default run on 2 cores: see the README). The split follows from the run's units and
cores alone, never from what happens to be running, so a unit's thread count, hence its floating-point
results, is the same in every run of the same command, resumed or not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from benchbox.executors.job import CandidateJob, UnitJob
from benchbox.features import FeatureJob

__all__ = ["TaskGraph", "cpu_shares", "unit_key", "feature_key", "candidate_key", "key_of"]


def unit_key(name: str, seed: int) -> tuple:
    return ("unit", name, seed)


def feature_key(session_id: str, modality: str) -> tuple:
    return ("features", session_id, modality)


def candidate_key(name: str, seed: int, delay_frames: int) -> tuple:
    return ("candidate", name, seed, delay_frames)


def key_of(job) -> tuple:
    """The graph key of a unit, candidate or feature job."""
    if isinstance(job, CandidateJob):
        return candidate_key(*job.key, job.delay_frames)
    if isinstance(job, FeatureJob):
        return feature_key(*job.key)
    return unit_key(*job.key)


def cpu_shares(units: Sequence[tuple[str, int, Sequence[str], float]]) -> dict[tuple[str, int], int]:
    """For each unit ``(model, seed, requires, num_cpus)`` of a run (every unit, finished ones included, so that
    a resumed run splits the cores as the first did), how many units that hold more than one CPU may run
    at the same time as it, itself included: it and the wide units that neither wait for it nor are waited
    for by it (through ``requires``, same seed). An executor gives a unit ``min(num_cpus, cores // share)``
    CPUs, at least one. A unit of one CPU has share 1."""
    requires = {(name, seed): {(r, seed) for r in needs} for name, seed, needs, _ in units}
    wide = [(name, seed) for name, seed, _, cpus in units if cpus > 1]

    def upstream(key: tuple[str, int], seen: set) -> set:
        for before in requires.get(key, ()):
            if before not in seen:
                seen.add(before)
                upstream(before, seen)
        return seen

    before = {key: upstream(key, set()) for key in requires}
    shares = {key: 1 for key in requires}
    for key in wide:
        shares[key] = 1 + sum(1 for other in wide if other != key and other not in before[key]
                              and key not in before[other])
    return shares


class TaskGraph:
    """Feature and unit jobs with their dependencies.

    Args:
        units: the unit jobs to run.
        features: the feature jobs to run.
        needs: for a unit ``(model, seed)``, the ``(session, modality)`` keys of the feature jobs it waits for.
        candidates: delay candidates fitted as jobs of their own (:class:`~benchbox.executors.job.CandidateJob`):
            each waits for what its unit waits for, and the unit waits for them.
        cpus: the CPUs a job holds, for the tie-break between equally long chains (default 1 each).
    """

    def __init__(self, units: Sequence[UnitJob], features: Sequence[FeatureJob] = (),
                 needs: Mapping[tuple[str, int], Iterable[tuple[str, str]]] | None = None,
                 cpus=None, candidates: Sequence[CandidateJob] = ()) -> None:
        self.jobs: dict[tuple, UnitJob | FeatureJob | CandidateJob] = {}
        for job in [*features, *candidates, *units]:
            self.jobs[key_of(job)] = job
        unit_keys = {unit_key(*job.key) for job in units}
        self.waits: dict[tuple, set[tuple]] = {key: set() for key in self.jobs}
        for job in units:
            key = unit_key(*job.key)
            self.waits[key] |= {unit_key(r, job.seed) for r in job.spec.requires} & unit_keys
            self.waits[key] |= {feature_key(*f) for f in (needs or {}).get(job.key, ())} & set(self.jobs)
        for job in candidates:
            unit = unit_key(*job.key)
            self.waits[key_of(job)] |= set(self.waits[unit])
        for job in candidates:
            self.waits[unit_key(*job.key)].add(key_of(job))
        self._cpus = cpus or (lambda job: 1)
        self._rank = self._ranks()
        order = {key: i for i, key in enumerate(self.jobs)}
        self.pending: list[tuple] = sorted(self.jobs, key=lambda k: (-self._rank[k], -self._cpus(self.jobs[k]),
                                                                     k[0] == "features", order[k]))
        self.finished: set[tuple] = set()

    def _ranks(self) -> dict[tuple, int]:
        waiting_on: dict[tuple, list[tuple]] = {key: [] for key in self.jobs}
        for key, waits in self.waits.items():
            for before in waits:
                waiting_on[before].append(key)
        rank: dict[tuple, int] = {}

        def visit(key: tuple) -> int:
            if key not in rank:
                weight = 0 if key[0] == "features" else 1  # seconds per session, where a unit takes minutes
                rank[key] = weight + max((visit(after) for after in waiting_on[key]), default=0)
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

    def pending_of(self, kind: str) -> bool:
        """Whether a job of ``kind`` ("unit", "candidate", "features") has yet to start."""
        return any(key[0] == kind for key in self.pending)
