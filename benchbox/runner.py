"""Running a suite: every (model, seed) unit run through :mod:`benchbox.units`, stored and scored.

A unit that raises or returns bad predictions is marked failed (traceback saved) and the others go on.
Finished units are skipped when the same run folder is used again, so an interrupted run resumes; so are
the annotation-delay candidates a unit had finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchbox.cache import Cache, benchbox_home
from benchbox.corpus.session import Corpus
from benchbox.environment import environment_info
from benchbox.errors import BenchboxError, SuiteError
from benchbox.executors import (
    EXECUTORS,
    LocalExecutor,
    UnitJob,
    UnitOutcome,
    available_cores,
    cpu_shares,
    without_scored_labels,
)
from benchbox.features import FeatureOutcome, feature_jobs, feature_requests
from benchbox.record import (
    CorpusInfo,
    EnvironmentInfo,
    ModelEntry,
    RunFolder,
    RunRecord,
    SuiteInfo,
    UnitStatus,
    frame_table,
    now_utc,
)
from benchbox.registry import MODEL_GROUP
from benchbox.scoring import SCORE_COLUMNS, score_table
from benchbox.specs import ModelSpec, resolve_run_models
from benchbox.suites import Suite
from benchbox.units import UnitInputs

__all__ = ["RunConfig", "RunSummary", "run_suite", "default_run_dir", "finish_run", "score_run"]

log = logging.getLogger("benchbox")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One run: a suite with every option it uses, the corpus, the resolved model specs, seeds, output.

    Build it with :meth:`create`, which resolves the models once (:func:`benchbox.specs.resolve_run_models`).
    """

    suite: Suite
    corpus: Corpus
    models: tuple[ModelSpec, ...]
    seeds: list[int]
    out_dir: Path
    device: str = "cpu"
    test_split: str | None = None
    cache_dir: Path | None = None
    progress: bool = True
    command: str = ""
    jobs: int | None = None  # CPU cores the run uses at a time (default: the cores available)
    unit_timeout_s: float | None = None
    unit_memory_mb: int | None = None
    executor: str = "local"  # "local" or "ray" (benchbox.executors)
    ray_address: str | None = None
    retries: int | None = None  # unit restarts after a kill (default: 0 local, 2 ray)
    timing_repeats: int = 1  # predict calls per delay candidate, each timed
    profile: bool = False  # profiler output of every fit and predict in the unit folders

    def __post_init__(self) -> None:
        if not all(isinstance(spec, ModelSpec) for spec in self.models):
            raise TypeError("RunConfig.models must hold ModelSpec objects; build the config with "
                            "RunConfig.create(suite, corpus, models=[names], ...).")
        if self.executor not in EXECUTORS:
            raise BenchboxError(f"The 'executor' parameter of RunConfig must be one of {list(EXECUTORS)}. "
                                f"Got {self.executor!r} instead.")

    @classmethod
    def create(cls, suite: Suite, corpus: Corpus, *, models: Sequence[str] | None = None,
               seeds: Sequence[int] = (0,), out_dir: str | Path | None = None, **settings) -> RunConfig:
        """Resolve ``models`` (default: the suite's) with the suite's and the environment's options; the
        run folder defaults to :func:`default_run_dir`."""
        resolved = resolve_run_models(suite, models)
        out = Path(out_dir) if out_dir is not None else default_run_dir(resolved.suite, corpus,
                                                                         settings.get("test_split"))
        return cls(suite=resolved.suite, corpus=corpus, models=resolved.specs, seeds=list(seeds), out_dir=out,
                   **settings)

    @property
    def model_names(self) -> list[str]:
        return [spec.name for spec in self.models]


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    done: list[tuple[str, int]]
    skipped: list[tuple[str, int]]
    failed: list[tuple[str, int, str]]
    report_path: Path | None
    leaderboard_path: Path | None = None


def default_run_dir(suite: Suite, corpus: Corpus, test_split: str | None) -> Path:
    """``benchbox-runs/<suite>-<test split>-<fingerprint>``: the same command resumes the same run."""
    split = test_split or suite.definition["partitions"]["test"]["split"]
    return Path("benchbox-runs") / f"{suite.name}-{split}-{suite.fingerprint(corpus.fingerprint)[:10]}"


def _check_existing(folder: RunFolder, fingerprint: str, test_split: str, suite: Suite) -> None:
    if not folder.exists():
        return
    previous = folder.read_run()
    if previous.suite_fingerprint == fingerprint and previous.test_split == test_split:
        return
    before = previous.suite.definition.get("models", {}).get("options", {})
    if before != suite.model_options and previous.test_split == test_split:
        raise SuiteError(
            f"{folder.root} holds a run made with other model options ({json.dumps(before, sort_keys=True)}; "
            f"now {json.dumps(suite.model_options, sort_keys=True)}). Options, from the suite file, --option "
            f"or a plugin's environment variable such as $BENCHBOX_E2E_PRESET, are part of a run's identity. "
            f"Choose another --out folder, or give the same options."
        )
    raise SuiteError(
        f"{folder.root} holds a run of another suite version, corpus or test partition "
        f"(fingerprint {previous.suite_fingerprint[:10]}, now {fingerprint[:10]}). Choose another --out folder."
    )


def score_run(run_dir: str | Path) -> pd.DataFrame:
    """Rebuild ``scores.csv`` from the stored gold standard and predictions of every finished unit the run
    record lists, and return it. Scores are derived, never trusted: a truncated or stale ``scores.csv`` is
    replaced, and a unit whose predictions are gone or do not read back is left out."""
    folder = RunFolder(run_dir)
    run = folder.read_run()
    targets = tuple(run.targets)
    metrics = tuple(run.suite.definition.get("scoring", {}).get("metrics", ("ccc", "pearson", "rmse")))
    gold = folder.read_gold(targets)
    listed = {(entry.name, seed) for entry in run.models for seed in entry.units}
    tables = [score_table(gold, folder.read_predictions(model, seed, targets), model=model, seed=seed,
                          targets=targets, metrics=metrics)
              for model, seed in folder.finished_units() if (model, seed) in listed]
    scores = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SCORE_COLUMNS)
    folder.write_scores(scores)
    return scores


def _machine(config: RunConfig) -> dict:
    """The machine this command runs on: fingerprint, id and calibration time (a few seconds, measured
    before any unit starts), for :class:`~benchbox.record.EnvironmentInfo`."""
    from benchbox.machine import CALIBRATION_WORKLOAD, calibration_time_s, machine_fingerprint, machine_id

    fingerprint = machine_fingerprint()
    return {"machine": fingerprint, "machine_id": machine_id(fingerprint), "calibration_s": calibration_time_s(),
            "calibration_workload": CALIBRATION_WORKLOAD, "timing_repeats": config.timing_repeats}


def _run_record(config: RunConfig, partitions, fingerprint: str, units: dict[str, dict[int, UnitStatus]],
                previous: RunRecord | None = None, *, machine: dict) -> RunRecord:
    """The run record of this command; a folder's earlier record (same suite, corpus and options) is merged
    in: models this command did not name and seeds it did not run stay listed with their units, so that a
    folder accumulates (``--models mean --seeds 3`` after a full run adds two seeds of mean)."""
    suite, corpus = config.suite, config.corpus
    before = {entry.name: entry for entry in previous.models} if previous else {}
    models = [ModelEntry(name=spec.name, package=spec.info.package, entry_point=spec.info.target,
                         modalities=list(spec.info.modalities), description=spec.info.description,
                         family=spec.info.family, options=dict(spec.options), options_sha256=spec.options_sha256(),
                         option_sources=dict(spec.option_sources),
                         units={**(before[spec.name].units if spec.name in before else {}),
                                **units.get(spec.name, {})})
              for spec in config.models]
    models += [entry for name, entry in before.items() if name not in config.model_names]
    seeds = sorted(set(config.seeds) | set(previous.seeds if previous else []))
    return RunRecord(
        suite=SuiteInfo(name=suite.name, version=suite.version, source=suite.source,
                        definition_sha256=suite.definition_hash, definition=suite.definition),
        suite_fingerprint=fingerprint,
        option_files=suite.option_files(),
        corpus=CorpusInfo(root=str(corpus.root), fingerprint=corpus.fingerprint, synthetic=corpus.synthetic,
                          generator=corpus.generator, description=corpus.description, num_sessions=len(corpus)),
        targets=list(suite.targets),
        frame_step_s=suite.frame_step_s,
        test_split=partitions.test_split,
        partitions=partitions.as_dict(),
        references=suite.references,
        models=models,
        seeds=seeds,
        entry_point_group=MODEL_GROUP,
        environment=EnvironmentInfo(**environment_info(config.device), **machine),
        command=config.command,
        updated_at=now_utc(),
    )


def _unit_inputs(config: RunConfig, partitions, machine_id: str) -> UnitInputs:
    return UnitInputs(partitions=partitions, targets=config.suite.targets, frame_step_s=config.suite.frame_step_s,
                      device=config.device, cache=Cache(_cache_dir(config)),
                      model_options=config.suite.model_options, corpus_modalities=config.corpus.modalities,
                      timing_repeats=config.timing_repeats, profile=config.profile, machine_id=machine_id,
                      run_cores=_run_cores(config))


def _run_cores(config: RunConfig) -> int | None:
    """The cores the run's units share (``--jobs``; the local executor's default, every core this process
    may use; None for a Ray cluster given no ``--jobs``: its size is the cluster's)."""
    if config.jobs:
        return config.jobs
    return None if config.executor == "ray" else available_cores()


def _run_units(config: RunConfig, folder: RunFolder, inputs: UnitInputs):
    """Every unfinished unit of ``config``, each in a process of its own, and the feature jobs they declared,
    through the run's executor."""
    from tqdm.auto import tqdm

    done, skipped, failed, jobs = [], [], [], []
    shares = cpu_shares([(spec.name, seed, spec.requires, spec.resources(inputs.device).get("num_cpus", 1))
                         for spec in config.models for seed in config.seeds])  # every unit: resumes split alike
    for spec in config.models:
        settings = config.suite.protocol(spec.name, combines_predictions=spec.info.combines_predictions)
        for seed in config.seeds:
            if folder.is_done(spec.name, seed):
                skipped.append((spec.name, seed))
            else:
                jobs.append(UnitJob(spec=spec, seed=seed, run_dir=folder.root, inputs=inputs, settings=settings,
                                    cpu_share=shares[spec.name, seed]))
    features, needs = _feature_jobs(config, jobs, inputs)
    bars = {kind: tqdm(total=total, desc=desc, unit=kind, disable=not config.progress or not total, file=sys.stderr)
            for kind, desc, total in (("session", "features", len(features)), ("unit", "benchbox", len(jobs)))}

    def finished(outcome: UnitOutcome | FeatureOutcome) -> None:
        if isinstance(outcome, FeatureOutcome):
            bars["session"].update(1)
            bars["session"].set_postfix_str(" ".join(outcome.key))
            return
        bars["unit"].update(1)
        bars["unit"].set_postfix_str(f"{outcome.model} seed {outcome.seed}")
        if outcome.error is None:
            done.append((outcome.model, outcome.seed))
        else:
            failed.append((outcome.model, outcome.seed, outcome.error))
            log.error("model %s, seed %d failed: %s (traceback in %s)", outcome.model, outcome.seed, outcome.error,
                      folder.traceback_path(outcome.model, outcome.seed))

    executor = _executor(config)
    try:
        executor.run(jobs, features=features, needs=needs, on_finish=finished)
    finally:
        for bar in bars.values():
            bar.close()
    return done, skipped, failed


def _feature_jobs(config: RunConfig, jobs: list[UnitJob], inputs: UnitInputs):
    """The feature jobs the units of ``jobs`` declared (:mod:`benchbox.features`) over every session of the
    run, and for each unit the (session, modality) jobs it waits for. A model whose declaration fails gets no
    feature jobs (it computes its features itself, and its unit reports the error)."""
    sessions = [*inputs.partitions.fit, *inputs.partitions.select, *inputs.partitions.test]
    requests, needs, declared = [], {}, {}
    for job in jobs:
        name = job.spec.name
        if name not in declared:
            try:
                declared[name] = feature_requests(job.spec.create(), config.device, owner=f"Model {name!r}")
            except Exception as exc:  # the unit's own process meets the same error and reports it
                log.warning("model %s: its feature requests could not be read (%s); it extracts its features "
                            "itself", name, exc)
                declared[name] = []
        requests += declared[name]
        modalities = {r.modality for r in declared[name]}
        needs[job.key] = [(s.id, m) for m in modalities for s in sessions]
    return feature_jobs(requests, sessions, inputs.cache.root), needs


def _executor(config: RunConfig):
    if config.executor == "ray":
        from benchbox.executors.ray_executor import RayExecutor

        _cache_dir(config).mkdir(parents=True, exist_ok=True)  # every node must see it, so it must exist
        return RayExecutor(address=config.ray_address, jobs=config.jobs, unit_timeout_s=config.unit_timeout_s,
                           memory_limit_mb=config.unit_memory_mb,
                           retries=2 if config.retries is None else config.retries,
                           shared_paths=[str(config.corpus.root), str(_cache_dir(config))])
    return LocalExecutor(jobs=config.jobs, unit_timeout_s=config.unit_timeout_s, memory_limit_mb=config.unit_memory_mb,
                         retries=config.retries or 0)


def _cache_dir(config: RunConfig) -> Path:
    return Path(config.cache_dir or benchbox_home() / "cache")


@contextlib.contextmanager
def _locked(folder: RunFolder):
    """Hold ``RUN/.lock`` (an exclusive ``flock``, released by the system if the process dies) for the run,
    so that a second run on the same folder refuses at once instead of doing the same work beside it."""
    import fcntl

    path = folder.root / ".lock"
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BenchboxError(f"{folder.root} is in use by another benchbox run ({holder}). Wait for it to "
                                f"finish, or give this run another --out folder.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run_suite(config: RunConfig) -> RunSummary:
    """Run every (model, seed) unit of ``config`` into ``config.out_dir`` and write scores and report."""
    partitions = config.suite.partitions(config.corpus, test_split=config.test_split)
    fingerprint = config.suite.fingerprint(config.corpus.fingerprint)
    folder = RunFolder(config.out_dir)
    if folder.root.exists() and not folder.root.is_dir():
        raise BenchboxError(f"--out {folder.root} is a file; give a folder for the run.")
    _prepare_models(config)
    folder.root.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        return _run_locked(config, folder, partitions, fingerprint)


def _prepare_models(config: RunConfig) -> None:
    """Each model's optional ``prepare(device)`` (:meth:`ModelSpec.prepare`), once, before any unit starts:
    a model that cannot run stops the run here, not in a unit."""
    for spec in config.models:
        spec.prepare(config.device)


def _run_locked(config: RunConfig, folder: RunFolder, partitions, fingerprint: str) -> RunSummary:
    _check_existing(folder, fingerprint, partitions.test_split, config.suite)
    previous = folder.read_run() if folder.exists() else None

    machine = _machine(config)
    folder.write_run(_run_record(config, partitions, fingerprint, {}, previous, machine=machine))
    # no unit process gets the scored labels
    inputs = _unit_inputs(config, without_scored_labels(partitions), machine["machine_id"])
    done, skipped, failed = _run_units(config, folder, inputs)
    # the gold standard is written for scoring, after every unit has ended
    scored = partitions.select + partitions.test
    gold = frame_table({s.id: "select" for s in partitions.select} | {s.id: "test" for s in partitions.test},
                       {s.id: s.labels for s in scored}, config.suite.targets)
    folder.write_gold(gold)

    units = [(spec, seed) for spec in config.models for seed in config.seeds]
    statuses: dict[str, dict[int, UnitStatus]] = {}
    for spec, seed in units:
        status = folder.unit_status(spec.name, seed) or UnitStatus.missing(spec.name, seed)
        statuses.setdefault(spec.name, {})[seed] = status
    record = _run_record(config, partitions, fingerprint, statuses, previous, machine=machine)
    folder.write_run(record)
    report = finish_run(folder.root)
    return RunSummary(folder.root, done, skipped, failed, report, refresh_leaderboard(folder.root.parent))


def refresh_leaderboard(runs_root: Path) -> Path | None:
    """Rebuild the board of every run under ``runs_root`` into ``runs_root/index.html``; a board that cannot be
    built is logged, never fatal to the run that just finished."""
    from benchbox.leaderboard import write_leaderboard

    try:
        return write_leaderboard([runs_root], runs_root)
    except (BenchboxError, OSError) as exc:
        log.warning("the leaderboard of %s was not refreshed: %s", runs_root, exc)
    except Exception:  # a bug in the board must not turn a finished run into a failed command
        log.exception("the leaderboard of %s was not refreshed (this is a bug in benchbox; the run itself is "
                      "complete)", runs_root)
    return None


def finish_run(run_dir: Path, *, alpha: float = 0.05, resamples: int = 9_999) -> Path | None:
    """Write the statistics (``stats.json``, with the families the run's suite declares) and the reports of a
    run folder from what it holds."""
    from benchbox.report_hooks import write_reports
    from benchbox.stats import write_run_stats

    score_run(run_dir)
    write_run_stats(run_dir, alpha=alpha, resamples=resamples)
    return write_reports(Path(run_dir))
