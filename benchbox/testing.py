"""Conformance check for model plugins: run it on your own model before you publish it.

Example:
    >>> from benchbox.testing import check_model
    >>> from benchbox.models.mean import MeanModel
    >>> check_model(MeanModel).num_predicted_sessions  # doctest: +SKIP
    2
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

from benchbox.cache import Cache
from benchbox.corpus.session import strip_labels
from benchbox.errors import BenchboxError
from benchbox.plugin import ModelContext
from benchbox.registry import validate_model

__all__ = ["CheckResult", "check_model", "tiny_corpus"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    modalities: tuple[str, ...]
    num_predicted_sessions: int
    frames_per_session: dict[str, int]


def tiny_corpus(root: str | Path, *, train: int = 3, dev: int = 2, seconds: float = 4.0, seed: int = 0) -> Path:
    """Write (once) a tiny synthetic corpus at ``root`` and return it."""
    from benchbox.corpus.avec2016 import SYNTHETIC_MARKER
    from benchbox.corpus.synth import synthesize

    root = Path(root)
    if not (root / SYNTHETIC_MARKER).exists():
        synthesize(root, train=train, dev=dev, test=0, seconds=seconds, seed=seed, workers=1)
    return root


def check_model(factory, *, name: str | None = None, corpus_root: str | Path | None = None,
                suite: str = "avec2016", seed: int = 0, device: str = "cpu",
                model_options: dict[str, dict] | None = None) -> CheckResult:
    """Create a model from ``factory``, fit it on a tiny corpus, predict label-free sessions, validate.

    ``model_options`` (``{model: {option: value}}``, as a suite's ``[models.options]``) create the models
    it ``requires`` and reach it as ``ctx.model_options``, as in ``benchbox run``.

    Raises :class:`benchbox.errors.BenchboxError` (with the harness's own message) on any violation
    of the plugin protocol, so a plugin that passes here behaves in ``benchbox run``.
    """
    from benchbox.corpus.avec2016 import load_corpus
    from benchbox.runner import validate_predictions
    from benchbox.suites import load_suite

    model = factory()
    name = name or getattr(model, "name", None) or getattr(factory, "__name__", "model")
    validate_model(model, name)
    suite_obj = load_suite(suite)
    with tempfile.TemporaryDirectory(prefix="benchbox-check-") as tmp:
        root = Path(corpus_root) if corpus_root else tiny_corpus(Path(tmp) / "corpus")
        corpus = load_corpus(root, targets=suite_obj.targets, tolerance_frames=suite_obj.tolerance_frames)
        partitions = suite_obj.partitions(corpus)
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        cache = Cache(Path(tmp) / "cache")
        upstream = {}
        for required in getattr(model, "requires", ()) or ():  # a fusion model: its inputs first
            from benchbox.registry import create_model

            inner = create_model(required, (model_options or {}).get(required))
            inner_ctx = ModelContext(targets=suite_obj.targets, seed=seed, device=device, cache=cache,
                                     scratch_dir=scratch, logger=logging.getLogger(f"benchbox.check.{required}"),
                                     model_options=model_options or {})
            inner.fit(partitions.fit, partitions.select, inner_ctx)
            upstream[required] = validate_predictions(
                required, inner.predict(strip_labels(partitions.select + partitions.test), inner_ctx),
                partitions.select + partitions.test, suite_obj.targets)
        ctx = ModelContext(targets=suite_obj.targets, seed=seed, device=device, cache=cache, scratch_dir=scratch,
                           logger=logging.getLogger(f"benchbox.check.{name}"), upstream=upstream,
                           model_options=model_options or {})
        try:
            model.fit(partitions.fit, partitions.select, ctx)
            raw = model.predict(strip_labels(partitions.test), ctx)
        except BenchboxError:
            raise
        except Exception as exc:
            raise BenchboxError(f"Model {name!r} raised {type(exc).__name__}: {exc}") from exc
        checked = validate_predictions(name, raw, partitions.test, suite_obj.targets)
    return CheckResult(name, tuple(sorted(model.modalities)), len(checked),
                       {k: len(v) for k, v in checked.items()})
