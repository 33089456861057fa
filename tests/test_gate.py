"""`benchbox baseline`, `check` and `compare` on real runs: an A/A comparison passes, added noise is a score
regression (exit 1), a 3x slower predict is a speed regression (exit 2), another suite version is not
comparable (exit 3), usage errors exit 4, the Markdown table says what the text table says, and the test
from per-session sums equals the same test on the full predictions."""

import itertools
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from plugin_packages import install_plugin_package

from benchbox.cli import main
from benchbox.gate import Baseline, compare_baselines, load_thresholds
from benchbox.gate.baseline import UNNAMED_CONTROL
from benchbox.gate.thresholds import Thresholds
from benchbox.machine import CONTROL_WORKLOAD, control_workload
from benchbox.metrics import ccc_score, rmse_error

GATE_PLUGINS = '''
import time

import numpy as np


class NoisyMean:
    """The training mean, plus white noise of SD ``noise_sd`` (0: none)."""

    name = "gate-noisy-mean"
    modalities = frozenset()

    def __init__(self, noise_sd=0.0):
        self.noise_sd = noise_sd

    def fit(self, train, select, ctx):
        self.mean_ = np.concatenate([s.labels for s in train]).mean(axis=0)

    def predict(self, sessions, ctx):
        rng = np.random.default_rng(ctx.seed + 17)
        return {s.id: self.mean_ + rng.normal(scale=self.noise_sd, size=(s.num_frames, len(self.mean_)))
                for s in sessions}


class TorchMean(NoisyMean):
    """The training mean, as the bias of a torch linear layer (a torch model for the profiler)."""

    name = "gate-torch-mean"
    framework = "torch"

    def __init__(self):
        super().__init__(noise_sd=0.0)

    def fit(self, train, select, ctx):
        import torch

        super().fit(train, select, ctx)
        self.layer_ = torch.nn.Linear(1, len(self.mean_))
        with torch.no_grad():
            self.layer_.weight.zero_()
            self.layer_.bias.copy_(torch.as_tensor(self.mean_))

    def predict(self, sessions, ctx):
        import torch

        with torch.no_grad():
            return {s.id: self.layer_(torch.zeros(s.num_frames, 1)).double().numpy() for s in sessions}


class Sleepy(NoisyMean):
    """The training mean, after sleeping ``predict_sleep_s`` in every predict call."""

    name = "gate-sleepy"

    def __init__(self, predict_sleep_s=0.0):
        super().__init__(noise_sd=0.0)
        self.predict_sleep_s = predict_sleep_s

    def predict(self, sessions, ctx):
        time.sleep(self.predict_sleep_s)
        return super().predict(sessions, ctx)
'''


@pytest.fixture(scope="module")
def gate_site(tmp_path_factory) -> Path:
    return install_plugin_package(tmp_path_factory, package="throwaway-gate", module="throwaway_gate",
                                  source=GATE_PLUGINS,
                                  entry_points={"gate-noisy-mean": "throwaway_gate:NoisyMean",
                                                "gate-sleepy": "throwaway_gate:Sleepy",
                                                "gate-torch-mean": "throwaway_gate:TorchMean"})


@pytest.fixture(scope="module")
def gate_corpus(tmp_path_factory) -> Path:
    """Six scored (dev) sessions: the one-sided session test can reach p = 1/64."""
    from benchbox.corpus.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("gate") / "corpus", train=4, dev=6, test=0, seconds=4.0, workers=1)


@pytest.fixture(scope="module")
def gate_suite(tmp_path_factory) -> Path:
    """avec2016 with two delay candidates and no post-processing (quicker; noise is not smoothed away)."""
    text = resources.files("benchbox.suites").joinpath("avec2016.toml").read_text()
    text = text.replace("annotation_delay_s = [0.0, 0.8, 1.6, 2.4, 3.2, 4.0]", "annotation_delay_s = [0.0, 0.8]")
    text = text.replace("postprocessing = true", "postprocessing = false")
    path = tmp_path_factory.mktemp("suite") / "gate.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def runs(gate_site, gate_corpus, gate_suite, tmp_path_factory):
    """A baseline run, the same command again, one with noise added, one with a 3x slower predict."""
    root = tmp_path_factory.mktemp("gate-runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(gate_site))
        patch.setenv("BENCHBOX_HOME", str(root / "home"))

        def run(out, models, *extra):
            code = main(["run", "--suite", str(gate_suite), "--data-root", str(gate_corpus), "--out", str(root / out),
                         "--no-progress", "--models", models, "--timing-repeats", "5", *extra])
            assert code == 0
            return root / out

        both = "mean,gate-noisy-mean,gate-sleepy"
        return {
            "base": run("base", both, "--option", "gate-sleepy.predict_sleep_s=0.06"),
            "again": run("again", both, "--option", "gate-sleepy.predict_sleep_s=0.06"),
            "noisy": run("noisy", "gate-noisy-mean", "--option", "gate-noisy-mean.noise_sd=0.3"),
            "slow": run("slow", "gate-sleepy", "--option", "gate-sleepy.predict_sleep_s=0.18"),
        }


@pytest.fixture(scope="module")
def baseline_file(runs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("baseline") / "baseline.json"
    assert main(["baseline", str(runs["base"]), "--out", str(path)]) == 0
    return path


def test_a_run_checked_against_its_own_baseline_and_an_identical_run_passes(runs, baseline_file, capsys):
    capsys.readouterr()
    assert main(["check", str(runs["base"]), "--against", str(baseline_file)]) == 0
    assert main(["compare", str(runs["base"]), str(runs["again"]), "--no-speed"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "0 regression(s), 0 suspect" in out
    rows = [line for line in out.splitlines() if re.search(r"\b(ccc|rmse)\b", line)]
    assert rows and all("+0.0000" in row for row in rows)  # the same command gives bit-identical scores


def test_noise_added_by_an_option_is_a_score_regression(runs, baseline_file, capsys, tmp_path):
    capsys.readouterr()
    markdown = tmp_path / "summary.md"
    code = main(["check", str(runs["noisy"]), "--against", str(baseline_file), "--no-speed", "--allow-missing",
                 "--markdown", str(markdown)])
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(row for row in out.splitlines() if "gate-noisy-mean" in row and "rmse" in row)
    assert line.startswith("x") and "regression: worse by" in line
    p = float(line.split()[7])  # mark, model, target, figure, old, new, change, p
    assert p == pytest.approx(1 / 64, abs=1e-4)  # every one of the 6 sessions got worse: the smallest one-sided p
    assert "gate-noisy-mean: its options differ from the baseline's" in out
    # without --allow-missing the models the run lacks fail it too; --warn-only always passes
    assert main(["check", str(runs["noisy"]), "--against", str(baseline_file), "--no-speed", "--warn-only"]) == 0
    verdicts = _verdicts_of_text(out)
    assert len(verdicts) == 6 and ("x", "gate-noisy-mean", "arousal", "rmse", "regression") in verdicts
    assert _verdicts_of_markdown(markdown.read_text()) == verdicts


def test_a_three_times_slower_predict_is_a_speed_regression(runs, baseline_file, capsys):
    capsys.readouterr()
    code = main(["check", str(runs["slow"]), "--against", str(baseline_file), "--allow-missing"])
    out = capsys.readouterr().out
    assert code == 2, out
    line = next(row for row in out.splitlines() if "gate-sleepy" in row and "predict RTF" in row)
    assert line.startswith("x") and "raw > factor 1.25" in line
    assert float(re.search(r"(\d+\.\d\d)x raw", line).group(1)) > 2.5
    assert main(["check", str(runs["slow"]), "--against", str(baseline_file), "--allow-missing", "--no-speed"]) == 0


def test_a_baseline_of_another_suite_version_is_not_comparable(runs, baseline_file, capsys, tmp_path):
    data = json.loads(baseline_file.read_text())
    data["key"]["suite_version"] = "0.9.0"
    other = tmp_path / "old.json"
    other.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(runs["base"]), "--against", str(other)]) == 3
    out = capsys.readouterr().out
    assert 'NOT COMPARABLE: suite_version (suite version): baseline "0.9.0", run "1.1.0"' in out


def test_usage_and_file_errors_exit_4(runs, tmp_path, capsys):
    assert main(["check", str(runs["base"]), "--against", str(tmp_path / "none.json")]) == 4
    assert "does not exist; make a baseline with `benchbox baseline" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(runs["base"])])
    assert exit_info.value.code == 4
    assert main(["baseline", str(tmp_path), "--out", str(tmp_path / "b.json")]) == 4
    bad = tmp_path / "thresholds.toml"
    bad.write_text("[check]\ntolerance = { ccc = 'high' }\n")
    assert main(["compare", str(runs["base"]), str(runs["again"]), "--config", str(bad)]) == 4
    assert "tolerance.ccc must be a number" in capsys.readouterr().err


def test_thresholds_come_from_suite_pyproject_and_config_in_that_order(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.benchbox.check]\nfit_factor = 2.0\n'
                                             '[[tool.benchbox.check.override]]\nmodel = "e2e-*"\ntolerance = 0.2\n')
    config = tmp_path / "gate.toml"
    config.write_text("[check]\nalpha = 0.01\nfit_factor = 3.0\n")
    suite = {"check": {"alpha": 0.1, "tolerance": {"rmse": 0.05}, "predict_factor": 1.5}}
    thresholds = load_thresholds(suite_definition=suite, config=config, cwd=tmp_path)
    assert (thresholds.alpha, thresholds.fit_factor, thresholds.predict_factor) == (0.01, 3.0, 1.5)
    assert thresholds.tolerance_for("egemaps-svr", "arousal", "rmse") == 0.05
    assert thresholds.tolerance_for("e2e-audio", "arousal", "ccc") == 0.2
    assert thresholds.tolerance_for("egemaps-svr", "arousal", "ccc") == 0.01
    assert len(thresholds.sources) == 4


def test_the_test_from_sums_equals_the_test_on_the_full_predictions(runs):
    """The check's one-sided p (from the baseline's per-session sums) against a direct enumeration of all
    2^6 swaps of whole sessions' predictions between the two runs, each scored on the pooled frames."""
    from benchbox.record import RunFolder

    base, noisy = Baseline.from_run(runs["base"]), Baseline.from_run(runs["noisy"])
    result = compare_baselines(base, noisy, Thresholds(metrics=("ccc", "rmse")), speed=False)
    gold = RunFolder(runs["base"]).read_gold(("arousal", "valence"))
    gold = gold[gold["partition"] == "test"].sort_values(["session", "frame"])
    old = RunFolder(runs["base"]).read_predictions("gate-noisy-mean", 0).set_index(["session", "frame"])
    new = RunFolder(runs["noisy"]).read_predictions("gate-noisy-mean", 0).set_index(["session", "frame"])
    sessions = sorted(gold["session"].unique())
    for target, metric in itertools.product(("arousal", "valence"), ("ccc", "rmse")):
        truth = {s: gold.loc[gold["session"] == s, target].to_numpy() for s in sessions}
        a = {s: old.loc[s, target].to_numpy() for s in sessions}
        b = {s: new.loc[s, target].to_numpy() for s in sessions}
        expected = _enumerated_worse_p(truth, a, b, sessions, metric)
        finding = next(f for f in result.findings if f.model == "gate-noisy-mean" and f.target == target
                       and f.figure == metric)
        assert finding.p_value == pytest.approx(expected, abs=1e-12), (target, metric)


def _enumerated_worse_p(truth, old, new, sessions, metric) -> float:
    """One-sided p of "new is worse than old": every subset of sessions swapped, pooled metric recomputed."""
    score = ccc_score if metric == "ccc" else rmse_error

    def pooled(first, second, swap):
        chosen = [second[s] if k in swap else first[s] for k, s in enumerate(sessions)]
        return np.concatenate([truth[s] for s in sessions]), np.concatenate(chosen)

    def worse(swap) -> float:
        before, after = score(*pooled(old, new, swap)), score(*pooled(new, old, swap))
        return before - after if metric == "ccc" else after - before

    observed = worse(())
    swaps = [set(c) for r in range(len(sessions) + 1) for c in itertools.combinations(range(len(sessions)), r)]
    return float(np.mean([worse(swap) >= observed - 1e-10 * max(1.0, abs(observed)) for swap in swaps]))


def _verdicts_of_text(out: str) -> list[tuple[str, ...]]:
    rows = []
    for line in out.splitlines():
        figure = r"(ccc|rmse|fit s/candidate|predict RTF|model)"
        match = re.match(r"^(.)  (\S+)\s+(\S+)\s+" + figure + r"\s.*?\s{2}(\w+)(:|$)", line)
        if match and match.group(2) != "model":
            rows.append((match.group(1).strip(), match.group(2), match.group(3), match.group(4), match.group(5)))
    return rows


def _verdicts_of_markdown(text: str) -> list[tuple[str, ...]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 9 and cells[1] not in ("model", "---") and not cells[0].startswith("---"):
            rows.append((cells[0], cells[1], cells[2], cells[3], cells[8].split(":")[0]))
    return rows


def test_every_unit_records_its_profile_and_profile_writes_traces(gate_site, gate_corpus, gate_suite, tmp_path,
                                                                 monkeypatch):
    import pstats

    from benchbox.record import RunFolder

    monkeypatch.syspath_prepend(str(gate_site))
    out = tmp_path / "run"
    assert main(["run", "--suite", str(gate_suite), "--data-root", str(gate_corpus), "--out", str(out),
                 "--no-progress", "--models", "mean,egemaps-ridge,gate-torch-mean", "--timing-repeats", "2",
                 "--profile"]) == 0
    folder = RunFolder(out)
    run = folder.read_run()
    assert run.environment.calibration_s > 0 and run.environment.machine["cpu_count"] >= 1
    assert run.environment.machine_id and run.environment.timing_repeats == 2
    sizes = {}
    for model in ("mean", "egemaps-ridge", "gate-torch-mean"):
        status = folder.unit_status(model, 0)
        timing = status.timing
        assert len(timing["fit_s"]) == len(timing["fit_cpu_s"]) == 2  # two delay candidates
        assert len(timing["predict_s"]) == len(timing["predict_cpu_s"]) == 4  # x 2 timed predict calls
        assert timing["machine_id"] == run.environment.machine_id and timing["predict_media_s"] > 0
        assert status.process["peak_rss_mb"] > 50
        assert status.size["flops_per_media_second"] is None  # not counted by these models: n/a, never 0
        sizes[model] = status.size
    assert sizes["mean"]["parameters"] is None
    assert sizes["egemaps-ridge"]["parameters_counted"].startswith("linear coefficients")
    assert sizes["egemaps-ridge"]["parameters"] == 2 * (88 + 1)  # 88 eGeMAPS functionals + intercept, 2 targets
    assert sizes["gate-torch-mean"] == {"parameters": 4, "parameters_counted": "torch tensors 4",
                                        "flops_per_media_second": None}
    scratch = out / "units" / "{}" / "seed-0" / "scratch" / "delay-0"
    stats = pstats.Stats(str(scratch).format("egemaps-ridge") + "/profile.pstats")
    assert any("predict" in name for _, _, name in stats.stats)
    trace = json.loads(Path(str(scratch).format("gate-torch-mean"), "profile.pt.trace.json").read_text())
    assert any(event.get("name", "").startswith("aten::") for event in trace["traceEvents"])
    html = (out / "report.html").read_text()
    assert 'title="linear coefficients 178">178<' in html and 'title="torch tensors 4">4<' in html
    assert "n/a" in html and "calibration workload" in html
    assert folder.unit_status("mean", 0).timing["control_workload"] == CONTROL_WORKLOAD


def test_timings_from_another_machine_are_compared_per_calibration_time(runs):
    """Without controls (``use_control = false``): a machine twice as slow (calibration workload 2x) that runs
    the sleepy predict twice as slow passes; one that runs it four times as slow is past the cross-machine
    factor 1.5."""
    import dataclasses

    base = Baseline.from_run(runs["base"])
    sleepy = base.models["gate-sleepy"]

    def on_other_machine(slowdown: float) -> Baseline:
        timing = {**sleepy.timing, "predict_s": [t * slowdown for t in sleepy.timing["predict_s"]],
                  "machine_ids": ["elsewhere"]}
        return dataclasses.replace(base, machine_id="elsewhere", calibration_s=base.calibration_s * 2,
                                   models={"gate-sleepy": dataclasses.replace(sleepy, timing=timing)})

    thresholds = Thresholds(use_control=False)
    same_speed = compare_baselines(base, on_other_machine(2.0), thresholds)
    assert "timed on different machines" in " ".join(same_speed.notes)
    predict = next(f for f in same_speed.findings if f.model == "gate-sleepy" and f.figure == "predict RTF")
    assert predict.verdict == "ok" and predict.ratio == pytest.approx(1.0) and "per calibration" in predict.note
    slower = compare_baselines(base, on_other_machine(4.0), thresholds)
    predict = next(f for f in slower.findings if f.model == "gate-sleepy" and f.figure == "predict RTF")
    assert predict.verdict == "regression" and predict.ratio == pytest.approx(2.0)
    assert "other machine" in predict.note and "factor 1.5" in predict.note
    assert slower.exit_code(allow_missing=True) == 2


def test_timings_are_divided_by_controls_only_where_both_sides_timed_the_same_control(runs):
    """A run whose predict calls and controls both take twice as long passes per control; the same run
    against a baseline that named no control workload (benchbox before 2026-12, another control) is compared
    raw and fails, and the note says why."""
    import dataclasses

    base = Baseline.from_run(runs["base"])
    sleepy = base.models["gate-sleepy"]
    assert sleepy.timing["control_workloads"] == [CONTROL_WORKLOAD]

    def slowed(workloads: list[str]) -> Baseline:
        timing = {**sleepy.timing, "predict_s": [t * 2 for t in sleepy.timing["predict_s"]],
                  "predict_control_s": [t * 2 for t in sleepy.timing["predict_control_s"]],
                  "control_workloads": workloads}
        return dataclasses.replace(base, models={"gate-sleepy": dataclasses.replace(sleepy, timing=timing)})

    def predict(result):
        return next(f for f in result.findings if f.model == "gate-sleepy" and f.figure == "predict RTF")

    same = predict(compare_baselines(base, slowed([CONTROL_WORKLOAD]), Thresholds()))
    assert same.verdict == "ok" and same.ratio == pytest.approx(1.0) and "per control" in same.note
    other = predict(compare_baselines(base, slowed([UNNAMED_CONTROL]), Thresholds()))
    assert other.verdict == "regression" and other.ratio == pytest.approx(2.0)
    assert "raw" in other.note and "different control workloads" in other.note


def test_timings_taken_beside_other_work_are_noted(runs):
    """The fixture's runs use every core (default --jobs) and each of its models one CPU: on a machine of
    several cores, their units were timed while others could run beside them, and the check says so."""
    import dataclasses

    from benchbox.executors.local import available_cores

    base = Baseline.from_run(runs["base"])
    beside = available_cores() > 1
    assert {m.timing["beside_other_work"] for m in base.models.values()} == {beside}
    note = "timed units while other units or feature jobs could run"
    assert any(note in n for n in compare_baselines(base, base, Thresholds()).notes) == beside
    alone = dataclasses.replace(base, models={name: dataclasses.replace(
        m, timing={**m.timing, "beside_other_work": False}) for name, m in base.models.items()})
    assert not any(note in n for n in compare_baselines(alone, alone, Thresholds()).notes)
    result = compare_baselines(alone, base, Thresholds())
    assert any(n.startswith("The run timed units") for n in result.notes) == beside
    assert not any(note in n for n in compare_baselines(alone, base, Thresholds(), speed=False).notes)


def test_the_control_workload_allocates_nothing():
    """The control's time must not depend on what the process allocated before it (a conv1d control whose
    buffer glibc mapped and unmapped on every call read twice as slow before a model's first allocations):
    after its inputs exist, it allocates nothing in numpy (tracemalloc) or torch (the profiler's memory
    events; a few bytes for the scalar of an in-place multiply)."""
    import tracemalloc

    from torch.profiler import ProfilerActivity, profile

    control_workload()  # inputs made once per process
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        control_workload()
        numpy_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert numpy_peak < 4096
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as trace:
        control_workload()
    allocated = sum(max(event.cpu_memory_usage, 0) for event in trace.events())
    assert allocated < 4096
