"""Model specs: which models a run creates, with which options, resolved once before the run starts.

A :class:`ModelSpec` is a model name, the keyword arguments of its factory (the suite's
``[models.options.<name>]``, ``benchbox run --option``, and options a plugin takes from environment
variables, ``environment_options``), where each option came from, and their content hash. The CLI, the
runner and :func:`benchbox.testing.check_model` all build specs here (:func:`resolve_run_models`,
:func:`spec_for_factory`); units create their models from specs only.

Example:
    >>> from benchbox.suites import load_suite
    >>> resolved = resolve_run_models(load_suite("avec2016"), ["mean"])
    >>> resolved.names, resolved.specs[0].options
    (['mean'], {})
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbox.errors import BenchboxError, RegistryError
from benchbox.registry import (
    MODEL_GROUP,
    ModelInfo,
    build_model,
    did_you_mean,
    factory_info,
    load_entry_point,
    model_info,
    model_names,
)
from benchbox.suites import Suite

log = logging.getLogger("benchbox")

__all__ = ["ModelSpec", "ResolvedModels", "resolve_run_models", "spec_for_factory", "environment_options",
           "with_environment_options", "order_by_requires"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a unit needs to create its model: name, factory options and where they came from.

    Attributes:
        name: The registered name (the entry-point name).
        options: Keyword arguments of the factory.
        option_sources: ``{option: where it was set}`` (suite file, ``--option``, ``$VARIABLE``).
        info: What the factory declares (modalities, family, requires, combines_predictions, package).
        factory: The factory; ``None`` means the registered entry point of ``name``.
    """

    name: str
    options: Mapping[str, Any]
    option_sources: Mapping[str, str]
    info: ModelInfo
    factory: Callable[..., Any] | None = None

    @property
    def requires(self) -> tuple[str, ...]:
        return self.info.requires

    def resources(self, device: str) -> dict[str, float]:
        """What one unit of this model needs on ``device``: the plugin's ``resources``, with one GPU for a
        torch model on a CUDA device unless the plugin says otherwise, and one CPU by default."""
        needs = {"num_cpus": 1.0, **self.info.resources}
        if device.startswith("cuda") and self.info.framework == "torch":
            needs.setdefault("num_gpus", 1.0)
        return needs

    def create(self):
        """A fresh, checked model (see :func:`benchbox.registry.build_model`)."""
        factory = self.factory if self.factory is not None else load_entry_point(MODEL_GROUP, self.name)
        return build_model(factory, self.name, self.options)

    def prepare(self, device: str, model=None) -> None:
        """Call the plugin's optional ``prepare(device)`` (fetch or check what it needs on ``device``, e.g.
        pretrained weights) on ``model`` or a fresh one; BenchboxError naming the model if it fails."""
        prepare = getattr(self.create() if model is None else model, "prepare", None)
        if not callable(prepare):
            return
        try:
            prepare(device)
        except BenchboxError:
            raise
        except Exception as exc:  # a plugin's own failure: its message, with the model named
            raise BenchboxError(f"Model {self.name!r}: preparing it for {device} raised {type(exc).__name__}: "
                                f"{exc}") from exc

    def options_sha256(self) -> str:
        """Hash of the options and of the content of files they name (see
        :func:`benchbox.record.options_sha256`)."""
        from benchbox.cache import file_sha256
        from benchbox.record import options_sha256

        files = {v: file_sha256(v) for v in self.options.values() if isinstance(v, str) and v and Path(v).is_file()}
        return options_sha256(self.options, files)


@dataclasses.dataclass(frozen=True)
class ResolvedModels:
    """The suite with every option the run uses (environment options included) and the run's specs in the
    order they run (a model after the models it ``requires``)."""

    suite: Suite
    specs: tuple[ModelSpec, ...]

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def spec(self, name: str) -> ModelSpec:
        return next(spec for spec in self.specs if spec.name == name)


def environment_options(factory, given: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The options ``factory`` takes from environment variables (its ``environment_options``,
    ``{option: variable}``) where ``given`` does not set them and the variable is set."""
    environ = os.environ if environ is None else environ
    found = {}
    for option, variable in dict(getattr(factory, "environment_options", None) or {}).items():
        value = environ.get(variable)
        if value and option not in given:
            found[option] = value
    return found


def _variables(factory) -> dict[str, str]:
    return dict(getattr(factory, "environment_options", None) or {})


def with_environment_options(suite: Suite) -> Suite:
    """``suite`` plus the options that installed models take from environment variables where the suite
    does not set them, so that they count in the run's identity (its hash, its folder).

    Every installed model is asked, not only those of this run, so that the run folder does not depend on
    which models a command names (``--models e2e-audio`` resumes the folder of the full run)."""
    suite_after = suite
    for name in model_names():
        try:
            factory = load_entry_point(MODEL_GROUP, name)
        except RegistryError:  # a broken plugin takes no options; it fails if a run asks for it
            continue
        extra = environment_options(factory, suite_after.options_for(name))
        for option, value in extra.items():
            source = f"${_variables(factory)[option]}"
            suite_after = suite_after.with_model_options({name: {option: value}}, source=source)
    return suite_after


def _importable(names: Sequence[str]) -> list[str]:
    """``names`` without the plugins that fail to import (each logged): "all models" means all that work."""
    usable = []
    for name in names:
        try:
            model_info(name)
        except RegistryError as exc:
            log.warning("model %s is left out of this run: %s", name, exc)
            continue
        usable.append(name)
    return usable


def order_by_requires(requested: Sequence[str], requires_of: Callable[[str], Sequence[str]],
                      available: Sequence[str]) -> list[str]:
    """``requested`` plus what they require, each model after the models it requires; errors name a cycle
    or a required model that is not installed."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise BenchboxError(f"Models require each other in a cycle: {' -> '.join((*path, name))}.")
        for required in requires_of(name):
            if required not in available:
                raise BenchboxError(f"Model {name!r} combines {required!r}, which is not installed."
                                    f"{did_you_mean(required, list(available))}")
            visit(required, (*path, name))
        ordered.append(name)

    for name in dict.fromkeys(requested):
        visit(name, ())
    return ordered


def resolve_run_models(suite: Suite, requested: Sequence[str] | None = None) -> ResolvedModels:
    """The specs of a run, checked before it starts (and before a run folder is named after it).

    ``requested``: model names (default: the suite's default, i.e. every installed model); the models they
    ``require`` are added and run first. Options: the suite's (with ``--option`` merged in) and the
    environment's. Every model of the run, and every model the suite gives options to, is created once and
    checked (:func:`benchbox.registry.build_model`), so that a bad option stops the run before any unit.
    """
    available = model_names()
    if not requested:
        default = suite.default_models
        requested = _importable(available) if default == "all" else list(default)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise BenchboxError(f"Unknown model {unknown[0]!r}.{did_you_mean(unknown[0], available)}")
    infos: dict[str, ModelInfo] = {}

    def info(name: str) -> ModelInfo:  # each plugin's entry point loaded once per resolution
        if name not in infos:
            infos[name] = model_info(name)
        return infos[name]

    names = order_by_requires(requested, lambda n: info(n).requires, available)
    suite = with_environment_options(suite)
    for name in suite.model_options:
        if name not in available:
            raise BenchboxError(f"Options are given to model {name!r} (in {suite.source} or by --option), which is "
                                f"not installed.{did_you_mean(name, available)}")
    specs = tuple(ModelSpec(name, suite.options_for(name), suite.option_sources.get(name, {}), info(name))
                  for name in names)
    for name in dict.fromkeys([*names, *suite.model_options]):
        try:
            ModelSpec(name, suite.options_for(name), {}, info(name)).create()
        except BenchboxError as exc:
            raise type(exc)(f"{exc} (options of {name!r} from {suite.source} or --option)") from exc
    return ResolvedModels(suite, specs)


def spec_for_factory(factory, name: str, options: Mapping[str, Any] | None = None) -> ModelSpec:
    """A spec for a factory that may not be registered (``check_model`` on a user's class): the given
    options plus those the factory takes from environment variables, as in a run."""
    given = dict(options or {})
    extra = environment_options(factory, given)
    sources = {**dict.fromkeys(given, "model_options"),
               **{option: f"${_variables(factory)[option]}" for option in extra}}
    target = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"
    info = factory_info(name, factory, package="(not installed)", target=target)
    return ModelSpec(name, {**given, **extra}, sources, info, factory=factory)


def registered_spec(name: str, options: Mapping[str, Any] | None = None) -> ModelSpec:
    """A spec for a registered model (see :func:`spec_for_factory`)."""
    spec = spec_for_factory(load_entry_point(MODEL_GROUP, name), name, options)
    return dataclasses.replace(spec, info=model_info(name), factory=None)
