"""The baseline file of ``benchbox check``: a run reduced to what a regression check needs.

A baseline is small (a few kB per model) and meant to be committed to a repository, so that a change of
baseline shows in code review; only ``benchbox baseline`` writes one. It holds:

- the compatibility key (suite name and version, the hash of the suite's protocol: its corpus, partitions,
  protocol and scoring tables; the corpus (its fingerprint; for a generated corpus, the generator and its
  parameters), scored partition and its sessions, targets): a run is
  checked against a baseline only where every field matches. A suite's model options and thresholds are
  not part of it: changing a model's options is what a check is for (each model keeps its options' hash,
  and a change is noted);
- the machine fingerprint and the calibration time of the run it was made from;
- per model, target and metric (the sum-computable ones: CCC, Pearson r, RMSE, each on the pooled sessions
  of the scored partition): the seed-mean value, the per-seed values and ``higher_is_better``;
- per model, seed and target, the per-session sufficient sums (n, sum x, sum y, sum x^2, sum y^2,
  sum xy): enough for the paired session randomisation test, without the predictions;
- per model, the timing samples: fit seconds per delay candidate, predict seconds per call, the control
  workload's seconds timed right before each and which control workload it was, and the media seconds
  predicted (the real-time factor is their ratio).

:meth:`Baseline.from_run` makes one from a run folder; ``benchbox compare`` uses it on both folders, so
that ``check`` and ``compare`` apply the same rules to the same figures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchbox import atomic
from benchbox.errors import BenchboxError
from benchbox.gate.thresholds import GATE_METRICS
from benchbox.metrics import METRICS, SufficientStats, UndefinedMetricWarning
from benchbox.record import RunFolder, RunRecord, now_utc
from benchbox.record._codec import RecordFormatError, check_format, from_jsonable, to_jsonable

__all__ = ["BASELINE_FORMAT", "UNNAMED_CONTROL", "Baseline", "BaselineKey", "ModelBaseline", "MetricValue",
           "GATE_METRICS", "protocol_sha256", "corpus_identity"]

BASELINE_FORMAT = 1
#: The control workload of units that do not name theirs (benchbox before 2026-12).
UNNAMED_CONTROL = "conv1d control (unnamed)"
_KEY = "benchbox_baseline_format"



@dataclasses.dataclass(frozen=True)
class BaselineKey:
    """What must match for two runs' scores to be comparable."""

    suite: str
    suite_version: str
    protocol_sha256: str
    corpus: str  # see corpus_identity
    corpus_synthetic: bool
    partition: str
    sessions: list[str]
    targets: list[str]

    #: Field name -> what it means, for the "not comparable" message.
    DESCRIPTIONS = {"suite": "suite name", "suite_version": "suite version",
                    "protocol_sha256": "suite protocol (its corpus, partitions, protocol or scoring tables)",
                    "corpus": "corpus", "corpus_synthetic": "corpus kind (synthetic or not)",
                    "partition": "scored partition", "sessions": "sessions of the scored partition",
                    "targets": "targets"}

    def differences(self, other: BaselineKey) -> list[str]:
        """``"field: baseline X, run Y"`` for every field that differs."""
        out = []
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if mine != theirs:
                shown = [_short(mine), _short(theirs)]
                out.append(f"{field.name} ({self.DESCRIPTIONS[field.name]}): baseline {shown[0]}, run {shown[1]}")
        return out


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True)
class MetricValue:
    value: float | None  # mean over seeds
    per_seed: dict[int, float | None]
    higher_is_better: bool


@dataclasses.dataclass(frozen=True)
class ModelBaseline:
    """One model of a baseline: scores, per-session sums (seed -> target -> sessions x 6), timings, and the
    hash of the options it ran with."""

    scores: dict[str, dict[str, MetricValue]]
    sums: dict[int, dict[str, list[list[float]]]]
    timing: dict[str, Any]
    options_sha256: str = ""

    def stats(self, seed: int, target: str) -> SufficientStats:
        """The per-session sums of one seed and target as arrays of shape (sessions,)."""
        table = np.asarray(self.sums[seed][target], dtype=np.float64)
        return SufficientStats(*(table[:, k] for k in range(6)))


@dataclasses.dataclass(frozen=True)
class Baseline:
    key: BaselineKey
    machine: dict[str, Any]
    machine_id: str | None
    calibration_s: float | None
    models: dict[str, ModelBaseline]
    corpus_fingerprint: str = ""  # the corpus's bytes (the key's ``corpus`` is its identity)
    source: str = ""  # the run folder's name (not its path: baselines are committed)
    created_at: str = ""
    git_commit: str | None = None
    benchbox_baseline_format: int = BASELINE_FORMAT

    # -- files ------------------------------------------------------------------------------------------
    def write(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            raise BenchboxError(f"--out {path} is a folder; give a file name for the baseline (e.g. "
                                f"{path / 'benchbox-baseline.json'}).")
        atomic.write_json(path, to_jsonable(self))
        return path

    @classmethod
    def read(cls, path: str | Path) -> Baseline:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchboxError(f"{path} does not exist; make a baseline with `benchbox baseline RUN_DIR --out "
                                f"{path}`.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordFormatError(f"{path}: not a readable baseline ({exc}).") from None
        if not isinstance(data, Mapping):
            raise RecordFormatError(f"{path}: a baseline must be a JSON object. Got {type(data).__name__}.")
        check_format(data, key=_KEY, known=BASELINE_FORMAT, source=str(path))
        return from_jsonable(cls, data, source=str(path))

    # -- from a run -------------------------------------------------------------------------------------
    @classmethod
    def from_run(cls, run_dir: str | Path, *, partition: str = "test") -> Baseline:
        """The baseline of a run folder: every model with at least one finished seed."""
        from benchbox.stats._run_loading import load_gold, load_model

        folder = RunFolder(run_dir)
        run = folder.read_run()
        targets = list(run.targets)
        keys, gold = load_gold(folder, targets, partition)
        sessions, frame_session = np.unique(keys["session"].to_numpy(), return_inverse=True)
        models = {}
        for entry in run.models:
            loaded = load_model(folder, run, entry.name, keys, targets, partition)
            if not loaded.ok:
                continue
            models[entry.name] = _model_baseline(run, entry.name, loaded, gold, frame_session, targets)
        if not models:
            raise BenchboxError(f"{folder.root} has no finished model to make a baseline of.")
        env = run.environment
        key = BaselineKey(suite=run.suite.name, suite_version=run.suite.version,
                          protocol_sha256=protocol_sha256(run.suite.definition),
                          corpus=corpus_identity(run.corpus.fingerprint,
                                                 run.corpus.generator if run.corpus.synthetic else None),
                          corpus_synthetic=run.corpus.synthetic, partition=run.test_split,
                          sessions=[str(s) for s in sessions], targets=targets)
        return cls(key=key, machine=dict(env.machine), machine_id=env.machine_id, calibration_s=env.calibration_s,
                   models=models, corpus_fingerprint=run.corpus.fingerprint, source=folder.root.resolve().name,
                   created_at=now_utc(), git_commit=env.git_commit)


def corpus_identity(fingerprint: str, generator: Mapping[str, Any] | None) -> str:
    """What makes two runs' corpora the same corpus: the fingerprint of its bytes; for a corpus benchbox
    generated, its generator, version and parameters instead. Generated twice on one machine the bytes are
    identical (tested), but another CPU's rounding in the generator's maths could change a last bit of a
    sample or pixel; such a corpus is the same benchmark, and the check notes the byte difference."""
    if not generator:
        return fingerprint
    digest = hashlib.sha256(json.dumps(generator, sort_keys=True).encode()).hexdigest()[:16]
    return (f"synthetic {generator.get('generator')} {generator.get('version')}, seed {generator.get('seed')}, "
            f"parameters {digest}")


#: The tables of a suite that decide what a score means.
PROTOCOL_TABLES = ("name", "version", "corpus", "partitions", "protocol", "scoring")


def protocol_sha256(definition: Mapping[str, Any]) -> str:
    """Hash of the suite tables that decide what a score means (:data:`PROTOCOL_TABLES`)."""
    text = json.dumps({k: definition.get(k) for k in PROTOCOL_TABLES}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _model_baseline(run: RunRecord, name: str, loaded, gold: np.ndarray, frame_session: np.ndarray,
                    targets: list[str]) -> ModelBaseline:
    from benchbox.stats._sums import session_sufficient_stats

    sums: dict[int, dict[str, list[list[float]]]] = {}
    per_seed: dict[str, dict[str, dict[int, float | None]]] = {t: {m: {} for m in GATE_METRICS} for t in targets}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for seed, predictions in zip(loaded.seeds_used, loaded.predictions, strict=True):
            sums[seed] = {}
            for t, target in enumerate(targets):
                _, stats = session_sufficient_stats(gold[:, t], predictions[:, t], frame_session)
                sums[seed][target] = np.stack(stats.as_tuple(), axis=1).tolist()
                pooled = SufficientStats(*(np.sum(f) for f in stats.as_tuple()))
                for metric in GATE_METRICS:
                    value = float(METRICS[metric].compute(pooled))
                    per_seed[target][metric][seed] = value if np.isfinite(value) else None
    scores = {target: {metric: MetricValue(value=_mean(values), per_seed=values,
                                           higher_is_better=METRICS[metric].higher_is_better)
                       for metric, values in by_metric.items()}
              for target, by_metric in per_seed.items()}
    entry = run.model(name)
    return ModelBaseline(scores=scores, sums=sums, timing=_timing(run, name, loaded.seeds_used),
                         options_sha256=entry.options_sha256 if entry else "")


def _mean(values: Mapping[int, float | None]) -> float | None:
    finite = [v for v in values.values() if v is not None]
    return float(np.mean(finite)) if finite and len(finite) == len(values) else None


def _timing(run: RunRecord, name: str, seeds: list[int]) -> dict[str, Any]:
    """Timing samples of a model's used seeds: fit seconds per delay candidate, predict seconds per call,
    media seconds per predict call, and the machine the samples were taken on."""
    entry = run.model(name)
    fit, predict, media, machines, fit_control, predict_control, controls = [], [], [], set(), [], [], set()
    beside: list[bool | None] = []
    for seed in seeds:
        status = entry.units.get(seed) if entry else None
        if status is None or not status.done:
            continue
        timing = status.timing
        if timing:  # unit format 3
            fit += list(timing.get("fit_s") or [])
            predict += list(timing.get("predict_s") or [])
            fit_control += list(timing.get("fit_control_s") or [])
            predict_control += list(timing.get("predict_control_s") or [])
            media.append(timing.get("predict_media_s"))
            machines.add(timing.get("machine_id"))
            controls.add(timing.get("control_workload") or UNNAMED_CONTROL)
            beside.append(_timed_beside_other_work(timing, status.process))
        else:  # format 2: one mean fit and one predict figure per unit
            if status.fit_s is not None and status.fits:
                fit.append(status.fit_s / status.fits)
            if status.predict_s is not None and status.predict_real_time_factor:
                predict.append(status.predict_s)
                media.append(status.predict_s / status.predict_real_time_factor)
    media_s = [m for m in media if m]
    controlled = len(fit_control) == len(fit) and len(predict_control) == len(predict)
    return {"fit_s": fit, "predict_s": predict, "predict_media_s": float(np.mean(media_s)) if media_s else None,
            "fit_control_s": fit_control if controlled else [], "predict_control_s": predict_control if controlled
            else [], "control_workloads": sorted(controls) if controlled else [],
            "machine_ids": sorted(m for m in machines if m),
            "beside_other_work": True if any(beside) else (False if beside and None not in beside else None)}


def _timed_beside_other_work(timing: Mapping[str, Any], process: Mapping[str, Any] | None) -> bool | None:
    """Whether a unit was timed while other units or feature jobs could run on the run's other cores: it
    held fewer CPUs than the run used (``--jobs``). None where the unit did not record both.

    Example:
        >>> _timed_beside_other_work({"run_cores": 2}, {"threads": 1})
        True
        >>> _timed_beside_other_work({"run_cores": 2}, {"threads": 2}), _timed_beside_other_work({}, {"threads": 1})
        (False, None)
    """
    cores, threads = timing.get("run_cores"), (process or {}).get("threads")
    if not cores or not threads:
        return None
    return threads < cores
