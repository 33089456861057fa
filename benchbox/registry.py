"""One registry for model plugins, fed only by the ``benchbox.models`` entry-point group.

Listing names reads package metadata only; :func:`model_info` imports the plugin's module (which
must be cheap: see :mod:`benchbox.plugin`) but never instantiates heavy state.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from benchbox.errors import RegistryError
from benchbox.plugin import MODALITIES

__all__ = ["MODEL_GROUP", "MODEL_NAME_PATTERN", "ModelInfo", "model_entry_points", "model_names", "model_info",
           "refused_model_names", "factory_info",
           "create_model", "build_model", "load_entry_point", "did_you_mean", "validate_model"]

MODEL_GROUP = "benchbox.models"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    name: str
    modalities: tuple[str, ...]
    package: str
    description: str
    target: str  # "module:attr" of the entry point
    family: str = ""  # optional plugin attribute: "reference", "handcrafted", "end-to-end", ...
    requires: tuple[str, ...] = ()  # models that run first; their predictions are in ctx.upstream
    #: The model's output combines its ``requires``' final predictions (late fusion): no delay search and no
    #: post-processing by default. Plugin attribute ``combines_predictions``; absent: ``bool(requires)``.
    combines_predictions: bool = False
    #: What one fit needs (plugin attribute ``resources``): ``num_cpus``, ``num_gpus``, ``memory_gb``.
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)
    framework: str = ""  # plugin attribute ``framework``: "torch" for torch models


#: The keys a plugin's ``resources`` may set.
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory_gb")


def _resources(factory, name: str) -> dict[str, float]:
    declared = getattr(factory, "resources", None) or {}
    if not isinstance(declared, Mapping) or not set(declared) <= set(RESOURCE_KEYS) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in declared.values()):
        raise RegistryError(f"Plugin {name!r}: 'resources' must map some of {list(RESOURCE_KEYS)} to non-negative "
                            f"numbers. Got {declared!r} instead.")
    return {k: float(v) for k, v in declared.items()}


def _group(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        previous = found.get(ep.name)
        if previous is not None and previous.value != ep.value:
            raise RegistryError(
                f"Two plugins register the name {ep.name!r} in {group!r}: {previous.value} "
                f"({_package(previous)}) and {ep.value} ({_package(ep)}). Uninstall or rename one."
            )
        found[ep.name] = ep
    return dict(sorted(found.items()))


def _package(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


#: A model name is used in paths (``predictions/<model>/``) and on the command line: lower-case letters,
#: digits, ``.``, ``_`` and ``-``, starting with a letter or digit.
MODEL_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


def _name_problem(ep: EntryPoint) -> str | None:
    if MODEL_NAME_PATTERN.match(ep.name) and len(ep.name) <= 100:
        return None
    return (f"The model name {ep.name!r} (entry point {ep.value}, package {_package(ep)}) is not allowed: names "
            f"are lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 "
            f"characters (they become folder names). Rename the entry point.")


def model_entry_points() -> dict[str, EntryPoint]:
    """Entry points of every installed model plugin with an allowed name, by name."""
    return {name: ep for name, ep in _group(MODEL_GROUP).items() if _name_problem(ep) is None}


def refused_model_names() -> dict[str, str]:
    """Installed model entry points whose name is not allowed, with the reason (``benchbox models`` lists
    them; they cannot be run)."""
    return {name: problem for name, ep in _group(MODEL_GROUP).items() if (problem := _name_problem(ep))}


def model_names() -> list[str]:
    return list(model_entry_points())


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} Available: {', '.join(choices) or 'none'}."


def load_entry_point(group: str, name: str):
    """Load ``name`` from an entry-point group, with "did you mean" for unknown names."""
    eps = _group(group)
    if group == MODEL_GROUP and name in eps and (problem := _name_problem(eps[name])):
        raise RegistryError(problem)
    if name not in eps:
        kind = "model" if group == MODEL_GROUP else f"plugin of {group!r}"
        raise RegistryError(f"Unknown {kind} {name!r}.{did_you_mean(name, list(eps))}")
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plugin must be named, whatever it raised
        raise RegistryError(
            f"Plugin {name!r} ({eps[name].value}, package {_package(eps[name])}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _description(obj) -> str:
    text = getattr(obj, "description", None) or inspect.getdoc(obj) or ""
    return text.strip().splitlines()[0] if text.strip() else ""


def model_info(name: str) -> ModelInfo:
    """Name, modalities, providing package and one-line description of a registered model."""
    factory = load_entry_point(MODEL_GROUP, name)
    ep = model_entry_points()[name]
    return factory_info(name, factory, package=_package(ep), target=ep.value)


def factory_info(name: str, factory, *, package: str, target: str) -> ModelInfo:
    """What a model factory's class attributes declare (modalities, family, requires, ...), as a ModelInfo."""
    modalities = getattr(factory, "modalities", ())
    requires = tuple(getattr(factory, "requires", ()) or ())
    combines = getattr(factory, "combines_predictions", None)
    return ModelInfo(name, tuple(sorted(modalities)), package, _description(factory), target,
                     str(getattr(factory, "family", "") or ""), requires,
                     bool(requires) if combines is None else bool(combines), _resources(factory, name),
                     str(getattr(factory, "framework", "") or ""))


def create_model(name: str, options: Mapping[str, Any] | None = None):
    """Instantiate a registered model with ``options`` as keyword arguments of its factory (a suite's
    ``[models.options.<name>]``) and check it (see :func:`build_model`)."""
    return build_model(load_entry_point(MODEL_GROUP, name), name, options)


def build_model(factory, name: str, options: Mapping[str, Any] | None = None):
    """``factory(**options)``, checked: the options must be keyword arguments the factory takes, the model
    must follow the plugin protocol (:func:`validate_model`), and its optional ``validate_options()`` (where
    a plugin checks its options: files exist, names are known) must pass. The constructor itself only
    stores its parameters, so that creating a model is cheap and checking it is one step."""
    options = dict(options or {})
    if options:
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin or C factory: let the call itself tell
            signature = None
        if signature is not None:
            try:
                signature.bind(**options)
            except TypeError as exc:
                accepted = [p.name for p in signature.parameters.values()
                            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
                rejected = sorted(set(options) - set(accepted)) or sorted(options)
                raise RegistryError(
                    f"Model {name!r} does not accept the option(s) {', '.join(rejected)} ({exc}). "
                    f"Its factory {getattr(factory, '__qualname__', factory)!s} takes: "
                    f"{', '.join(accepted) or 'no keyword arguments'}."
                ) from exc
    try:
        model = factory(**options)
    except Exception as exc:
        raise RegistryError(f"Model {name!r}: creating it raised {type(exc).__name__}: {exc}") from exc
    validate_model(model, name)
    check = getattr(model, "validate_options", None)
    if callable(check):
        try:
            check()
        except RegistryError:
            raise
        except Exception as exc:  # a plugin's own check: its message, with the model named
            raise RegistryError(f"Model {name!r}: {exc}") from exc
    return model


def validate_model(model, name: str) -> None:
    """Raise RegistryError unless ``model`` has the attributes of :class:`benchbox.plugin.Model`."""
    if not getattr(model, "name", None):
        try:
            model.name = name
        except AttributeError:
            pass
    for attribute in ("fit", "predict"):
        if not callable(getattr(model, attribute, None)):
            raise RegistryError(f"Model {name!r} has no callable {attribute!r}; see benchbox.plugin.Model.")
    modalities = getattr(model, "modalities", None)
    if modalities is None or not set(modalities) <= MODALITIES:
        raise RegistryError(
            f"The 'modalities' attribute of model {name!r} must be a subset of {sorted(MODALITIES)}. "
            f"Got {modalities!r} instead."
        )
    if model.name != name:
        raise RegistryError(
            f"Model registered as {name!r} calls itself {model.name!r}; the entry-point name and the "
            f"model's 'name' attribute must agree."
        )
