"""Running a suite: every (model, seed) unit fitted, predicted, validated, stored and scored.

A unit that raises or returns bad predictions is marked failed (traceback saved) and the others go on.
Finished units are skipped when the same run folder is used again, so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import random
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchbox import atomic
from benchbox.cache import Cache, benchbox_home
from benchbox.corpus.session import FRAME_STEP_S, Corpus, Session, strip_labels
from benchbox.environment import environment_info
from benchbox.errors import BenchboxError, PredictionError, SuiteError
from benchbox.plugin import ModelContext
from benchbox.protocol import (
    PostProcessing,
    choose_delay,
    delay_shifted_sessions,
    fit_postprocessing,
    shift_predictions,
)
from benchbox.registry import MODEL_GROUP, create_model, did_you_mean, load_entry_point, model_info, model_names
from benchbox.results import RunFolder, frame_table
from benchbox.scoring import SCORE_COLUMNS, score_table
from benchbox.suites import Suite

__all__ = ["RunConfig", "RunSummary", "run_suite", "resolve_models", "validate_predictions", "default_run_dir"]

log = logging.getLogger("benchbox")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    suite: Suite
    corpus: Corpus
    models: list[str]
    seeds: list[int]
    out_dir: Path
    device: str = "cpu"
    test_split: str | None = None
    cache_dir: Path | None = None
    progress: bool = True
    command: str = ""


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    done: list[tuple[str, int]]
    skipped: list[tuple[str, int]]
    failed: list[tuple[str, int, str]]
    report_path: Path | None


def default_run_dir(suite: Suite, corpus: Corpus, test_split: str | None) -> Path:
    """``benchbox-runs/<suite>-<test split>-<fingerprint>``: the same command resumes the same run."""
    split = test_split or suite.definition["partitions"]["test"]["split"]
    return Path("benchbox-runs") / f"{suite.name}-{split}-{suite.fingerprint(corpus.fingerprint)[:10]}"


def resolve_models(requested: Sequence[str] | None, suite: Suite) -> list[str]:
    """Model names to run: the requested ones (checked) or the suite's default."""
    available = model_names()
    if not requested:
        default = suite.default_models
        requested = available if default == "all" else list(default)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise BenchboxError(f"Unknown model {unknown[0]!r}.{did_you_mean(unknown[0], available)}")
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise BenchboxError(f"Models require each other in a cycle: {' -> '.join((*path, name))}.")
        for required in model_info(name).requires:
            if required not in available:
                raise BenchboxError(f"Model {name!r} combines {required!r}, which is not installed."
                                    f"{did_you_mean(required, available)}")
            visit(required, (*path, name))
        ordered.append(name)

    for name in dict.fromkeys(requested):
        visit(name, ())
    return ordered


def with_environment_options(suite: Suite) -> Suite:
    """``suite`` plus the options that installed models take from environment variables (their plugin's
    ``environment_options``) where the suite does not set them, so that they count in the run's identity.

    Every installed model is asked, not only those of this run, so that the run folder does not depend on
    which models a command names (``--models e2e-audio`` resumes the folder of the full run)."""
    extra: dict[str, dict[str, str]] = {}
    for name in model_names():
        factory = load_entry_point(MODEL_GROUP, name)
        for option, variable in dict(getattr(factory, "environment_options", None) or {}).items():
            value = os.environ.get(variable)
            if value and option not in suite.options_for(name):
                extra.setdefault(name, {})[option] = value
    return suite.with_model_options(extra, source="environment variables") if extra else suite


def check_model_options(suite: Suite) -> None:
    """Create every model the suite gives options to, so that a bad option stops the run before any unit
    (and before a run folder named after it) rather than when that model's turn comes."""
    available = model_names()
    for name, options in suite.model_options.items():
        if name not in available:
            raise BenchboxError(f"Options are given to model {name!r} (in {suite.source} or by --option), which is "
                                f"not installed.{did_you_mean(name, available)}")
        try:
            create_model(name, options)
        except BenchboxError as exc:
            raise type(exc)(f"{exc} (options of {name!r} from {suite.source} or --option)") from exc


def _upstream_predictions(folder: RunFolder, model: str, seed: int, requires: Sequence[str],
                          targets: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    upstream = {}
    for required in requires:
        if not folder.is_done(required, seed):
            raise BenchboxError(f"Model {model!r} combines {required!r}, which has no finished predictions "
                                f"for seed {seed} (see its status in {folder.unit_dir(required, seed)}).")
        table = folder.read_predictions(required, seed)
        upstream[required] = {sid: part[list(targets)].to_numpy(dtype=np.float64)
                              for sid, part in table.groupby("session", sort=False)}
    return upstream


def validate_predictions(model: str, predictions, sessions: Sequence[Session], targets: tuple[str, ...]) -> dict:
    """Check a model's output; return float64 arrays or raise PredictionError naming model and session."""
    if not isinstance(predictions, dict):
        raise PredictionError(
            f"Model {model!r}: predict must return a dict {{session_id: array}}. Got {type(predictions).__name__}."
        )
    expected = {s.id for s in sessions}
    missing, extra = sorted(expected - set(predictions)), sorted(set(predictions) - expected)
    if missing:
        raise PredictionError(f"Model {model!r}: no predictions for session(s) {', '.join(missing)}.")
    if extra:
        raise PredictionError(f"Model {model!r}: predictions for unknown session(s) {', '.join(extra)}.")
    checked = {}
    for session in sessions:
        array = np.asarray(predictions[session.id])
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise PredictionError(
                f"Model {model!r}, session {session.id}: predictions must be numeric. Got dtype {array.dtype}."
            )
        if array.ndim == 1 and len(targets) == 1:
            array = array[:, None]
        want = (session.num_frames, len(targets))
        if array.shape != want:
            raise PredictionError(
                f"Model {model!r}, session {session.id}: predictions have shape {array.shape}; expected {want} "
                f"(one row per 40 ms label frame, columns {', '.join(targets)})."
            )
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        if bad.size:
            raise PredictionError(
                f"Model {model!r}, session {session.id}: {bad.size} frame(s) contain NaN or inf "
                f"(first at frame {bad[0]})."
            )
        checked[session.id] = array.astype(np.float64)
    return checked


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


class _StageError(Exception):
    """Carries which stage of a unit raised (create, fit, predict, validate) and the original error."""

    def __init__(self, stage: str, error: Exception) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


def _staged(stage: str, function, *args):
    try:
        return function(*args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # re-raised with the stage attached; the unit's handler records it
        raise _StageError(stage, exc) from exc


def _fit_predict_delay(config: RunConfig, folder: RunFolder, name: str, seed: int, partitions, cache: Cache,
                      delay: int) -> tuple[dict[str, np.ndarray], dict]:
    """Fit a fresh model on labels shifted by ``delay`` frames; predictions shifted back, validated.

    The result is stored in the unit folder, so a killed unit resumes at the next delay.
    """
    unit_dir = folder.unit_dir(name, seed)
    stored = unit_dir / f"delay-{delay}.npz"
    timing_path = unit_dir / f"delay-{delay}.json"
    scored = partitions.select + partitions.test
    if stored.exists() and timing_path.exists():
        with np.load(stored) as data:
            return {s.id: data[s.id] for s in scored}, folder.read_json(timing_path)
    scratch = unit_dir / "scratch" / f"delay-{delay}"
    scratch.mkdir(parents=True, exist_ok=True)
    model = _staged("create", create_model, name, config.suite.options_for(name))
    requires = tuple(getattr(model, "requires", ()) or ())
    upstream = _staged("create", _upstream_predictions, folder, name, seed, requires, config.suite.targets)
    ctx = ModelContext(targets=config.suite.targets, seed=seed, device=config.device, cache=cache,
                       scratch_dir=scratch, logger=logging.getLogger(f"benchbox.model.{name}"), upstream=upstream,
                       model_options=config.suite.model_options)
    missing = [m for m in sorted(model.modalities) if not _corpus_has(config.corpus, m)]
    if missing:
        raise _StageError("create", BenchboxError(
            f"Model {name!r} needs {', '.join(missing)}, which the corpus does not have."))
    _seed_everything(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        _staged("fit", model.fit, delay_shifted_sessions(partitions.fit, delay),
                delay_shifted_sessions(partitions.select, delay), ctx)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        raw = _staged("predict", model.predict, strip_labels(scored), ctx)
        predict_s = time.perf_counter() - started
    model_warnings = _distinct_warnings(caught)
    for message in model_warnings:
        ctx.logger.warning("%s", message)
    checked = _staged("validate", validate_predictions, name, raw, scored, config.suite.targets)
    shifted = {sid: shift_predictions(values, delay) for sid, values in checked.items()}
    profile = dict(model.profile_info()) if callable(getattr(model, "profile_info", None)) else {}
    timing = {"fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3), "profile": profile,
              "warnings": model_warnings}
    with atomic.atomic_path(stored, suffix=".npz") as tmp:
        np.savez(tmp, **shifted)
    atomic.write_json(timing_path, timing)
    return shifted, timing


def _distinct_warnings(caught: Sequence[warnings.WarningMessage], limit: int = 50) -> list[str]:
    """``"Category: message"`` of every distinct warning, in order of first appearance, at most ``limit``.

    Warnings are part of a result (a silent file, a face not found): they go into the unit's status and
    the report, not only to a terminal that may be gone.
    """
    seen = dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught)
    distinct = list(seen)
    if len(distinct) > limit:
        distinct = distinct[:limit] + [f"... and {len(distinct) - limit} more distinct warnings"]
    return distinct


def _protocol_settings(config: RunConfig, name: str):
    return config.suite.protocol(name, combines_predictions=model_info(name).combines_predictions)


def _apply_protocol(config: RunConfig, name: str, partitions, by_delay: dict[int, dict[str, np.ndarray]]):
    """Per target: choose the delay on select, then fit and apply post-processing; returns arrays + record."""
    settings = _protocol_settings(config, name)
    targets = config.suite.targets
    scored = partitions.select + partitions.test
    final = {s.id: np.empty((s.num_frames, len(targets))) for s in scored}
    train_labels = np.concatenate([s.labels for s in partitions.fit])
    record = {"annotation_delay_candidates_s": [d * FRAME_STEP_S for d in sorted(by_delay)], "targets": {}}
    for k, target in enumerate(targets):
        gold = [s.labels[:, k] for s in partitions.select]
        candidates = {d: [preds[s.id][:, k] for s in partitions.select] for d, preds in by_delay.items()}
        delay, delay_scores = choose_delay(gold, candidates)
        chain = PostProcessing()
        history = {}
        if settings.postprocessing:
            chain, history = fit_postprocessing(
                gold, candidates[delay], train_mean=float(train_labels[:, k].mean()),
                train_std=float(train_labels[:, k].std()), median_windows_frames=settings.median_windows_frames)
        for s in scored:
            final[s.id][:, k] = chain.apply(by_delay[delay][s.id][:, k])
        record["targets"][target] = {
            "annotation_delay_s": round(delay * FRAME_STEP_S, 6),
            "select_ccc_by_delay_s": {f"{d * FRAME_STEP_S:g}": v for d, v in delay_scores.items()},
            "postprocessing": chain.as_dict() if settings.postprocessing else None,
            "select_ccc_after_steps": history,
        }
    return final, record


def _run_unit(config: RunConfig, folder: RunFolder, name: str, seed: int, partitions, cache: Cache) -> str | None:
    """Fit and predict one unit under the suite's protocol; returns None on success or the error message."""
    unit_dir = folder.unit_dir(name, seed)
    unit_dir.mkdir(parents=True, exist_ok=True)
    scored = partitions.select + partitions.test
    partition_of = {s.id: "select" for s in partitions.select} | {s.id: "test" for s in partitions.test}
    settings = _protocol_settings(config, name)
    stage = "protocol"
    try:
        by_delay, timings = {}, {}
        for delay in settings.delays_frames:
            by_delay[delay], timings[delay] = _fit_predict_delay(config, folder, name, seed, partitions, cache, delay)
        final, record = _apply_protocol(config, name, partitions, by_delay)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # any plugin error fails this unit only; it is recorded with its traceback
        if isinstance(exc, _StageError):
            delay_note = f" (annotation delay {delay * FRAME_STEP_S:g} s)" if len(settings.delays_frames) > 1 else ""
            stage, exc = exc.stage + delay_note, exc.error
        message = f"{type(exc).__name__} during {stage}: {exc}"
        atomic.write_text(unit_dir / "traceback.txt", traceback.format_exc())
        atomic.write_json(folder.status_path(name, seed), {
            "status": "failed", "stage": stage, "error": message,
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
        return message
    media_s = sum(s.duration_s for s in scored)
    predict_s = float(np.mean([t["predict_s"] for t in timings.values()]))
    folder.write_frame(folder.predictions_path(name, seed), frame_table(partition_of, final, config.suite.targets))
    atomic.write_json(folder.status_path(name, seed), {
        "status": "done",
        "fit_s": round(sum(t["fit_s"] for t in timings.values()), 3),
        "fits": len(timings),
        "predict_s": round(predict_s, 3),
        "predict_real_time_factor": round(predict_s / media_s, 6) if media_s else None,
        "profile": timings[settings.delays_frames[0]]["profile"],
        "warnings": list(dict.fromkeys(w for t in timings.values() for w in t.get("warnings", []))),
        "protocol": record,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    return None


def _corpus_has(corpus: Corpus, modality: str) -> bool:
    attribute = "audio_path" if modality == "audio" else "video_path"
    return all(getattr(s, attribute) is not None for s in corpus.sessions)


def _check_existing(folder: RunFolder, fingerprint: str, test_split: str, suite: Suite) -> None:
    if not folder.run_json.exists():
        return
    previous = folder.read_run()
    if previous.get("suite_fingerprint") != fingerprint or previous.get("test_split") != test_split:
        before = ((previous.get("suite") or {}).get("definition") or {}).get("models", {}).get("options", {})
        if before != suite.model_options and previous.get("test_split") == test_split:
            raise SuiteError(
                f"{folder.root} holds a run made with other model options ({json.dumps(before, sort_keys=True)}; "
                f"now {json.dumps(suite.model_options, sort_keys=True)}). Options, from the suite file, --option "
                f"or a plugin's environment variable such as $BENCHBOX_E2E_PRESET, are part of a run's identity. "
                f"Choose another --out folder, or give the same options."
            )
        raise SuiteError(
            f"{folder.root} holds a run of another suite version, corpus or test partition "
            f"(fingerprint {str(previous.get('suite_fingerprint'))[:10]}, now {fingerprint[:10]}). "
            f"Choose another --out folder."
        )


def _write_scores(folder: RunFolder, config: RunConfig, gold: pd.DataFrame) -> pd.DataFrame:
    tables = [
        score_table(gold, folder.read_predictions(model, seed), model=model, seed=seed,
                    targets=config.suite.targets, metrics=config.suite.metrics)
        for model, seed in folder.finished_units()
        if model in config.models and seed in config.seeds
    ]
    scores = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SCORE_COLUMNS)
    with atomic.atomic_path(folder.scores_path) as tmp:
        scores.to_csv(tmp, index=False)
    return scores


def _run_json(config: RunConfig, partitions, fingerprint: str, units: dict) -> dict:
    corpus = config.corpus
    models = []
    for name in config.models:
        info = model_info(name)
        models.append({"name": name, "package": info.package, "entry_point": info.target,
                       "modalities": list(info.modalities), "description": info.description,
                       "family": info.family, "options": config.suite.options_for(name),
                       "units": units.get(name, {})})
    return {
        "benchbox_run_format": 1,
        "suite": {"name": config.suite.name, "version": config.suite.version, "source": config.suite.source,
                  "definition_sha256": config.suite.definition_hash, "definition": config.suite.definition},
        "suite_fingerprint": fingerprint,
        "option_files": config.suite.option_files(),
        "corpus": {"root": str(corpus.root), "fingerprint": corpus.fingerprint, "synthetic": corpus.synthetic,
                   "generator": corpus.generator, "description": corpus.description,
                   "num_sessions": len(corpus)},
        "targets": list(config.suite.targets),
        "test_split": partitions.test_split,
        "partitions": partitions.as_dict(),
        "references": config.suite.references,
        "models": models,
        "seeds": config.seeds,
        "entry_point_group": MODEL_GROUP,
        "environment": environment_info(config.device),
        "command": config.command,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_suite(config: RunConfig) -> RunSummary:
    """Run every (model, seed) unit of ``config`` into ``config.out_dir`` and write scores and report."""
    from tqdm.auto import tqdm

    config = dataclasses.replace(config, suite=with_environment_options(config.suite))
    check_model_options(config.suite)
    partitions = config.suite.partitions(config.corpus, test_split=config.test_split)
    fingerprint = config.suite.fingerprint(config.corpus.fingerprint)
    folder = RunFolder(config.out_dir)
    _check_existing(folder, fingerprint, partitions.test_split, config.suite)
    folder.root.mkdir(parents=True, exist_ok=True)

    gold = frame_table(
        {s.id: "select" for s in partitions.select} | {s.id: "test" for s in partitions.test},
        {s.id: s.labels for s in partitions.select + partitions.test},
        config.suite.targets,
    )
    folder.write_frame(folder.gold_path, gold)
    cache = Cache(config.cache_dir or benchbox_home() / "cache")
    atomic.write_json(folder.run_json, _run_json(config, partitions, fingerprint, {}))

    done, skipped, failed = [], [], []
    units = [(m, s) for m in config.models for s in config.seeds]
    bar = tqdm(units, desc="benchbox", unit="unit", disable=not config.progress, file=sys.stderr)
    for name, seed in bar:
        bar.set_postfix_str(f"{name} seed {seed}")
        if folder.is_done(name, seed):
            skipped.append((name, seed))
            continue
        error = _run_unit(config, folder, name, seed, partitions, cache)
        if error is None:
            done.append((name, seed))
        else:
            failed.append((name, seed, error))
            log.error("model %s, seed %d failed: %s (traceback in %s)", name, seed, error,
                      folder.unit_dir(name, seed) / "traceback.txt")
    bar.close()

    unit_status = {}
    for name, seed in units:
        status = folder.unit_status(name, seed) or {"status": "missing"}
        unit_status.setdefault(name, {})[str(seed)] = status
    atomic.write_json(folder.run_json, _run_json(config, partitions, fingerprint, unit_status))
    _write_scores(folder, config, gold)
    report = finish_run(folder.root)
    return RunSummary(folder.root, done, skipped, failed, report)


def finish_run(run_dir: Path, *, alpha: float = 0.05, resamples: int = 10_000) -> Path | None:
    """Write the statistics (``stats.json``) and the reports of a run folder from what it holds."""
    from benchbox.report_hooks import write_reports
    from benchbox.stats import write_run_stats

    folder = RunFolder(run_dir)
    run = folder.read_run()
    references = resolve_references(run.get("references", []), run, folder)
    write_run_stats(folder.root, references=references, alpha=alpha, resamples=resamples)
    return write_reports(folder.root)


def resolve_references(references: Sequence[str], run: dict, folder: RunFolder) -> list[str]:
    """Concrete reference models: names as given; ``best:<family>`` becomes the model of that family
    with the best mean global CCC on the *select* partition (never chosen on the test partition)."""
    resolved = []
    for reference in references:
        if not reference.startswith("best:"):
            resolved.append(reference)
            continue
        family = reference.removeprefix("best:")
        candidates = [m["name"] for m in run.get("models", []) if m.get("family") == family]
        if not candidates or not folder.scores_path.exists():
            continue
        scores = pd.read_csv(folder.scores_path, dtype={"session": str})
        select = scores[(scores["partition"] == "select") & (scores["scope"] == "global")
                        & (scores["metric"] == "ccc") & (scores["model"].isin(candidates))]
        if select.empty:
            continue
        best = select.groupby("model")["value"].mean().idxmax()
        if best not in resolved:
            resolved.append(best)
    return resolved
