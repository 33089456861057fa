"""Conformance check for model plugins: run it on your own model before you publish it.

Example:
    >>> from benchbox.testing import check_model
    >>> from benchbox.models.mean import MeanModel
    >>> check_model(MeanModel).num_predicted_sessions  # doctest: +SKIP
    2
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from benchbox.cache import Cache
from benchbox.registry import factory_info, model_names

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

    The model goes through the unit lifecycle of ``benchbox run`` (:func:`benchbox.units.run_unit`): the
    models it ``requires`` run first (same seed) and hand it their final predictions; it is created from
    ``factory`` with its options, fitted, asked to predict the label-free select and test sessions, its
    predictions validated and put through the suite's protocol. One difference keeps the check quick: one
    annotation-delay candidate (0 s) instead of the suite's list.

    ``model_options`` (``{model: {option: value}}``, as a suite's ``[models.options]``) are the factories'
    keyword arguments and reach the model as ``ctx.model_options``; options the factories take from
    environment variables (``environment_options``) are added as in ``benchbox run``.

    Raises :class:`benchbox.units.UnitFailure` (a :class:`benchbox.errors.BenchboxError`) with the message
    ``benchbox run`` stores for the same violation of the plugin protocol, so a plugin that passes here
    behaves in ``benchbox run``.
    """
    from benchbox.corpus.avec2016 import load_corpus
    from benchbox.specs import order_by_requires, registered_spec, spec_for_factory
    from benchbox.suites import load_suite
    from benchbox.suites.suite import ProtocolSettings
    from benchbox.units import MemoryCandidates, UnitInputs, run_unit

    if name is None:  # a factory such as ``lambda: model`` declares no name: its model does
        name = getattr(factory, "name", None) or getattr(factory(), "name", None) or getattr(factory, "__name__",
                                                                                             "model")
    options = dict(model_options or {})
    spec = spec_for_factory(factory, name, options.get(name))
    model = spec.create()  # options and plugin protocol checked before any data is touched
    spec.prepare(device, model)  # what it fetches before a run (pretrained weights), as the harness does
    # what the model declares, read from the instance (a factory such as ``lambda: model`` declares nothing)
    spec = dataclasses.replace(spec, info=factory_info(name, model, package=spec.info.package,
                                                       target=spec.info.target))
    specs = {name: spec}

    def requires_of(model: str) -> tuple[str, ...]:
        if model not in specs:
            specs[model] = registered_spec(model, options.get(model))
        return specs[model].requires

    order = order_by_requires([name], requires_of, [*model_names(), name])
    suite_obj = load_suite(suite)
    with tempfile.TemporaryDirectory(prefix="benchbox-check-") as tmp:
        root = Path(corpus_root) if corpus_root else tiny_corpus(Path(tmp) / "corpus")
        corpus = load_corpus(root, targets=suite_obj.targets, tolerance_frames=suite_obj.tolerance_frames)
        partitions = suite_obj.partitions(corpus)
        inputs = UnitInputs(partitions=partitions, targets=suite_obj.targets, frame_step_s=suite_obj.frame_step_s,
                            device=device, cache=Cache(Path(tmp) / "cache"),
                            model_options={m: dict(s.options) for m, s in specs.items()},
                            corpus_modalities=corpus.modalities)
        final: dict[str, dict] = {}
        for model in order:
            current = specs[model]
            settings = suite_obj.protocol(model, combines_predictions=current.info.combines_predictions)
            settings = ProtocolSettings(delays_frames=(0,), postprocessing=settings.postprocessing,
                                        median_windows_frames=settings.median_windows_frames)
            result = run_unit(current, seed, inputs, settings,
                              upstream={r: final[r] for r in current.requires},
                              store=MemoryCandidates(Path(tmp) / "units" / model))
            final[model] = result.predictions
    test = {s.id: final[name][s.id] for s in partitions.test}
    return CheckResult(name, tuple(sorted(spec.info.modalities)), len(test), {k: len(v) for k, v in test.items()})
