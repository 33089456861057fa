"""Families of comparisons: what a suite's statistics are about, declared in the suite file.

A family is a set of paired comparisons (model against reference, every target) that share one Holm
correction. The suite declares them under ``[[statistics.families]]``, in order of importance (the first is
the primary family)::

    [[statistics.families]]
    name = "end-to-end vs best handcrafted"
    models = ["family:end-to-end"]
    references = ["best:handcrafted"]
    alternative = "two-sided"

Selectors in ``models`` and ``references``: a model name; ``family:<f>`` (every model of the run whose plugin
declares ``family = "<f>"``); ``best:<f>`` (the model of family f with the best mean global CCC on the
*select* partition, never chosen on the scored partition); ``all`` (every model of the run). A model that is
also a reference of the family is compared only with the references declared before it. ``alternative``:
``two-sided`` or ``greater`` (one-sided: the model is better than the reference). Every other pair of
models is compared too, two-sided, as exploratory tests with a Benjamini-Hochberg correction over the whole
matrix.

A suite without families but with ``[models] references`` (older suite files) gets one family: every model
against each reference, two-sided.

Example:
    >>> spec = FamilySpec("primary", models=("family:end-to-end",), references=("best:handcrafted",))
    >>> resolve_family(spec, model_families={"a": "end-to-end", "b": "handcrafted", "c": "handcrafted"},
    ...                select_ccc={"b": 0.4, "c": 0.6}).pairs
    [('a', 'c')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from benchbox.errors import SuiteError

__all__ = ["FamilySpec", "ResolvedFamily", "parse_families", "resolve_family", "resolve_selector",
           "FAMILY_ALTERNATIVES"]

FAMILY_ALTERNATIVES = ("two-sided", "greater")
_KEYS = {"name", "description", "models", "references", "alternative"}


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """A declared family of comparisons (see the module docstring)."""

    name: str
    models: tuple[str, ...]
    references: tuple[str, ...]
    alternative: str = "two-sided"
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ResolvedFamily:
    """A family on one run: its (model, reference) pairs, and notes on what could not be resolved."""

    spec: FamilySpec
    pairs: list[tuple[str, str]]
    notes: list[str]


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    from benchbox.registry import did_you_mean

    return did_you_mean(name, list(choices))


def _check_selector(selector: Any, where: str, known_models: Sequence[str] | None) -> None:
    if not isinstance(selector, str) or not selector:
        raise SuiteError(f"{where} must list model names or selectors (family:<f>, best:<f>, all). "
                         f"Got {selector!r} instead.")
    if selector == "all" or selector.startswith(("family:", "best:")):
        if selector.partition(":")[2] == "" and selector != "all":
            raise SuiteError(f"{where}: the selector {selector!r} names no family (e.g. 'best:handcrafted').")
        return
    if known_models is not None and selector not in known_models:
        raise SuiteError(f"{where}: unknown model {selector!r}.{_did_you_mean(selector, known_models)}")


def parse_families(definition: Mapping[str, Any], source: str,
                   known_models: Sequence[str] | None = None) -> list[FamilySpec]:
    """The families a suite definition declares (validated; SuiteError names the file, family and field).

    ``known_models``: installed model names to check plain names against (None: not checked, e.g. when
    reading a finished run's definition).
    """
    statistics = definition.get("statistics", {}) or {}
    declared = statistics.get("families")
    if declared is None:
        references = list((definition.get("models") or {}).get("references", []))
        for reference in references:
            _check_selector(reference, f"{source}: [models] references", known_models)
        if not references:
            return []
        return [FamilySpec("every model against the references", models=("all",), references=tuple(references),
                           description="Declared by [models] references.")]
    if not isinstance(declared, list) or not declared:
        raise SuiteError(f"{source}: [[statistics.families]] must be a non-empty array of tables. "
                         f"Got {declared!r} instead.")
    families, names = [], set()
    for k, table in enumerate(declared):
        where = f"{source}: [[statistics.families]] #{k + 1}"
        if not isinstance(table, dict):
            raise SuiteError(f"{where} must be a table. Got {table!r} instead.")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise SuiteError(f"{where}: unknown key {unknown[0]!r}.{_did_you_mean(unknown[0], sorted(_KEYS))}")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SuiteError(f"{where} needs a 'name' (text). Got {name!r} instead.")
        where = f"{source}: family {name!r}"
        if name in names:
            raise SuiteError(f"{where} is declared twice; family names must be unique.")
        names.add(name)
        for field in ("models", "references"):
            selectors = table.get(field)
            if not isinstance(selectors, list) or not selectors:
                raise SuiteError(f"{where}: {field!r} must be a non-empty list of models or selectors. "
                                 f"Got {selectors!r} instead; a family without {field} compares nothing.")
            for selector in selectors:
                _check_selector(selector, f"{where} {field}", known_models)
        alternative = table.get("alternative", "two-sided")
        if alternative not in FAMILY_ALTERNATIVES:
            raise SuiteError(f"{where}: 'alternative' must be one of {list(FAMILY_ALTERNATIVES)}. "
                             f"Got {alternative!r} instead.")
        families.append(FamilySpec(name=name, models=tuple(table["models"]), references=tuple(table["references"]),
                                   alternative=alternative, description=str(table.get("description", ""))))
    return families


def resolve_selector(selector: str, *, model_families: Mapping[str, str],
                     select_ccc: Mapping[str, float]) -> list[str]:
    """The models of a run that ``selector`` names (in the run's order); empty if none."""
    if selector == "all":
        return list(model_families)
    kind, _, value = selector.partition(":")
    if kind == "family" and value:
        return [m for m, family in model_families.items() if family == value]
    if kind == "best" and value:
        scored = {m: select_ccc[m] for m, family in model_families.items() if family == value and m in select_ccc}
        return [max(scored, key=scored.__getitem__)] if scored else []
    return [selector] if selector in model_families else []


def resolve_family(spec: FamilySpec, *, model_families: Mapping[str, str],
                   select_ccc: Mapping[str, float]) -> ResolvedFamily:
    """The (model, reference) pairs of ``spec`` among ``model_families`` (``{model: plugin family}`` of the
    models with usable predictions, in the run's order); ``select_ccc``: each model's mean global CCC on
    the select partition (for ``best:``)."""
    notes = []

    def expand(selectors: Sequence[str], field: str) -> list[str]:
        found: list[str] = []
        for selector in selectors:
            models = resolve_selector(selector, model_families=model_families, select_ccc=select_ccc)
            if not models:
                notes.append(f"Family {spec.name!r}: {field} {selector!r} names no model with usable predictions "
                             f"in this run.")
            found += [m for m in models if m not in found]
        return found

    references = expand(spec.references, "reference")
    selected = expand(spec.models, "model")
    models = [m for m in selected if m not in references]
    # a reference the models also select is compared with the references declared before it
    pairs = [(model, reference) for j, reference in enumerate(references)
             for model in models + [r for r in references[j + 1:] if r in selected]]
    if not pairs:
        notes.append(f"Family {spec.name!r} has no comparison in this run.")
    return ResolvedFamily(spec, pairs, notes)
