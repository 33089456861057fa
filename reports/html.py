"""The HTML report of a run: provenance and scores, self-contained (inline CSS, no external assets)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from benchbox import atomic
from benchbox.record import HEADLINE_COLUMN, RunFolder, RunRecord, StatsRecord, UnitStatus, now_utc
from reports.figures import significance_matrix_png

__all__ = ["write_report", "render_report"]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _count(n: int | None) -> str:
    """A parameter count: 178, 746,602, 24.1 M."""
    if n is None:
        return "–"
    return f"{n:,}" if n < 1_000_000 else f"{n / 1e6:.1f} M"


def _unit_costs(status: UnitStatus) -> dict[str, str]:
    """The cost table's row of one finished unit: the harness's measurements (every model), then what the
    plugin's ``profile_info`` adds (the e2e models: preset, weights, training); "–" where not measured."""
    profile, size, timing, process = status.profile, status.size, status.timing, status.process
    parameters = size.get("parameters", profile.get("parameters"))
    flops = size.get("flops_per_media_second", profile.get("flops_per_media_second"))
    samples = timing.get("predict_s") or []
    gpu = timing.get("peak_gpu_mb")
    preset = profile.get("preset")
    if preset is not None and profile.get("paper_preset") is False:
        preset = f"{preset} (not the paper's)"
    weights, digest = profile.get("visual_pretrained_weights"), profile.get("visual_pretrained_weights_sha256")
    if weights is not None:  # a visual model: "random", ImageNet or the file's name, and the start of its hash
        if str(weights).startswith("none"):
            weights = "random"
        else:
            name = str(weights) if str(weights).startswith("imagenet") else Path(weights).name
            weights = f"{name} (sha256 {digest[:12]})" if digest else name
    return {"fits": str(status.fits or "–"), "fit_s": _fmt(status.fit_s, 2),
            "fit_cpu_s": _fmt(sum(timing["fit_cpu_s"]) if timing.get("fit_cpu_s") else None, 2),
            "predict_s": _fmt(status.predict_s, 3), "predict_samples": str(len(samples)) if samples else "–",
            "rtf": f"{status.predict_real_time_factor:.3g}" if status.predict_real_time_factor else "–",
            "peak_rss_mb": _fmt(process.get("peak_rss_mb"), 0), "peak_gpu_mb": _fmt(gpu, 0),
            "preset": preset or "–", "visual_weights": weights or "–",
            "parameters": _count(parameters),
            "parameters_counted": size.get("parameters_counted", ""),
            "gflops_per_media_s": _fmt(flops / 1e9, 2) if flops else "n/a",
            "training_s": _fmt(profile.get("training_time_s"), 1),
            "train_fps": _fmt(profile.get("train_frames_per_s"), 0)}


_MARKS = {"better": "▲ better", "worse": "▼ worse", "not_significant": "– n.s."}


def _p_text(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def _family_tables(stats: StatsRecord | None) -> list[dict]:
    """Each declared family as a compact table (primary family first), with its test and power limit."""
    if stats is None:
        return []
    tables = []
    for family in stats.families:
        sided = "one-sided (model better)" if family.alternative == "greater" else "two-sided"
        limit = None
        if family.size and not family.rejection_possible:
            limit = (f"With {family.num_units} {family.unit}s the smallest attainable p-value is "
                     f"{family.smallest_attainable_p:.3g}; Holm over {family.size} comparisons makes it "
                     f"{family.smallest_attainable_adjusted_p:.3g} > alpha = {stats.alpha}, so no comparison of this "
                     "family can be significant, whatever the data.")
        rows = [{"model": c.model, "reference": c.reference, "target": c.target, "outcome": c.outcome,
                 "mark": _MARKS[c.outcome], "delta": f"{c.delta_ccc:+.3f} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
                 "p": _p_text(c.p_value), "p_adjusted": _p_text(c.p_adjusted), "sentence": c.sentence}
                for c in family.comparisons]
        tables.append({"name": family.name, "description": family.description, "rows": rows, "limit": limit,
                       "method": f"{family.test}, {sided}, {family.num_units} {family.unit}s; Holm over "
                                 f"{family.size} comparisons (smallest attainable adjusted p "
                                 f"{_p_text(family.smallest_attainable_adjusted_p)})"})
    return tables


def _interval_note(stats: StatsRecord | None) -> str:
    """How the intervals were made, with the coverage the calibration study measured for that method."""
    if stats is None:
        return ""
    if stats.interval_method != "jackknife_t":
        return (f"Intervals: {stats.interval_method}, on the seed-averaged predictions; approximate (with "
                f"{stats.num_sessions} sessions they tend to be too narrow). Recompute with benchbox stats.")
    note = ("Intervals: session jackknife-t (each session left out once; Student t on S-1 degrees of freedom; a "
            "CCC on Fisher's z scale), on the seed-averaged predictions.")
    measured = (stats.calibration.get("interval") or {}).get("recola", {}).get("9")
    if measured:
        single, diff = measured["global_ccc"], measured["ccc_difference"]
        note += (f" Calibration study (simulated RECOLA-like data, 9 sessions): {single['coverage']:.1%} coverage "
                 f"for a global CCC and {diff['coverage']:.1%} for a CCC difference at nominal 95% (percentile "
                 f"session bootstrap: {single['percentile_coverage']:.1%} and {diff['percentile_coverage']:.1%}), "
                 f"{single['mean_width'] / single['percentile_mean_width']:.2f}x as wide.")
    return note


_SCORE_COLUMNS = (("ccc", "global", "CCC (global)"), ("ccc", "session_mean", "CCC (session mean)"),
                  ("pearson", "global", "Pearson r"), ("rmse", "global", "RMSE"))


def _leaderboard_rows(board: pd.DataFrame, targets: list[str], stats: StatsRecord | None) -> list[dict]:
    """The run's leaderboard (:meth:`RunFolder.leaderboard`) as formatted table rows."""
    rows = []
    for record in board.to_dict("records"):
        cells = []
        for target in targets:
            for metric, scope, _ in _SCORE_COLUMNS:
                key = f"{target}/{metric}/{scope}"
                mean, sd = record.get(key), record.get(f"{key}/sd")
                text = _fmt(mean)
                if record["seeds"] > 1 and sd is not None and not np.isnan(sd):
                    text += f" ± {_fmt(sd)}"
                cells.append(text)
        intervals = []
        for target in targets:
            estimate = stats.score(record["model"], target) if stats else None
            intervals.append(f"{_fmt(estimate.estimate)} [{_fmt(estimate.ci_low)}, {_fmt(estimate.ci_high)}]"
                             if estimate is not None and np.isfinite(estimate.ci_low) else "–")
        rows.append({"model": record["model"], "seeds": int(record["seeds"]),
                     "mean_ccc": _fmt(record.get(HEADLINE_COLUMN)), "cells": cells, "intervals": intervals})
    return rows


def _unit_tables(run: RunRecord) -> dict[str, list[dict]]:
    """Failures, warnings, costs and protocol decisions of every unit, from the run record."""
    failures, model_warnings, costs, decisions = [], [], [], []
    for model in run.models:
        for seed, status in model.units.items():
            if not status.done:
                failures.append({"model": model.name, "seed": seed, "status": status.status,
                                 "error": status.error or ""})
                continue
            model_warnings += [{"model": model.name, "seed": seed, "message": m} for m in status.warnings]
            costs.append({"model": model.name, "seed": seed, **_unit_costs(status)})
            if status.protocol is not None:
                decisions += [{"model": model.name, "seed": seed, "target": target,
                               "delay_s": f"{decision.annotation_delay_s:.1f}",
                               "post": _postprocessing_text(decision.postprocessing, run.frame_step_s)}
                              for target, decision in status.protocol.targets.items()]
    return {"failures": failures, "model_warnings": model_warnings, "costs": costs, "decisions": decisions}


def _postprocessing_text(chain: dict | None, frame_step_s: float) -> str:
    if chain is None:
        return "off"
    steps = []
    if chain.get("median_window_frames"):
        steps.append(f"median {chain['median_window_frames'] * frame_step_s:.2f} s")
    if chain.get("scaled"):
        steps.append(f"scale ×{chain['scale']:.2f}")
    if chain.get("centre"):
        steps.append(f"shift {chain['shift']:+.3f}")
    return ", ".join(steps) or "none"


def _per_session_table(folder: RunFolder) -> tuple[list[dict], list[str]]:
    """Per-session CCC of every model and target (mean over seeds), select and test partitions."""
    sessions = folder.scores(scope="session", metric="ccc")
    if sessions.empty:
        return [], []
    pivot = sessions.pivot_table(index=["partition", "session"], columns=["model", "target"], values="value",
                                 aggfunc="mean")
    rows = [{"partition": partition, "session": session, "cells": [_fmt(v) for v in values]}
            for (partition, session), values in pivot.iterrows()]
    return rows, [f"{m} · {t}" for m, t in pivot.columns]


def _significance_figures(stats: StatsRecord | None, ranked: list[str], targets: list[str]) -> list[dict]:
    if stats is None:
        return []
    usable = stats.usable_models
    ordered = sorted(usable, key=lambda m: (ranked.index(m) if m in ranked else len(ranked), m))
    figures = []
    for target in targets:
        image = significance_matrix_png(stats.tests, ordered, target)
        if image:
            figures.append({"target": target, "image": image})
    return figures


def render_report(run_dir: Path) -> str:
    folder = RunFolder(run_dir)
    run = folder.read_run()
    stats = folder.read_stats()
    targets = list(run.targets)
    rows = _leaderboard_rows(folder.leaderboard(), targets, stats)
    per_session, per_session_columns = _per_session_table(folder)
    template = _environment().get_template("report.html")
    return template.render(
        run=run,
        corpus=run.corpus,
        rows=rows,
        columns=[(t, label) for t in targets for _, _, label in _SCORE_COLUMNS],
        targets=targets,
        **_unit_tables(run),
        per_session=per_session,
        per_session_columns=per_session_columns,
        headline=run.suite.definition["scoring"],
        stats=stats,
        families=_family_tables(stats),
        interval_note=_interval_note(stats),
        matrices=_significance_figures(stats, [r["model"] for r in rows], targets),
        machine=_machine_text(run),
        generated_at=now_utc(),
    )


def _machine_text(run: RunRecord) -> str:
    env = run.environment
    machine = env.machine
    if not machine:
        return env.device_name
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
    calibration = (f"; calibration workload {env.calibration_s:.3f} s (divide timings by it to compare machines)"
                   if env.calibration_s else "")
    return (f"{machine.get('cpu_model')} x {machine.get('cpu_count')} cores, {machine.get('memory_gb')} GB{gpu} "
            f"(id {env.machine_id}){calibration}")


def write_report(run_dir: Path) -> Path:
    """Render ``report.html`` into the run folder (atomically) and return its path."""
    folder = RunFolder(run_dir)
    atomic.write_text(folder.report_path, render_report(Path(run_dir)))
    return folder.report_path
