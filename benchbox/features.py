"""Feature extraction as tasks of their own: what a model declares it reads from each session's media.

A plugin may declare the cache-filling steps its fit and predict will need, one :class:`FeatureRequest` per
step, through an optional method ``feature_requests(device) -> Sequence[FeatureRequest]``. A request names a
module-level function ``function(session, cache, **params)`` that fills the content-addressed cache for one
session (it computes nothing on a hit). Before a run's units start, the harness turns the requests of every
unit it will run into **feature jobs**, one per (session, modality): the distinct requests on that modality
(equal requests of two models run once), in the order the models declared them. The executors run them in
parallel beside the units (:mod:`benchbox.executors`); a unit starts once the feature jobs of the modalities it
requested are finished. The video steps of one session run in one job, one after the other, so that face
tracking, which several video requests share through the cache, runs once per session.

Feature jobs only fill the cache: the unit still reads its features through the same cached functions, so a
run gives the same results whether the features were extracted beforehand or inside the unit. A feature job
that fails is reported and its units go on: they compute what is missing themselves and, if the error is
real, fail with the traceback in their own folder.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbox.cache import Cache
from benchbox.corpus.session import Session
from benchbox.errors import BenchboxError

__all__ = ["FeatureRequest", "FeatureJob", "FeatureOutcome", "FeatureFailures", "feature_requests", "feature_jobs",
           "run_feature_job"]

log = logging.getLogger("benchbox")

_MODALITIES = ("audio", "video")


@dataclasses.dataclass(frozen=True)
class FeatureRequest:
    """One cache-filling step on one modality of every session.

    Attributes:
        function: ``"module:name"`` of a function ``function(session, cache, **params) -> None`` that fills
            the cache for one session (importable in a fresh process: a module-level function).
        modality: ``"audio"`` or ``"video"``: the media the step reads (sessions without it are skipped).
        params: keyword arguments of the function (JSON-serialisable: they are part of the request's identity).
        label: a short name for progress and logs (default: the function's name).
    """

    function: str
    modality: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if self.modality not in _MODALITIES:
            raise BenchboxError(f"FeatureRequest {self.function!r}: 'modality' must be one of {list(_MODALITIES)}. "
                                f"Got {self.modality!r} instead.")
        module, _, name = self.function.partition(":")
        if not module or not name:
            raise BenchboxError(f"FeatureRequest: 'function' must be 'module:name'. Got {self.function!r} instead.")
        try:
            json.dumps(dict(self.params), sort_keys=True)
        except TypeError as exc:
            raise BenchboxError(f"FeatureRequest {self.function!r}: 'params' must be JSON-serialisable ({exc}).") \
                from None

    @property
    def key(self) -> str:
        """The request's identity: two models asking for the same function and parameters share one step."""
        return json.dumps({"function": self.function, "params": dict(self.params)}, sort_keys=True)

    @property
    def name(self) -> str:
        return self.label or self.function.partition(":")[2]

    def resolve(self):
        module, _, name = self.function.partition(":")
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        return target


def feature_requests(model: Any, device: str, *, owner: str) -> list[FeatureRequest]:
    """The requests ``model`` declares for ``device`` (none if it declares no ``feature_requests``)."""
    method = getattr(model, "feature_requests", None)
    if method is None:
        return []
    requests = list(method(device) or ())
    wrong = [r for r in requests if not isinstance(r, FeatureRequest)]
    if wrong:
        raise BenchboxError(f"{owner}: feature_requests() must return FeatureRequest objects "
                            f"(benchbox.features.FeatureRequest). Got {wrong[0]!r} instead.")
    return requests


@dataclasses.dataclass(frozen=True)
class FeatureJob:
    """The feature steps of one (session, modality), run in order in one process."""

    session: Session
    modality: str
    requests: tuple[FeatureRequest, ...]
    cache_root: Path

    @property
    def key(self) -> tuple[str, str]:
        return self.session.id, self.modality

    @property
    def description(self) -> str:
        return f"{self.modality} features of session {self.session.id} ({', '.join(r.name for r in self.requests)})"


@dataclasses.dataclass(frozen=True)
class FeatureOutcome:
    """How a feature job ended: ``error`` None when every step ran."""

    key: tuple[str, str]
    error: str | None
    seconds: float = 0.0


def feature_jobs(requests: Sequence[FeatureRequest], sessions: Sequence[Session], cache_root: Path) -> list[FeatureJob]:
    """One job per (session, modality) that some request reads, holding the distinct requests in order;
    sessions appear in the order given, audio before video."""
    distinct: dict[str, FeatureRequest] = {}
    for request in requests:
        distinct.setdefault(request.key, request)
    jobs = []
    for modality in _MODALITIES:
        steps = tuple(r for r in distinct.values() if r.modality == modality)
        if not steps:
            continue
        for session in sessions:
            path = session.audio_path if modality == "audio" else session.video_path
            if path is not None:
                jobs.append(FeatureJob(session.without_labels(), modality, steps, Path(cache_root)))
    return jobs


def run_feature_job(job: FeatureJob) -> FeatureOutcome:
    """Run every step of ``job`` (in this process); an error ends the job and is returned, not raised."""
    started = time.perf_counter()
    cache = Cache(job.cache_root)
    for request in job.requests:
        try:
            request.resolve()(job.session, cache, **dict(request.params))
        except Exception as exc:  # reported; the units that need the step compute it themselves
            return FeatureOutcome(job.key, f"{request.name}: {type(exc).__name__}: {exc}",
                                  time.perf_counter() - started)
    return FeatureOutcome(job.key, None, time.perf_counter() - started)


class FeatureFailures:
    """Logs failed feature jobs, once per distinct error (a broken step fails on every session alike)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def report(self, job: FeatureJob, outcome: FeatureOutcome) -> None:
        if outcome.error is None:
            return
        self.seen[outcome.error] = self.seen.get(outcome.error, 0) + 1
        if self.seen[outcome.error] == 1:
            log.warning("%s failed (%s); the units that need it compute it themselves (other sessions that fail "
                        "the same way are not reported again)", job.description, outcome.error)
