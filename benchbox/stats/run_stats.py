"""Statistics of a run folder: scores with intervals, seed spread, families of comparisons -> stats.json.

Reads the run through :class:`benchbox.record.RunFolder`, averages each model's predictions over its usable
seeds, and computes, for the chosen partition:

- per (model, target): global CCC, mean per-session CCC, RMSE and Pearson r, each with a session
  jackknife-t interval (:mod:`benchbox.stats.intervals`; the calibration study chose it); the global CCC
  of each seed with mean and SD across seeds;
- per declared family (:mod:`benchbox.stats.families`; the suite's ``[[statistics.families]]``): for
  each (model, reference, target) the paired randomisation test of the global CCC difference (session
  units, or within-session blocks where the suite sets a calibrated ``block_s``), two-sided or one-sided
  as the family says, Holm-adjusted within the family; ΔCCC with its jackknife-t interval and an outcome;
- exploratory: every pair of models and target, the session randomisation tests of the CCC and RMSE
  differences and a Wilcoxon signed-rank test on per-session CCC, Benjamini-Hochberg adjusted over the
  matrix per test.

The result is a :class:`benchbox.record.StatsRecord` (``stats.json``; its fields are documented there).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from pathlib import Path

import numpy as np

from benchbox.errors import BenchboxError
from benchbox.metrics import UndefinedMetricWarning
from benchbox.record import (
    STATS_FORMAT,
    Comparison,
    Effect,
    FamilyResult,
    PairTest,
    RunFolder,
    RunRecord,
    ScoreEstimate,
    SeedSpread,
    StatsRecord,
    now_utc,
)
from benchbox.stats._run_loading import LoadedModel, load_gold, load_models
from benchbox.stats._sums import (
    metric_of,
    per_session_metric,
    pooled,
    session_sufficient_stats,
    take_systems,
)
from benchbox.stats.blocks import block_unit_ids
from benchbox.stats.calibration import interval_calibration
from benchbox.stats.families import FamilySpec, ResolvedFamily, parse_families, resolve_family
from benchbox.stats.intervals import (
    INTERVAL_METHODS,
    REPORTED_INTERVAL,
    jackknife_t_difference_interval,
    jackknife_t_interval,
)
from benchbox.stats.multiplicity import benjamini_hochberg_adjust, holm_adjust
from benchbox.stats.paired import (
    RANDOMISATION_METHOD,
    WILCOXON_METHOD,
    paired_randomisation_test,
    smallest_attainable_p,
    wilcoxon_session_test,
)
from benchbox.stats.seeds import seed_summary

__all__ = ["STATS_FORMAT", "compute_run_stats", "write_run_stats", "families_of_run", "select_global_ccc"]

SCORE_KINDS = (("ccc", "global"), ("ccc", "session_mean"), ("rmse", "global"), ("pearson", "global"))
HL_METHOD = "Hodges-Lehmann estimate with exact Walsh-average interval"
BLOCK_METHOD = "within-session block randomisation test"

METHODS = {
    "randomisation_ccc": (
        f"{RANDOMISATION_METHOD}: for every subset of sessions the two systems' predictions are swapped and "
        "the difference in global CCC (sessions pooled) recomputed from per-session sums; all 2^S swaps when "
        "S <= 20 (exact p), else random swaps with p = (1+b)/(1+R). Sessions, not frames, are the "
        "exchangeable unit. Two-sided, or one-sided (the model is better) where a family says so."
    ),
    "block_randomisation_ccc": (
        f"{BLOCK_METHOD}: the same test with consecutive blocks of each session as units; used only with a "
        "block length at which the calibration study measured the test's size within [0.02, 0.08]."
    ),
    "randomisation_rmse": f"{RANDOMISATION_METHOD} on the difference in global RMSE (lower is better).",
    "wilcoxon_session_ccc": (
        f"{WILCOXON_METHOD} (per-session CCC, zero differences dropped; exact when scipy can). Secondary: "
        f"it tests per-session CCC, not the pooled CCC. Effect: {HL_METHOD}."
    ),
    "jackknife_t": (
        f"{INTERVAL_METHODS['jackknife_t']}: each session left out once, the jackknife standard error of the "
        "score (of atanh(CCC) for a single CCC or r), estimate +- t(S-1) SE."
    ),
    "families": (
        "Each family the suite declares (the first is the primary one) has its own Holm step-down correction "
        "over its comparisons and both targets (family-wise error rate)."
    ),
    "benjamini_hochberg": (
        "Benjamini-Hochberg adjustment over all pairs and targets, per test (false discovery rate); "
        "exploratory."
    ),
    "seeds": (
        "Each model's predictions are averaged over its usable seeds before scoring and testing; "
        "per-seed global CCC is reported as mean and SD across seeds (sample SD). No best-seed picking."
    ),
    "lin_interval": (
        "Lin's z-interval for CCC is not used: it assumes independent frames, and on "
        "autocorrelated traces its standard error is tens of times too small."
    ),
}


def _format_p(p: float) -> str:
    if not math.isfinite(p):
        return "p undefined"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}"


def families_of_run(run: RunRecord, source: str) -> tuple[list[FamilySpec], float | None]:
    """The families and the block length a run's suite declares (older suites: ``[models] references``)."""
    definition = run.suite.definition
    families = parse_families(definition, source)
    block_s = (definition.get("statistics") or {}).get("block_s")
    return families, float(block_s) if block_s is not None else None


def compute_run_stats(
    run_dir: str | Path,
    *,
    families: list[FamilySpec] | None = None,
    block_s: float | None = None,
    alpha: float = 0.05,
    resamples: int = 9_999,
    partition: str = "test",
    rng_seed: int = 0,
    confidence: float = 0.95,
) -> StatsRecord:
    """Scores with intervals, seed spread, families of comparisons and exploratory tests of a run folder.

    Args:
        run_dir: the run folder.
        families: the families of comparisons; default: those the run's suite declares.
        block_s: within-session block length of the families' tests (None: sessions are the units);
            default with ``families=None``: the suite's ``[statistics] block_s``.
        alpha: significance level of the outcomes.
        resamples: random swaps of a randomisation test with more than 20 units.
        partition: ``test`` or ``select``.
        rng_seed: seed of the random swaps.
        confidence: nominal coverage of the intervals.

    Returns:
        The statistics record (write it with :meth:`benchbox.record.RunFolder.write_stats`).

    Raises:
        BenchboxError: the folder is not a readable run folder, or has no frames of ``partition``.
    """
    _check_arguments(alpha, resamples)
    folder = RunFolder(run_dir)
    run = folder.read_run()
    if families is None:
        families, block_s = families_of_run(run, str(folder.run_json))
    targets = list(run.targets)
    if not targets:
        raise BenchboxError(f"{folder.run_json} lists no 'targets'.")
    keys, gold = load_gold(folder, targets, partition)
    sessions, frame_session = np.unique(keys["session"].to_numpy(), return_inverse=True)
    frame_unit = (block_unit_ids(frame_session, keys["frame"].to_numpy(), int(round(block_s / run.frame_step_s)))
                  if block_s else frame_session)
    models = load_models(folder, run, keys, targets, partition)
    usable = [m for m in models if m.ok]
    names = [m.name for m in usable]
    notes = _model_notes(models)
    resolved = [resolve_family(spec, model_families={m: _family(run, m) for m in names},
                               select_ccc=select_global_ccc(folder, names)) for spec in families]
    rng = np.random.default_rng(rng_seed)
    scores, seeds_out, tests, family_rows = [], [], [], {spec.name: [] for spec in families}
    if usable:
        averaged = np.stack([np.mean(np.stack(m.predictions), axis=0) for m in usable], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            for t, target in enumerate(targets):
                _, stats = session_sufficient_stats(gold[:, t], averaged[:, t, :], frame_session)
                _, unit_stats = session_sufficient_stats(gold[:, t], averaged[:, t, :], frame_unit)
                scores += _score_rows(stats, names, target, confidence)
                seeds_out += _seed_rows(usable, gold[:, t], t, target, frame_session, confidence)
                tests += _pair_tests(stats, list(itertools.combinations(range(len(names)), 2)), names, target, rng,
                                     confidence, resamples)
                for family in resolved:
                    family_rows[family.spec.name] += _family_tests(family, stats, unit_stats, names, target, rng,
                                                                   confidence, resamples)
    num_units = len(np.unique(frame_unit))
    family_results = [_family_result(f, family_rows[f.spec.name], alpha, confidence, len(sessions), num_units,
                                     block_s, resamples) for f in resolved]
    for family in resolved:
        notes += family.notes
    notes += _power_notes(family_results, len(sessions), alpha, len(names))
    return StatsRecord(
        benchbox_stats_format=STATS_FORMAT,
        generated_at=now_utc(),
        run={"suite": run.suite.name, "suite_version": run.suite.version,
             "suite_fingerprint": run.suite_fingerprint},
        partition=partition,
        targets=targets,
        sessions=[str(s) for s in sessions],
        num_sessions=len(sessions),
        alpha=alpha,
        confidence=confidence,
        resamples=resamples,
        rng_seed=rng_seed,
        models={m.name: m.usage() for m in models},
        scores=scores,
        seeds=seeds_out,
        families=family_results,
        tests=_adjust(tests),
        interval_method=REPORTED_INTERVAL,
        methods=dict(METHODS),
        notes=notes,
        calibration={"interval": interval_calibration(REPORTED_INTERVAL)},
    )


def _family(run: RunRecord, model: str) -> str:
    entry = run.model(model)
    return entry.family if entry is not None else ""


def select_global_ccc(folder: RunFolder, names: list[str]) -> dict[str, float]:
    """Each model's global CCC on the select partition, mean over seeds and targets (for ``best:``)."""
    select = folder.scores(partition="select", scope="global", metric="ccc")
    select = select[select["model"].isin(names)]
    return {str(m): float(v) for m, v in select.groupby("model")["value"].mean().items()}


def _check_arguments(alpha: float, resamples: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise BenchboxError(
            f"The 'alpha' parameter of compute_run_stats must lie in (0, 1). Got {alpha} instead."
        )
    if resamples < 1:
        raise BenchboxError(
            f"The 'resamples' parameter of compute_run_stats must be >= 1. Got {resamples} instead."
        )


def _model_notes(models: list[LoadedModel]) -> list[str]:
    """Which models or seeds the statistics leave out, and unequal seed counts."""
    notes = []
    for model in models:
        if not model.ok:
            notes.append(f"Model {model.name!r} is left out of the statistics: {model.usage().reason}.")
        elif model.seeds_excluded:
            notes.append(
                f"Model {model.name!r}: seeds {sorted(model.seeds_excluded)} excluded "
                f"({'; '.join(model.seeds_excluded.values())}); averaged over seeds {model.seeds_used}."
            )
    usable = [m for m in models if m.ok]
    if len({len(m.seeds_used) for m in usable}) > 1:
        notes.append(
            "Models are averaged over different numbers of seeds: "
            + ", ".join(f"{m.name} {len(m.seeds_used)}" for m in usable)
            + "."
        )
    return notes


def _power_notes(families: list[FamilyResult], num_sessions: int, alpha: float, num_models: int) -> list[str]:
    """What the number of sessions lets each family say at all, in one sentence each."""
    notes = []
    for family in families:
        if family.size and not family.rejection_possible:
            notes.append(
                f"Family {family.name!r}: with {family.num_units} {family.unit}s the smallest attainable p-value "
                f"is {family.smallest_attainable_p:.3g}, which Holm over {family.size} comparisons makes "
                f"{family.smallest_attainable_adjusted_p:.3g} > alpha = {alpha}: none of its comparisons can be "
                "significant, whatever the data."
            )
    if num_models < 2:
        notes.append("Fewer than two models have usable predictions: no paired tests.")
    elif not families:
        notes.append("The suite declares no family of comparisons: all tests are exploratory.")
    return notes


def _score_rows(stats, names: list[str], target: str, confidence: float) -> list[ScoreEstimate]:
    """Every (metric, scope) of :data:`SCORE_KINDS` per model with its jackknife-t interval."""
    rows = []
    for metric, scope in SCORE_KINDS:
        estimate, low, high = jackknife_t_interval(stats, metric=metric, scope=scope, confidence=confidence)
        rows += [ScoreEstimate(model=name, target=target, metric=metric, scope=scope, estimate=estimate[k],
                               ci_low=low[k], ci_high=high[k], interval_method=REPORTED_INTERVAL)
                 for k, name in enumerate(names)]
    return rows


def _seed_rows(usable: list[LoadedModel], gold_t, t: int, target: str, frame_session,
               confidence: float) -> list[SeedSpread]:
    columns = [
        (m.name, seed, pred[:, t])
        for m in usable
        for seed, pred in zip(m.seeds_used, m.predictions, strict=True)
    ]
    _, stats = session_sufficient_stats(gold_t, np.stack([c[2] for c in columns], axis=-1), frame_session)
    values = metric_of(pooled(stats), "ccc")
    rows = []
    for model in usable:
        per_seed = {
            str(seed): float(v)
            for (name, seed, _), v in zip(columns, values, strict=True)
            if name == model.name
        }
        summary = seed_summary(list(per_seed.values()), confidence=confidence)
        rows.append(SeedSpread(model=model.name, target=target, metric="ccc", scope="global", per_seed=per_seed,
                               num_seeds=summary.num_seeds, mean=summary.mean, sd=summary.sd))
    return rows


def _pair_tests(stats, pairs, names, target, rng, confidence, resamples) -> list[PairTest]:
    """The exploratory tests of every pair (two-sided, session units), effects with jackknife-t intervals."""
    if not pairs:
        return []
    first = np.array([i for i, _ in pairs])
    second = np.array([j for _, j in pairs])
    stats_a, stats_b = take_systems(stats, first), take_systems(stats, second)
    per_session_ccc = per_session_metric(stats, "ccc")
    rows = []
    for metric in ("ccc", "rmse"):
        result = paired_randomisation_test(stats_a, stats_b, metric=metric, rng=rng, resamples=resamples)
        _, low, high = jackknife_t_difference_interval(stats_a, stats_b, metric=metric, confidence=confidence)
        label = "CCC" if metric == "ccc" else "RMSE"
        for k, (i, j) in enumerate(pairs):
            rows.append(PairTest(
                id=f"randomisation_{metric}:{target}:{names[i]}:{names[j]}",
                test=f"randomisation_{metric}",
                method=RANDOMISATION_METHOD,
                target=target,
                model_a=names[i],
                model_b=names[j],
                statistic_name=f"{label}(model_a) - {label}(model_b), sessions pooled",
                statistic=result.statistic[k],
                p_value=result.p_value[k],
                p_min=result.p_min,
                num_sessions=result.num_sessions,
                num_permutations=result.num_permutations,
                exact=result.exact,
                effect=Effect(name=f"delta_{metric}", estimate=result.statistic[k], ci_low=low[k], ci_high=high[k],
                              confidence=confidence, interval_method=REPORTED_INTERVAL),
            ))
    for i, j in pairs:
        w = wilcoxon_session_test(per_session_ccc[:, i], per_session_ccc[:, j], confidence=confidence)
        rows.append(PairTest(
            id=f"wilcoxon_session_ccc:{target}:{names[i]}:{names[j]}",
            test="wilcoxon_session_ccc",
            method=WILCOXON_METHOD,
            target=target,
            model_a=names[i],
            model_b=names[j],
            statistic_name="signed-rank statistic (smaller rank sum) of per-session CCC differences",
            statistic=w.statistic,
            p_value=w.p_value,
            p_min=smallest_attainable_p(max(w.num_sessions, 1)),
            num_sessions=w.num_sessions,
            effect=Effect(name="hodges_lehmann_delta_session_ccc", estimate=w.estimate, ci_low=w.ci_low,
                          ci_high=w.ci_high, confidence=w.ci_level, interval_method="hodges_lehmann_walsh"),
        ))
    return rows


def _adjust(tests: list[PairTest]) -> list[PairTest]:
    """The exploratory tests with p_bh filled (Benjamini-Hochberg per test kind over the whole matrix)."""
    adjusted: dict[str, float] = {}
    for kind in ("randomisation_ccc", "randomisation_rmse", "wilcoxon_session_ccc"):
        rows = [t for t in tests if t.test == kind]
        for row, q in zip(rows, benjamini_hochberg_adjust([_nan(r.p_value) for r in rows]), strict=True):
            adjusted[row.id] = q
    return [dataclasses.replace(t, p_bh=adjusted[t.id]) for t in tests]


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _family_tests(family: ResolvedFamily, stats, unit_stats, names: list[str], target: str, rng, confidence: float,
                  resamples: int) -> list[dict]:
    """One row per (model, reference) of the family on ``target``: the test on ``unit_stats`` (sessions or
    blocks) with the family's alternative, ΔCCC and its session jackknife-t interval."""
    if not family.pairs:
        return []
    first = np.array([names.index(m) for m, _ in family.pairs])
    second = np.array([names.index(r) for _, r in family.pairs])
    result = paired_randomisation_test(take_systems(unit_stats, first), take_systems(unit_stats, second), rng=rng,
                                       resamples=resamples, alternative=family.spec.alternative)
    delta, low, high = jackknife_t_difference_interval(take_systems(stats, first), take_systems(stats, second),
                                                       confidence=confidence)
    return [{"model": m, "reference": r, "target": target, "delta_ccc": float(delta[k]), "ci_low": float(low[k]),
             "ci_high": float(high[k]), "p_value": float(np.atleast_1d(result.p_value)[k]), "p_min": result.p_min,
             "num_units": result.num_sessions}
            for k, (m, r) in enumerate(family.pairs)]


def _family_result(family: ResolvedFamily, rows: list[dict], alpha: float, confidence: float, num_sessions: int,
                   num_units: int, block_s: float | None, resamples: int) -> FamilyResult:
    """Holm over the family's comparisons (all targets), outcomes and sentences."""
    spec = family.spec
    adjusted = holm_adjust([r["p_value"] for r in rows]) if rows else []
    test = f"{BLOCK_METHOD} ({block_s:g} s blocks)" if block_s else RANDOMISATION_METHOD
    unit = f"block of {block_s:g} s" if block_s else "session"
    p_min = rows[0]["p_min"] if rows else smallest_attainable_p(
        max(num_units, 1), resamples=resamples, alternative=spec.alternative)
    comparisons = []
    for row, p_adjusted in zip(rows, adjusted, strict=True):
        significant = math.isfinite(p_adjusted) and p_adjusted <= alpha
        delta = row["delta_ccc"]
        if significant and delta > 0:
            outcome, phrase = "better", f"{row['model']} beats {row['reference']}"
        elif significant and delta < 0:
            outcome, phrase = "worse", f"{row['model']} is worse than {row['reference']}"
        else:
            outcome, phrase = "not_significant", f"{row['model']} is not significantly "
            phrase += "better than" if spec.alternative == "greater" else "different from"
            phrase += f" {row['reference']}"
        sided = "one-sided" if spec.alternative == "greater" else "two-sided"
        sentence = (f"{phrase} on {row['target']}: ΔCCC = {delta:+.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}], "
                    f"{_format_p(p_adjusted)} (Holm-adjusted over family {spec.name!r}, {test}, {sided}, "
                    f"{row['num_units']} {unit}s; {round(confidence * 100)}% interval: session jackknife-t).")
        comparisons.append(Comparison(model=row["model"], reference=row["reference"], target=row["target"],
                                      outcome=outcome, delta_ccc=delta, ci_low=row["ci_low"],
                                      ci_high=row["ci_high"], p_value=row["p_value"], p_adjusted=p_adjusted,
                                      sentence=sentence))
    size = len(rows)
    adjusted_min = min(1.0, p_min * size) if size else math.nan
    return FamilyResult(name=spec.name, description=spec.description, alternative=spec.alternative, test=test,
                        unit=unit, num_units=num_units if block_s else num_sessions, correction="holm", size=size,
                        smallest_attainable_p=p_min, smallest_attainable_adjusted_p=adjusted_min,
                        rejection_possible=bool(size) and adjusted_min <= alpha, comparisons=comparisons,
                        notes=list(family.notes))


def write_run_stats(
    run_dir: str | Path,
    *,
    families: list[FamilySpec] | None = None,
    block_s: float | None = None,
    alpha: float = 0.05,
    resamples: int = 9_999,
    partition: str = "test",
    rng_seed: int = 0,
    confidence: float = 0.95,
) -> Path:
    """Compute :func:`compute_run_stats`, write it atomically to ``<run_dir>/stats.json``, return the path."""
    stats = compute_run_stats(
        run_dir,
        families=families,
        block_s=block_s,
        alpha=alpha,
        resamples=resamples,
        partition=partition,
        rng_seed=rng_seed,
        confidence=confidence,
    )
    folder = RunFolder(run_dir)
    folder.write_stats(stats)
    return folder.stats_path
