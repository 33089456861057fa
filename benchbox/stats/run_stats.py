"""Statistics of a run folder: scores with intervals, seed spread, paired tests, verdicts -> stats.json.

Reads ``run.json``, ``gold.parquet`` and ``predictions/<model>/seed-<seed>.parquet`` (through
:class:`benchbox.record.RunFolder`), averages each model's predictions over its usable seeds, and computes, for
the chosen partition:

- per (model, target): global CCC, mean per-session CCC, RMSE and Pearson r with session bootstrap
  intervals (approximate); the global CCC of each seed with mean and SD across seeds;
- per pair of models and target: the paired session randomisation test of the CCC difference (headline)
  and of the RMSE difference, and a Wilcoxon signed-rank test on per-session CCC (secondary), each with
  an effect and interval;
- Holm-adjusted p-values over the pre-declared family (every model against every reference model,
  CCC, all targets) and Benjamini-Hochberg adjusted p-values over the full pairwise matrix per test
  (exploratory);
- a plain-language verdict per (model, reference, target), naming the test.

The result is a :class:`benchbox.record.StatsRecord` (``stats.json``; its fields are documented there).
In the Holm family model_a is the compared model and model_b the reference.
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
    Effect,
    HolmFamily,
    PairTest,
    References,
    RunFolder,
    ScoreEstimate,
    SeedSpread,
    StatsRecord,
    Verdict,
    now_utc,
)
from benchbox.stats._run_loading import LoadedModel, load_gold, load_models
from benchbox.stats._sums import (
    metric_of,
    per_session_metric,
    pooled,
    scoped_metric,
    session_sufficient_stats,
    take_systems,
)
from benchbox.stats.bootstrap import BOOTSTRAP_METHOD, percentile_interval, session_bootstrap_weights
from benchbox.stats.multiplicity import benjamini_hochberg_adjust, holm_adjust, holm_rejection_possible
from benchbox.stats.paired import (
    RANDOMISATION_METHOD,
    WILCOXON_METHOD,
    paired_randomisation_test,
    smallest_attainable_p,
    wilcoxon_session_test,
)
from benchbox.stats.seeds import seed_summary

__all__ = ["STATS_FORMAT", "compute_run_stats", "write_run_stats"]

SCORE_KINDS = (("ccc", "global"), ("ccc", "session_mean"), ("rmse", "global"), ("pearson", "global"))
HL_METHOD = "Hodges-Lehmann estimate with exact Walsh-average interval"

METHODS = {
    "randomisation_ccc": (
        f"{RANDOMISATION_METHOD}: two-sided; for every subset of sessions the two systems' predictions are "
        "swapped and the difference in global CCC (sessions pooled) recomputed from per-session sums; all "
        "2^S swaps when S <= 20 (exact p), else 9,999 random swaps with p = (1+b)/(1+R). Sessions, not "
        "frames, are the exchangeable unit."
    ),
    "randomisation_rmse": f"{RANDOMISATION_METHOD} on the difference in global RMSE (lower is better).",
    "wilcoxon_session_ccc": (
        f"{WILCOXON_METHOD} (per-session CCC, zero differences dropped; exact when scipy can). Secondary: "
        f"it tests per-session CCC, not the pooled CCC. Effect: {HL_METHOD}."
    ),
    "session_bootstrap": (
        f"{BOOTSTRAP_METHOD}: sessions drawn with replacement, statistic recomputed from pooled per-session "
        "sums, equal-tailed percentile interval. Approximate: with few sessions it tends to be too narrow, "
        "so significance comes from the randomisation test, not from the interval."
    ),
    "holm": (
        "Holm step-down adjustment over the pre-declared family: every model against every reference "
        "model, CCC randomisation test, all targets together (family-wise error rate)."
    ),
    "benjamini_hochberg": (
        "Benjamini-Hochberg adjustment over all pairs and targets, per test "
        "(false discovery rate); exploratory."
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


def _oriented_pairs(names: list[str], references: list[str]) -> list[tuple[int, int]]:
    """Unordered pairs of model indices, oriented (compared model, reference) where a reference is in."""
    rank = {r: k for k, r in enumerate(references)}
    pairs = []
    for i, j in itertools.combinations(range(len(names)), 2):
        a, b = names[i], names[j]
        if a in rank and (b not in rank or rank[a] < rank[b]):
            i, j = j, i  # the reference (or the earlier-declared reference) goes second
        pairs.append((i, j))
    return pairs


def compute_run_stats(
    run_dir: str | Path,
    *,
    references: list[str],
    alpha: float = 0.05,
    resamples: int = 10_000,
    partition: str = "test",
    rng_seed: int = 0,
    confidence: float = 0.95,
) -> StatsRecord:
    """Scores with intervals, seed spread, paired tests and verdicts of a run folder (see module doc).

    Args:
        run_dir: the run folder.
        references: reference models for the pre-declared Holm family (e.g. ``["mean", "svr"]``);
            ones missing from the run or without usable predictions are skipped with a note.
        alpha: significance level of the verdicts.
        resamples: session bootstrap resamples for the intervals.
        partition: ``test`` or ``select``.
        rng_seed: seed of the bootstrap (and of random swaps when there are more than 20 sessions).
        confidence: nominal coverage of the intervals.

    Returns:
        The statistics record (write it with :meth:`benchbox.record.RunFolder.write_stats`).

    Raises:
        BenchboxError: the folder is not a readable run folder, or has no frames of ``partition``.
    """
    _check_arguments(alpha, resamples)
    folder = RunFolder(run_dir)
    run = folder.read_run()
    targets = list(run.targets)
    if not targets:
        raise BenchboxError(f"{folder.run_json} lists no 'targets'.")
    keys, gold = load_gold(folder, targets, partition)
    sessions, frame_session = np.unique(keys["session"].to_numpy(), return_inverse=True)
    num_sessions = len(sessions)
    models = load_models(folder, run, keys, targets, partition)
    usable = [m for m in models if m.ok]
    names = [m.name for m in usable]
    notes = _model_notes(models)
    refs_used = [r for r in dict.fromkeys(references) if r in names]
    refs_missing = [r for r in dict.fromkeys(references) if r not in names]
    notes += [f"Reference {ref!r} is not in this run or has no usable predictions; comparisons against it "
              "are skipped." for ref in refs_missing]

    rng = np.random.default_rng(rng_seed)
    weights = session_bootstrap_weights(num_sessions, resamples=resamples, rng=rng)
    scores, seeds_out, tests = [], [], []
    pairs = _oriented_pairs(names, refs_used)
    if usable:
        averaged = np.stack([np.mean(np.stack(m.predictions), axis=0) for m in usable], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            for t, target in enumerate(targets):
                _, stats = session_sufficient_stats(gold[:, t], averaged[:, t, :], frame_session)
                target_scores, resampled = _score_rows(stats, weights, names, target, confidence)
                scores += target_scores
                seeds_out += _seed_rows(usable, gold[:, t], t, target, frame_session, confidence)
                if pairs:
                    tests += _pair_tests(stats, resampled, pairs, names, target, rng, confidence)

    tests, holm_ids = _adjust(tests, refs_used)
    p_min = smallest_attainable_p(num_sessions)
    possible = holm_rejection_possible(p_min, len(holm_ids), alpha=alpha)
    notes += _power_notes(num_sessions, p_min, len(holm_ids), possible, alpha, len(names), bool(refs_used))
    return StatsRecord(
        benchbox_stats_format=STATS_FORMAT,
        generated_at=now_utc(),
        run={"suite": run.suite.name, "suite_version": run.suite.version,
             "suite_fingerprint": run.suite_fingerprint},
        partition=partition,
        targets=targets,
        sessions=[str(s) for s in sessions],
        num_sessions=num_sessions,
        alpha=alpha,
        confidence=confidence,
        resamples=resamples,
        rng_seed=rng_seed,
        references=References(requested=list(references), used=refs_used, missing=refs_missing),
        models={m.name: m.usage() for m in models},
        scores=scores,
        seeds=seeds_out,
        tests=tests,
        holm_family=HolmFamily(size=len(holm_ids), test_ids=holm_ids, smallest_attainable_p=p_min,
                               rejection_possible=possible),
        verdicts=_verdicts(tests, num_sessions, alpha, possible, confidence),
        methods=dict(METHODS),
        notes=notes,
    )


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


def _power_notes(num_sessions: int, p_min: float, holm_size: int, possible: bool, alpha: float,
                 num_models: int, have_references: bool) -> list[str]:
    """What the number of sessions and models lets the tests say at all."""
    notes = []
    if num_sessions and p_min > alpha:
        notes.append(
            f"With {num_sessions} sessions the smallest attainable p-value is {p_min:.3g} > alpha = {alpha}: "
            "no test can reject, whatever the data."
        )
    elif holm_size and not possible:
        notes.append(
            f"With {num_sessions} sessions the smallest attainable p-value is {p_min:.3g} "
            f"(2/2^{num_sessions}); Holm over {holm_size} comparisons needs p <= {alpha / holm_size:.3g} for "
            "a first rejection, so no comparison against the references can be declared significant at "
            f"alpha = {alpha}. Use more test sessions or fewer pre-declared comparisons."
        )
    if num_models < 2:
        notes.append("Fewer than two models have usable predictions: no paired tests.")
    elif not have_references:
        notes.append(
            "No reference model is available: no Holm family and no verdicts; all tests are exploratory."
        )
    return notes


def _score_rows(stats, weights, names: list[str], target: str, confidence: float):
    """Every (metric, scope) of :data:`SCORE_KINDS` per model with its bootstrap interval, and the
    bootstrap replicates (for the intervals of differences)."""
    rows, resampled = [], {}
    for metric, scope in SCORE_KINDS:
        estimate = scoped_metric(stats, metric, scope)
        boot = scoped_metric(stats, metric, scope, weights)
        resampled[metric, scope] = boot
        low, high, undefined = percentile_interval(boot, confidence=confidence)
        rows += [ScoreEstimate(model=name, target=target, metric=metric, scope=scope, estimate=estimate[k],
                               ci_low=low[k], ci_high=high[k], interval_method="session_bootstrap",
                               num_undefined_resamples=int(undefined[k]))
                 for k, name in enumerate(names)]
    return rows, resampled


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


def _pair_tests(stats, resampled, pairs, names, target, rng, confidence) -> list[PairTest]:
    first = np.array([i for i, _ in pairs])
    second = np.array([j for _, j in pairs])

    stats_a, stats_b = take_systems(stats, first), take_systems(stats, second)
    per_session_ccc = per_session_metric(stats, "ccc")
    rows = []
    for metric in ("ccc", "rmse"):
        result = paired_randomisation_test(stats_a, stats_b, metric=metric, rng=rng)
        boot = resampled[metric, "global"]
        low, high, _ = percentile_interval(boot[:, first] - boot[:, second], confidence=confidence)
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
                              confidence=confidence, interval_method="session_bootstrap"),
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


def _adjust(tests: list[PairTest], refs_used: list[str]) -> tuple[list[PairTest], list[str]]:
    """Tests with p_bh (per test kind) and p_holm (reference family) filled; the Holm family's test ids."""
    adjusted: dict[str, dict] = {t.id: {} for t in tests}
    for kind in ("randomisation_ccc", "randomisation_rmse", "wilcoxon_session_ccc"):
        rows = [t for t in tests if t.test == kind]
        for row, q in zip(rows, benjamini_hochberg_adjust([_nan(r.p_value) for r in rows]), strict=True):
            adjusted[row.id]["p_bh"] = q
    family = [t for t in tests if t.test == "randomisation_ccc" and t.model_b in refs_used]
    for row, p in zip(family, holm_adjust([_nan(r.p_value) for r in family]), strict=True):
        adjusted[row.id].update(p_holm=p, holm_family=True)
    return [dataclasses.replace(t, **adjusted[t.id]) for t in tests], [t.id for t in family]


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _verdicts(
    tests: list[PairTest], num_sessions: int, alpha: float, possible: bool, confidence: float
) -> list[Verdict]:
    verdicts = []
    for row in tests:
        if not row.holm_family:
            continue
        a, b, target = row.model_a, row.model_b, row.target
        delta, low, high = _nan(row.effect.estimate), _nan(row.effect.ci_low), _nan(row.effect.ci_high)
        p_holm = _nan(row.p_holm)
        significant = math.isfinite(p_holm) and p_holm <= alpha
        if significant and delta > 0:
            outcome, phrase = "better", f"{a} beats {b}"
        elif significant and delta < 0:
            outcome, phrase = "worse", f"{a} is worse than {b}"
        else:
            outcome, phrase = "not_significant", f"{a} is not significantly different from {b}"
        statement = (
            f"{phrase} on {target}: ΔCCC = {delta:+.3f} [{low:.3f}, {high:.3f}], {_format_p(p_holm)} "
            f"(Holm-adjusted, {RANDOMISATION_METHOD}, {num_sessions} sessions; "
            f"{round(confidence * 100)}% interval: session bootstrap, approximate)"
        )
        caveat = (
            f"with {num_sessions} sessions no comparison in this family can reach alpha = {alpha}"
            if not possible else None
        )
        verdicts.append(Verdict(model=a, reference=b, target=target, outcome=outcome, delta_ccc=delta, ci_low=low,
                                ci_high=high, p_value=row.p_value, p_holm=p_holm, test_id=row.id,
                                sentence=statement + (f"; {caveat}" if caveat else "") + ".",
                                statement=statement + ".", caveat=caveat))
    return verdicts


def write_run_stats(
    run_dir: str | Path,
    *,
    references: list[str],
    alpha: float = 0.05,
    resamples: int = 10_000,
    partition: str = "test",
    rng_seed: int = 0,
    confidence: float = 0.95,
) -> Path:
    """Compute :func:`compute_run_stats`, write it atomically to ``<run_dir>/stats.json``, return the path."""
    stats = compute_run_stats(
        run_dir,
        references=references,
        alpha=alpha,
        resamples=resamples,
        partition=partition,
        rng_seed=rng_seed,
        confidence=confidence,
    )
    folder = RunFolder(run_dir)
    folder.write_stats(stats)
    return folder.stats_path
