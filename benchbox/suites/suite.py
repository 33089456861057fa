"""Loading and validating suite files, and resolving their partitions on a corpus."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from benchbox.corpus.session import FRAME_STEP_S, Corpus, LabelledSession
from benchbox.errors import BenchboxError, SuiteError
from benchbox.metrics import METRICS
from benchbox.registry import did_you_mean

__all__ = ["Suite", "Partitions", "ProtocolSettings", "builtin_suite_names", "load_suite"]

_SCHEMA: dict[str, set[str]] = {
    "": {"name", "version", "description", "corpus", "partitions", "scoring", "models", "protocol", "statistics",
         "check"},
    "statistics": {"families", "block_s"},
    "protocol": {"annotation_delay_s", "postprocessing", "median_filter_s", "per_model"},
    "protocol_override": {"annotation_delay_s", "postprocessing", "median_filter_s"},
    "corpus": {"layout", "targets", "label_media_tolerance_frames", "embedded"},
    "partitions": {"fit", "select", "test"},
    "partition": {"split", "last_fraction"},
    "scoring": {"headline_metric", "headline_scope", "metrics"},
    "models": {"default", "references", "seeds", "options"},
}


def _odd(frames: int) -> int:
    return frames if frames % 2 else frames + 1


@dataclasses.dataclass(frozen=True)
class ProtocolSettings:
    """What the harness does around one model: delay candidates (frames) and post-processing."""

    delays_frames: tuple[int, ...] = (0,)
    postprocessing: bool = False
    median_windows_frames: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Partitions:
    """The sessions a run fits on, selects on and scores on."""

    fit: list[LabelledSession]
    select: list[LabelledSession]
    test: list[LabelledSession]
    test_split: str

    def as_dict(self) -> dict[str, list[str]]:
        return {"fit": [s.id for s in self.fit], "select": [s.id for s in self.select],
                "test": [s.id for s in self.test]}


@dataclasses.dataclass(frozen=True)
class Suite:
    """A validated suite definition. Build with :func:`load_suite`."""

    name: str
    version: str
    description: str
    source: str
    definition: dict[str, Any]
    #: Where each model option came from (``{model: {option: source}}``): the suite file, ``--option``,
    #: an environment variable. Provenance only: not part of the definition or its hash.
    option_sources: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def frame_step_s(self) -> float:
        """Spacing of the label grid of the suite's corpus layout (AVEC 2016: 40 ms)."""
        return FRAME_STEP_S

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.definition["corpus"]["targets"])

    @property
    def embedded_corpus(self) -> dict[str, Any] | None:
        """The size of the embedded synthetic corpus this suite runs on by default (``[corpus] embedded``),
        or None for benchbox's default size."""
        embedded = self.definition["corpus"].get("embedded")
        return dict(embedded) if embedded else None

    @property
    def tolerance_frames(self) -> int:
        return int(self.definition["corpus"].get("label_media_tolerance_frames", 5))

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.definition["scoring"]["metrics"])

    @property
    def headline(self) -> tuple[str, str]:
        scoring = self.definition["scoring"]
        return scoring["headline_metric"], scoring["headline_scope"]

    @property
    def default_models(self) -> str | list[str]:
        return self.definition["models"].get("default", "all")

    @property
    def references(self) -> list[str]:
        return list(self.definition["models"].get("references", []))

    @property
    def default_seeds(self) -> int:
        return int(self.definition["models"].get("seeds", 1))

    @property
    def model_options(self) -> dict[str, dict[str, Any]]:
        """Keyword arguments for each model's factory, ``{model: {option: value}}`` (``[models.options.<name>]``
        tables and ``benchbox run --option``). Part of the definition, so they change the suite's hash."""
        return copy.deepcopy(self.definition["models"].get("options", {}))

    def options_for(self, model: str) -> dict[str, Any]:
        """The options given to ``model`` (empty if none)."""
        return self.model_options.get(model, {})

    def with_model_options(self, options: dict[str, dict[str, Any]], *, source: str = "--option") -> Suite:
        """A copy of this suite with ``options`` merged over its ``[models.options]`` (per model, per key).

        Example:
            >>> suite = load_suite("avec2016").with_model_options({"e2e-video": {"preset": "paper"}})
            >>> suite.options_for("e2e-video")
            {'preset': 'paper'}
        """
        definition = copy.deepcopy(self.definition)
        merged = definition["models"].setdefault("options", {})
        sources = copy.deepcopy(self.option_sources)
        for model, table in options.items():
            merged.setdefault(model, {}).update(table)
            sources.setdefault(model, {}).update(dict.fromkeys(table, source))
        _validate_options(merged, f"{self.source} with {source}")
        return dataclasses.replace(self, definition=definition, option_sources=sources)

    def protocol(self, model: str, *, combines_predictions: bool = False) -> ProtocolSettings:
        """Annotation delay candidates and post-processing policy for ``model`` (suite-wide + override).

        A model that combines other models' predictions (late fusion) gets no delay search and no
        post-processing unless the suite's ``[protocol.per_model.<name>]`` says otherwise.
        """
        table = dict(self.definition.get("protocol", {}))
        override = table.pop("per_model", {}).get(model, {})
        if combines_predictions:
            table.update(annotation_delay_s=[0.0], postprocessing=False)
        table.update(override)
        step = FRAME_STEP_S
        delays = sorted({int(round(s / step)) for s in table.get("annotation_delay_s", [0.0])})
        medians = sorted({_odd(int(round(s / step))) for s in table.get("median_filter_s", [])})
        return ProtocolSettings(delays_frames=tuple(delays), postprocessing=bool(table.get("postprocessing", False)),
                                median_windows_frames=tuple(medians))

    @property
    def definition_hash(self) -> str:
        text = json.dumps(self.definition, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def option_files(self) -> dict[str, str]:
        """``{path: SHA-256}`` of every model option whose value names an existing file (a weights file):
        a run's identity covers what such a file holds, not only its path."""
        from benchbox.cache import file_sha256

        return {value: file_sha256(value) for options in self.model_options.values() for value in options.values()
                if isinstance(value, str) and value and Path(value).is_file()}

    def fingerprint(self, corpus_fingerprint: str) -> str:
        """Hash of the suite definition together with the corpus' file manifest (and the content of the
        files that model options name)."""
        files = self.option_files()
        extra = f":{json.dumps(files, sort_keys=True)}" if files else ""
        return hashlib.sha256(f"{self.definition_hash}:{corpus_fingerprint}{extra}".encode()).hexdigest()

    def partitions(self, corpus: Corpus, *, test_split: str | None = None) -> Partitions:
        """Resolve fit / select / test sessions on ``corpus``; SuiteError if a partition is empty."""
        spec = self.definition["partitions"]
        select = _resolve(spec["select"], corpus, "select")
        select_ids = {s.id for s in select}
        fit = [s for s in _resolve(spec["fit"], corpus, "fit") if s.id not in select_ids]
        test_spec = dict(spec["test"])
        if test_split is not None:
            test_spec = {"split": test_split}
        test = _resolve(test_spec, corpus, "test")
        for name, sessions in (("fit", fit), ("select", select), ("test", test)):
            if not sessions:
                raise SuiteError(
                    f"Suite {self.name!r}: the {name!r} partition is empty on {corpus.root} "
                    f"(splits present: {', '.join(f'{k} ({len(corpus.split(k))})' for k in corpus.splits)})."
                )
        overlap = {s.id for s in test} & ({s.id for s in fit} | select_ids)
        if overlap:
            raise SuiteError(f"Suite {self.name!r}: test sessions {sorted(overlap)} are also used for fitting.")
        return Partitions(fit=fit, select=select, test=test, test_split=test_spec["split"])


def _resolve(spec: dict[str, Any], corpus: Corpus, role: str) -> list[LabelledSession]:
    sessions = corpus.split(spec["split"])
    fraction = spec.get("last_fraction")
    if fraction is None or not sessions:
        return sessions
    count = max(1, math.floor(len(sessions) * fraction + 0.5))
    if count >= len(sessions):
        raise SuiteError(
            f"The {role!r} partition takes the last {count} of {len(sessions)} {spec['split']!r} sessions, "
            f"leaving none to fit on; the corpus needs at least 2 {spec['split']!r} sessions."
        )
    return sessions[-count:]


def builtin_suite_names() -> list[str]:
    folder = resources.files("benchbox.suites")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _check_keys(table: dict[str, Any], section: str, source: str) -> None:
    allowed = _SCHEMA[section]
    for key in table:
        if key not in allowed:
            where = f"[{section}]" if section else "top level"
            raise SuiteError(f"{source}: unknown key {key!r} at {where}.{did_you_mean(key, sorted(allowed))}")


def _validate_embedded(embedded: Any, source: str) -> None:
    from benchbox.corpus.default import EMBEDDED_KEYS

    if embedded is None:
        return
    if not isinstance(embedded, dict) or not set(embedded) <= EMBEDDED_KEYS:
        raise SuiteError(f"{source}: [corpus] embedded must be a table with keys among {sorted(EMBEDDED_KEYS)}. "
                         f"Got {embedded!r} instead.")
    for key, value in embedded.items():
        ok = value > 0 if key == "seconds" else value >= 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok or \
                (key != "seconds" and not isinstance(value, int)):
            raise SuiteError(f"{source}: [corpus] embedded.{key} must be a "
                             f"{'positive number of seconds' if key == 'seconds' else 'non-negative integer'}. "
                             f"Got {value!r} instead.")


def _validate(definition: dict[str, Any], source: str) -> None:
    _check_keys(definition, "", source)
    for key in ("name", "version", "corpus", "partitions", "scoring", "models"):
        if key not in definition:
            raise SuiteError(f"{source}: missing required key {key!r}.")
    for section in ("corpus", "partitions", "scoring", "models"):
        _check_keys(definition[section], section, source)
    corpus = definition["corpus"]
    if corpus.get("layout") != "avec2016":
        raise SuiteError(f"{source}: [corpus] layout must be 'avec2016'. Got {corpus.get('layout')!r} instead.")
    _validate_embedded(corpus.get("embedded"), source)
    if "check" in definition:  # thresholds of `benchbox check`, validated here so a typo stops the run early
        from benchbox.gate.thresholds import parse_check_table

        try:
            parse_check_table(definition["check"], f"{source} [check]")
        except BenchboxError as exc:
            raise SuiteError(str(exc)) from None
    targets = corpus.get("targets")
    if not targets or not all(isinstance(t, str) for t in targets):
        raise SuiteError(f"{source}: [corpus] targets must be a non-empty list of names. Got {targets!r} instead.")
    for role in ("fit", "select", "test"):
        spec = definition["partitions"].get(role)
        if not isinstance(spec, dict) or "split" not in spec:
            raise SuiteError(f"{source}: [partitions] {role} must be a table with a 'split'. Got {spec!r} instead.")
        _check_keys(spec, "partition", f"{source} [partitions] {role}")
        fraction = spec.get("last_fraction")
        if fraction is not None and not 0 < fraction < 1:
            raise SuiteError(f"{source}: [partitions] {role}.last_fraction must be in (0, 1). Got {fraction!r}.")
    scoring = definition["scoring"]
    for metric in scoring.get("metrics", []):
        if metric not in METRICS:
            raise SuiteError(f"{source}: unknown metric {metric!r}.{did_you_mean(metric, list(METRICS))}")
    if scoring.get("headline_metric") not in scoring.get("metrics", []):
        raise SuiteError(f"{source}: [scoring] headline_metric must be one of the listed metrics.")
    if scoring.get("headline_scope") not in ("global", "session"):
        raise SuiteError(f"{source}: [scoring] headline_scope must be 'global' or 'session'.")
    protocol = definition.get("protocol", {})
    _check_keys(protocol, "protocol", source)
    tables = [("[protocol]", protocol)]
    for model, override in protocol.get("per_model", {}).items():
        _check_keys(override, "protocol_override", f"{source} [protocol.per_model.{model}]")
        tables.append((f"[protocol.per_model.{model}]", override))
    for where, table in tables:
        for key in ("annotation_delay_s", "median_filter_s"):
            values = table.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, int | float) and 0 <= v <= 30 for v in values):
                raise SuiteError(f"{source}: {where} {key} must be a list of seconds in [0, 30]. Got {values!r}.")
        if "annotation_delay_s" in table and not table["annotation_delay_s"]:
            raise SuiteError(f"{source}: {where} annotation_delay_s must not be empty (use [0.0] for no delay).")
    _validate_statistics(definition, source)
    seeds = definition["models"].get("seeds", 1)
    if not isinstance(seeds, int) or seeds < 1:
        raise SuiteError(f"{source}: [models] seeds must be a positive integer. Got {seeds!r} instead.")
    _validate_options(definition["models"].get("options", {}), source)


def _validate_statistics(definition: dict[str, Any], source: str) -> None:
    """Families of comparisons (plain model names must be installed models) and a calibrated block length."""
    from benchbox.registry import model_names
    from benchbox.stats.calibration import adopted_block_s, block_calibration
    from benchbox.stats.families import parse_families

    statistics = definition.get("statistics", {})
    _check_keys(statistics, "statistics", source)
    parse_families(definition, source, known_models=model_names())
    block_s = statistics.get("block_s")
    if block_s is None:
        return
    if not isinstance(block_s, int | float) or isinstance(block_s, bool) or block_s <= 0:
        raise SuiteError(f"{source}: [statistics] block_s must be a positive number of seconds. Got {block_s!r}.")
    if float(block_s) not in adopted_block_s():
        measured = "; ".join(f"{k}: {v['null_rejection_rate']:.3f}" for k, v in block_calibration(block_s).items())
        raise SuiteError(
            f"{source}: [statistics] block_s = {block_s:g} is not a calibrated block length: the within-session "
            f"block test keeps its size (null rejection rate at alpha 0.05 within [0.02, 0.08]) only at "
            f"{adopted_block_s() or 'none of the lengths studied'}"
            + (f"; measured at {block_s:g} s: {measured}" if measured else "")
            + ". Remove block_s (sessions are then the units) or run python -m benchbox.stats.simulation."
        )


def _validate_options(options: Any, source: str) -> None:
    if not isinstance(options, dict):
        raise SuiteError(f"{source}: [models] options must be a table of tables ([models.options.<model>]). "
                         f"Got {options!r} instead.")
    for model, table in options.items():
        if not isinstance(table, dict):
            raise SuiteError(f"{source}: [models.options.{model}] must be a table of option = value. "
                             f"Got {table!r} instead.")
        for key, value in table.items():
            if not key.isidentifier():
                raise SuiteError(f"{source}: [models.options.{model}] option names must be Python identifiers "
                                 f"(keyword arguments of the model). Got {key!r} instead.")
            try:
                json.dumps(value)
            except TypeError:
                raise SuiteError(f"{source}: [models.options.{model}] {key} must be a string, number, boolean, "
                                 f"array or table. Got {type(value).__name__} {value!r} instead.") from None


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """Load a built-in suite by name (``"avec2016"``) or a suite file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise SuiteError(f"Suite file {candidate} does not exist.")
        text, source = candidate.read_text(encoding="utf-8"), str(candidate)
    else:
        names = builtin_suite_names()
        if str(name_or_path) not in names:
            raise SuiteError(f"Unknown suite {str(name_or_path)!r}.{did_you_mean(str(name_or_path), names)}")
        resource = resources.files("benchbox.suites") / f"{name_or_path}.toml"
        text, source = resource.read_text(encoding="utf-8"), f"benchbox/suites/{name_or_path}.toml"
    try:
        definition = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{source}: not valid TOML ({exc}).") from exc
    _validate(definition, source)
    options = definition["models"].get("options", {})
    return Suite(
        name=definition["name"],
        version=str(definition["version"]),
        description=definition.get("description", ""),
        source=source,
        definition=definition,
        option_sources={model: dict.fromkeys(table, source) for model, table in options.items()},
    )
