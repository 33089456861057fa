"""The model plugin protocol: what a model must provide and what the harness hands it.

A plugin is a class (or factory) named by an entry point in the group ``benchbox.models``. Its
instances have:

- ``name``: the registered name (the harness sets it from the entry point if the class does not);
- ``modalities``: a subset of ``{"audio", "video"}``;
- ``fit(train, select, ctx)``: learn from labelled sessions; ``select`` is the selection partition
  (model selection, early stopping); never the test partition;
- ``predict(sessions, ctx) -> {session_id: array (num_frames, num_targets)}`` on label-free sessions,
  columns in ``ctx.targets`` order;
- optionally ``profile_info() -> dict`` (cost figures: parameters, FLOPs, preset, ...), a class
  attribute ``description`` (else the first docstring line is used) and a class attribute ``family``
  (``"handcrafted"``, ``"end-to-end"``, ...): a suite can name ``best:<family>`` as a reference system;
- optionally ``requires``: names of models that must run first (same seed); the harness hands their
  final predictions in ``ctx.upstream``;
- optionally ``combines_predictions`` (default: ``bool(requires)``): the model's output is a combination
  of those predictions (late fusion), which are already delay-compensated and post-processed, so it gets
  no annotation-delay search and no post-processing unless the suite sets them for it explicitly. A
  model that only needs its ``requires`` to run first (``e2e-av`` starts from their stored weights) sets
  it to ``False`` and goes through the protocol like any other model;
- optionally ``validate_options()``: checks the options the constructor stored (the constructor itself
  only stores them) and raises :class:`benchbox.errors.BenchboxError` with a message naming the option; the
  harness calls it whenever it creates the model, so a bad option stops a run before it starts;
- optionally ``prepare(device)``: fetches or checks, once per run and before any unit starts, what the model
  needs on that device and cannot get from the corpus (pretrained weights: the e2e visual models fetch
  torchvision's ImageNet ResNet-50 here when a preset asks for it); an exception stops the run before it
  starts, with the model named;
- optionally ``environment_options``: ``{option: environment variable}``. Where the suite gives the model
  no such option, the harness takes it from the variable (if set) and adds it to the run's model options,
  so that a setting made in the environment is part of the run's identity (its folder, ``run.json``) like
  any option (the e2e models: ``{"preset": "BENCHBOX_E2E_PRESET"}``);
- optionally ``framework = "torch"``: ``benchbox run --profile`` records the model's fit and predict with the
  torch profiler (a Chrome trace) instead of cProfile. A model that holds a ``torch.nn.Module`` when it is
  created is recognised without it;
- optionally ``resources = {"num_cpus": 2, "num_gpus": 1, "memory_gb": 8}``: what one fit needs (default one
  CPU, plus one GPU for a torch model on CUDA); the executors schedule by it and give the unit's process as
  many torch and BLAS threads as it holds CPUs;
- optionally ``feature_requests(device) -> [benchbox.features.FeatureRequest, ...]``: per-session steps that
  fill the cache ``fit`` and ``predict`` read; the harness runs them for every session, in parallel, before the
  unit starts (:mod:`benchbox.features`).

The harness measures every unit (wall and CPU time of fit and of each predict, peak memory, parameters
found in the fitted model, see :mod:`benchbox.profiling`); ``profile_info`` adds what only the plugin
knows, and its ``parameters`` and ``flops_per_media_second``, where given, are the figures reported.

Plugin modules must be cheap to import: import torch and other heavy packages inside ``fit``/``predict``
so that ``benchbox models`` stays instant.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import FRAME_STEP_S, LabelledSession, Session

__all__ = ["MODALITIES", "Model", "ModelContext"]

MODALITIES = frozenset({"audio", "video"})


@dataclasses.dataclass(frozen=True)
class ModelContext:
    """Everything the harness lends a model for one (model, seed) unit.

    Attributes:
        targets: Names of the label columns, in the order predictions must use.
        seed: Seed of this unit; the harness has already seeded ``random``, NumPy and (if imported) torch.
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``).
        cache: Content-addressed cache shared by all models and runs.
        scratch_dir: A folder private to this unit (checkpoints, temporary files); kept between resumes.
        logger: Logger for progress messages.
        frame_step_s: Spacing of the label grid.
        upstream: For a model that declares ``requires`` (e.g. late fusion): the final predictions
            (after the harness's delay compensation and post-processing) of each required model, same
            seed, ``{model: {session_id: array (num_frames, num_targets)}}`` for the select and test
            sessions.
        model_options: The options this run gives each model's factory (the suite's ``[models.options]``
            and ``benchbox run --option``), ``{model: {option: value}}``; a model that builds another
            registered model (``e2e-av`` locating the stored weights of ``e2e-video``) creates it with these.
    """

    targets: tuple[str, ...]
    seed: int
    device: str
    cache: Cache
    scratch_dir: Path
    logger: logging.Logger
    frame_step_s: float = FRAME_STEP_S
    upstream: Mapping[str, Mapping[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    model_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Model(Protocol):
    """Structural type of a benchbox model plugin."""

    name: str
    modalities: frozenset[str] | set[str] | tuple[str, ...]

    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        ...

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        ...
