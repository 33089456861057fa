"""The HTML report of a run: provenance and scores, self-contained (inline CSS, no external assets)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from benchbox import atomic
from benchbox.results import RunFolder
from reports.figures import significance_matrix_png

__all__ = ["write_report", "render_report", "leaderboard_table"]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def leaderboard_table(scores: pd.DataFrame, targets: list[str], metrics: list[str], partition: str = "test"):
    """One row per model: mean and SD over seeds of every (target, metric, scope), sorted by headline.

    Returns a DataFrame with columns ``model``, ``seeds`` and ``<target>/<metric>/<scope>`` (mean) and
    ``.../sd``; ``mean/ccc/global`` averages the targets' global CCCs.
    """
    part = scores[(scores["partition"] == partition) & (scores["scope"].isin(["global", "session_mean"]))]
    if part.empty:
        return pd.DataFrame(columns=["model", "seeds"])
    part = part.assign(column=part["target"] + "/" + part["metric"] + "/" + part["scope"])
    wide = part.pivot_table(index=["model", "seed"], columns="column", values="value", aggfunc="first")
    ccc_global = [f"{t}/ccc/global" for t in targets if f"{t}/ccc/global" in wide]
    if ccc_global:
        wide["mean/ccc/global"] = wide[ccc_global].mean(axis=1)
    grouped = wide.groupby(level="model")
    table = grouped.mean()
    sd = grouped.std(ddof=1).add_suffix("/sd")
    table = table.join(sd)
    table.insert(0, "seeds", grouped.size())
    table = table.reset_index()
    if "mean/ccc/global" in table:
        table = table.sort_values("mean/ccc/global", ascending=False, kind="stable")
    return table.reset_index(drop=True)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _profile_costs(profile: dict) -> dict[str, str]:
    """The cost figures a plugin's ``profile_info`` may give (the e2e models give all of them), formatted
    for the cost table; a figure the plugin does not give is "–"."""
    parameters = profile.get("parameters")
    flops = profile.get("flops_per_media_second")
    memory = profile.get("peak_memory_fit")
    peak_mb = memory.get("peak_mb") if isinstance(memory, dict) else memory
    preset = profile.get("preset")
    if preset is not None and profile.get("paper_preset") is False:
        preset = f"{preset} (not the paper's)"
    weights, digest = profile.get("visual_pretrained_weights"), profile.get("visual_pretrained_weights_sha256")
    if weights is not None:  # a visual model: "random", or the weights file's name and the start of its hash
        weights = f"{Path(weights).name} (sha256 {digest[:12]})" if digest else "random"
    return {"preset": preset or "–", "visual_weights": weights or "–",
            "parameters_m": _fmt(parameters / 1e6 if parameters is not None else None, 2),
            "gflops_per_media_s": _fmt(flops / 1e9 if flops is not None else None, 2),
            "training_s": _fmt(profile.get("training_time_s"), 1),
            "train_fps": _fmt(profile.get("train_frames_per_s"), 0),
            "peak_mb": _fmt(peak_mb, 0)}


def _verdict_lines(verdicts: list[dict]) -> tuple[list[dict], str | None]:
    """The verdicts as report lines, and the caveat they all share (said once above them), if any.

    Each verdict's ``sentence`` in ``stats.json`` stands alone, caveat included; when every verdict carries
    the same caveat (too few sessions for the family to reject anything), the report shows it once and
    the verdicts without it. Verdicts from an older ``stats.json`` (no ``statement``) are shown whole.
    """
    caveats = {v.get("caveat") for v in verdicts}
    shared = next(iter(caveats)) if len(caveats) == 1 and all("statement" in v for v in verdicts) else None
    lines = [{"outcome": v["outcome"], "text": v["statement"] if shared else v["sentence"]} for v in verdicts]
    return lines, (shared[0].upper() + shared[1:]) if shared else None


def render_report(run_dir: Path) -> str:
    folder = RunFolder(run_dir)
    run = folder.read_run()
    targets = run["targets"]
    metrics = run["suite"]["definition"]["scoring"]["metrics"]
    scores = pd.read_csv(folder.scores_path, keep_default_na=False, na_values=[""],
                         dtype={"session": str}) if folder.scores_path.exists() else pd.DataFrame()
    board = leaderboard_table(scores, targets, metrics) if not scores.empty else pd.DataFrame()

    rows = []
    for record in board.to_dict("records"):
        cells = []
        for target in targets:
            for metric, scope in [("ccc", "global"), ("ccc", "session_mean"), ("pearson", "global"),
                                  ("rmse", "global")]:
                key = f"{target}/{metric}/{scope}"
                mean, sd = record.get(key), record.get(f"{key}/sd")
                text = _fmt(mean)
                if record["seeds"] > 1 and sd is not None and not np.isnan(sd):
                    text += f" ± {_fmt(sd)}"
                cells.append(text)
        rows.append({"model": record["model"], "seeds": int(record["seeds"]),
                     "mean_ccc": _fmt(record.get("mean/ccc/global")), "cells": cells})
    columns = [(t, label) for t in targets for label in ("CCC (global)", "CCC (session mean)", "Pearson r", "RMSE")]

    failures = []
    for model in run["models"]:
        for seed, status in model.get("units", {}).items():
            if status.get("status") != "done":
                failures.append({"model": model["name"], "seed": seed, "status": status.get("status"),
                                 "error": status.get("error", "")})
    model_warnings = [{"model": model["name"], "seed": seed, "message": message}
                      for model in run["models"] for seed, status in model.get("units", {}).items()
                      for message in status.get("warnings") or []]
    costs = []
    for model in run["models"]:
        for seed, status in model.get("units", {}).items():
            if status.get("status") == "done":
                costs.append({"model": model["name"], "seed": seed, "fit_s": _fmt(status.get("fit_s"), 2),
                              "predict_s": _fmt(status.get("predict_s"), 2),
                              "rtf": _fmt(status.get("predict_real_time_factor"), 5),
                              **_profile_costs(status.get("profile") or {})})

    decisions = []
    for model in run["models"]:
        for seed, status in model.get("units", {}).items():
            for target, record in (status.get("protocol") or {}).get("targets", {}).items():
                chain = record.get("postprocessing") or {}
                steps = []
                if chain.get("median_window_frames"):
                    steps.append(f"median {chain['median_window_frames'] * 0.04:.2f} s")
                if chain.get("scaled"):
                    steps.append(f"scale ×{chain['scale']:.2f}")
                if chain.get("centre"):
                    steps.append(f"shift {chain['shift']:+.3f}")
                decisions.append({"model": model["name"], "seed": seed, "target": target,
                                  "delay_s": f"{record['annotation_delay_s']:.1f}",
                                  "post": ", ".join(steps) or ("none" if chain else "off")})

    sessions = scores[(scores["scope"] == "session") & (scores["metric"] == "ccc")] if not scores.empty else scores
    per_session = []
    if not sessions.empty:
        pivot = sessions.pivot_table(index=["partition", "session"], columns=["model", "target"], values="value",
                                     aggfunc="mean")
        per_session_columns = [f"{m} · {t}" for m, t in pivot.columns]
        for (partition, session), values in pivot.iterrows():
            per_session.append({"partition": partition, "session": session, "cells": [_fmt(v) for v in values]})
    else:
        per_session_columns = []

    stats = folder.read_json(folder.stats_path) if folder.stats_path.exists() else None
    intervals, matrices = {}, []
    if stats:
        for row in stats.get("scores", []):
            if row["metric"] == "ccc" and row["scope"] == "global" and row["ci_low"] is not None:
                intervals[(row["model"], row["target"])] = (
                    f"{_fmt(row['estimate'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]")
        usable = [m for m, info in stats.get("models", {}).items() if info.get("status") == "ok"]
        ranked = [r["model"] for r in rows]
        ordered = sorted(usable, key=lambda m: (ranked.index(m) if m in ranked else len(ranked), m))
        for target in targets:
            image = significance_matrix_png(stats.get("tests", []), ordered, target)
            if image:
                matrices.append({"target": target, "image": image})
    for row in rows:
        row["intervals"] = [intervals.get((row["model"], t), "–") for t in targets]
    verdicts, verdict_caveat = _verdict_lines((stats or {}).get("verdicts", []))

    template = _environment().get_template("report.html")
    return template.render(
        run=run,
        corpus=run["corpus"],
        rows=rows,
        columns=columns,
        targets=targets,
        failures=failures,
        model_warnings=model_warnings,
        costs=costs,
        decisions=decisions,
        per_session=per_session,
        per_session_columns=per_session_columns,
        headline=run["suite"]["definition"]["scoring"],
        stats=stats,
        verdicts=verdicts,
        verdict_caveat=verdict_caveat,
        matrices=matrices,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def write_report(run_dir: Path) -> Path:
    """Render ``report.html`` into the run folder (atomically) and return its path."""
    folder = RunFolder(run_dir)
    atomic.write_text(folder.report_path, render_report(Path(run_dir)))
    return folder.report_path
