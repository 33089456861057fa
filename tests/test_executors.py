"""Executors: `--jobs 2` and `--executor ray` (a local Ray instance) give the scores of `--jobs 1`; a unit whose
process is killed is started again and one that is always killed fails alone; GPUs are handed out one per
unit; declared features are extracted per session before the units, a failed step is reported; a two-node Ray
cluster runs units on both nodes; the task graph's order; the shared-storage check names node and path; two
processes filling one cache entry leave one valid entry; `--device auto`."""

import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plugin_packages import install_plugin_package

from benchbox.cli import main
from benchbox.record import RunFolder

EXECUTOR_PLUGINS = '''
import os
import signal
import time

import numpy as np


class _Mean:
    modalities = frozenset()

    def fit(self, train, select, ctx):
        self.mean_ = np.concatenate([s.labels for s in train]).mean(axis=0)

    def predict(self, sessions, ctx):
        return {s.id: np.tile(self.mean_, (s.num_frames, 1)) for s in sessions}


class KilledOnce(_Mean):
    """Its process is killed (SIGKILL, as by the out-of-memory killer) the first time it fits."""

    name = "exec-killed-once"

    def fit(self, train, select, ctx):
        marker = ctx.scratch_dir.parent / "attempted"  # once per unit, not per delay candidate
        if not marker.exists():
            marker.write_text("1")
            os.kill(os.getpid(), signal.SIGKILL)
        super().fit(train, select, ctx)


class AlwaysKilled(_Mean):
    """Its process is killed every time it fits."""

    name = "exec-always-killed"

    def fit(self, train, select, ctx):
        os.kill(os.getpid(), signal.SIGKILL)


def note_feature(session, cache, *, tag):
    """A feature step: caches the session's frame count with the id of the process that computed it."""
    cache.array("exec-feature", "1", {"tag": tag, "session": session.id}, [],
                lambda: np.array([session.num_frames, os.getpid()]))


def broken_feature(session, cache):
    raise RuntimeError("no such codec")


class FeatureReader(_Mean):
    """Declares a feature step and reads its entries in fit, noting which process had computed them."""

    name = "exec-feature-reader"

    def feature_requests(self, device):
        from benchbox.features import FeatureRequest

        return [FeatureRequest("throwaway_executors:note_feature", "audio", {"tag": "a"})]

    def fit(self, train, select, ctx):
        entries = [ctx.cache.array("exec-feature", "1", {"tag": "a", "session": s.id}, [],
                                   lambda: np.array([-1, -1])) for s in [*train, *select]]
        self.feature_pids_ = sorted({int(entry[1]) for entry in entries})
        super().fit(train, select, ctx)

    def profile_info(self):
        return {"feature_pids": self.feature_pids_, "unit_pid": os.getpid()}


class BrokenFeature(_Mean):
    """Declares a feature step that always fails; the unit itself does not need it."""

    name = "exec-broken-feature"

    def feature_requests(self, device):
        from benchbox.features import FeatureRequest

        return [FeatureRequest("throwaway_executors:broken_feature", "video", label="broken step")]


class Slow(_Mean):
    """Takes a second to fit (so that units overlap on a cluster)."""

    name = "exec-slow"

    def fit(self, train, select, ctx):
        time.sleep(1.0)
        super().fit(train, select, ctx)


class PidWitness(_Mean):
    """Notes the process each fit ran in."""

    name = "exec-pid-witness"

    def profile_info(self):
        return {"pid": os.getpid()}


class WideA(_Mean):
    """Asks for two CPUs."""

    name = "exec-wide-a"
    resources = {"num_cpus": 2}


class WideB(WideA):
    name = "exec-wide-b"


class WideAfter(WideA):
    """Asks for two CPUs and waits for the two wide models above (its predictions are its own)."""

    name = "exec-wide-after"
    requires = ("exec-wide-a", "exec-wide-b")
    combines_predictions = False


class GpuWitness(_Mean):
    """A torch model (so it asks for a GPU on CUDA) that only notes the GPU it was given and when it ran."""

    name = "exec-gpu-witness"
    framework = "torch"

    def fit(self, train, select, ctx):
        self.started_ = time.time()
        time.sleep(1.0)
        super().fit(train, select, ctx)
        self.ended_ = time.time()

    def profile_info(self):
        return {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "started": getattr(self, "started_", None),
                "ended": getattr(self, "ended_", None)}
'''


@pytest.fixture(scope="module")
def executor_site(tmp_path_factory) -> Path:
    return install_plugin_package(tmp_path_factory, package="throwaway-executors", module="throwaway_executors",
                                  source=EXECUTOR_PLUGINS,
                                  entry_points={"exec-killed-once": "throwaway_executors:KilledOnce",
                                                "exec-always-killed": "throwaway_executors:AlwaysKilled",
                                                "exec-gpu-witness": "throwaway_executors:GpuWitness",
                                                "exec-feature-reader": "throwaway_executors:FeatureReader",
                                                "exec-broken-feature": "throwaway_executors:BrokenFeature",
                                                "exec-slow": "throwaway_executors:Slow",
                                                "exec-wide-a": "throwaway_executors:WideA",
                                                "exec-wide-b": "throwaway_executors:WideB",
                                                "exec-wide-after": "throwaway_executors:WideAfter",
                                                "exec-pid-witness": "throwaway_executors:PidWitness"})


@pytest.fixture
def with_plugins(executor_site, monkeypatch):
    monkeypatch.syspath_prepend(str(executor_site))
    return executor_site


def _run(corpus, out, models, *extra):
    return main(["run", "--data-root", str(corpus), "--out", str(out), "--no-progress", "--models", models, *extra])


def _scores(out) -> pd.DataFrame:
    return pd.read_csv(Path(out) / "scores.csv").sort_values(["model", "seed", "partition", "target", "metric",
                                                              "scope", "session"]).reset_index(drop=True)


def test_jobs_and_ray_give_the_scores_of_one_job(foreign_corpus, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="benchbox[ray] is not installed")
    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))  # Ray first, on a home without a cache yet
    models = "mean,egemaps-ridge"
    assert _run(foreign_corpus, tmp_path / "ray", models, "--executor", "ray") == 0
    assert _run(foreign_corpus, tmp_path / "one", models, "--jobs", "1") == 0
    assert _run(foreign_corpus, tmp_path / "two", models, "--jobs", "2") == 0
    reference = _scores(tmp_path / "one")
    assert len(reference) > 20
    pd.testing.assert_frame_equal(_scores(tmp_path / "two"), reference, rtol=0, atol=0)
    pd.testing.assert_frame_equal(_scores(tmp_path / "ray"), reference, rtol=0, atol=0)
    status = RunFolder(tmp_path / "ray").unit_status("egemaps-ridge", 0)
    assert status.process["threads"] == 1  # the CPUs of its Ray task


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_killed_unit_is_started_again_and_one_always_killed_fails_alone(with_plugins, foreign_corpus, tmp_path,
                                                                          executor, capsys):
    if executor == "ray":
        pytest.importorskip("ray", reason="benchbox[ray] is not installed")
    out = tmp_path / "run"
    code = _run(foreign_corpus, out, "mean,exec-killed-once,exec-always-killed", "--executor", executor,
                "--retries", "1")
    assert code == 1
    folder = RunFolder(out)
    assert folder.is_done("mean", 0) and folder.is_done("exec-killed-once", 0)
    assert folder.unit_status("exec-killed-once", 0).process.get("attempts", 1) >= 1
    failed = folder.unit_status("exec-always-killed", 0)
    assert failed.status == "failed"
    assert "killed by signal SIGKILL" in failed.error and "attempt 2" in failed.error
    assert "Traceback" not in capsys.readouterr().err


def test_each_unit_that_asks_for_a_gpu_gets_one_of_its_own(with_plugins, foreign_corpus, tmp_path, monkeypatch):
    """Two GPUs, three units that want one, three at a time: two run at once on different GPUs, the third
    waits for a free one. (No GPU is touched: the witness only notes its CUDA_VISIBLE_DEVICES.)"""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    out = tmp_path / "run"
    assert _run(foreign_corpus, out, "exec-gpu-witness", "--device", "cuda", "--seeds", "3", "--jobs", "3") == 0
    run = RunFolder(out).read_run()
    assert run.environment.device == "cuda"
    units = [run.model("exec-gpu-witness").units[seed].profile for seed in range(3)]
    assert {u["gpu"] for u in units} == {"3", "5"}
    for a in units:
        for b in units:
            if a is not b and a["gpu"] == b["gpu"]:
                assert a["ended"] <= b["started"] or b["ended"] <= a["started"]  # never two on one GPU


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_declared_features_are_extracted_per_session_before_the_unit_and_a_failed_step_is_reported(
        with_plugins, foreign_corpus, tmp_path, monkeypatch, executor, caplog):
    if executor == "ray":
        pytest.importorskip("ray", reason="benchbox[ray] is not installed")
    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    assert _run(foreign_corpus, out, "exec-feature-reader,exec-broken-feature", "--executor", executor,
                "--jobs", "2") == 0
    folder = RunFolder(out)
    profile = folder.unit_status("exec-feature-reader", 0).profile
    # every entry was there before fit (none computed as -1 in the unit), from processes other than the unit's
    assert -1 not in profile["feature_pids"] and profile["unit_pid"] not in profile["feature_pids"]
    assert folder.is_done("exec-broken-feature", 0)
    reported = [r.getMessage() for r in caplog.records if "no such codec" in r.getMessage()]
    assert len(reported) == 1  # once, not once per session
    assert reported[0].startswith("video features of session") and "broken step: RuntimeError" in reported[0]


def test_a_two_node_ray_cluster_runs_units_on_both_nodes_with_the_scores_of_one_machine(
        with_plugins, foreign_corpus, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="benchbox[ray] is not installed")
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        assert _run(foreign_corpus, tmp_path / "cluster", "exec-slow,egemaps-ridge", "--seeds", "4",
                    "--executor", "ray", "--ray-address", cluster.address) == 0
    finally:
        ray.shutdown()
        cluster.shutdown()
    run = RunFolder(tmp_path / "cluster").read_run()
    nodes = {run.model("exec-slow").units[seed].process["node"] for seed in range(4)}
    assert len(nodes) == 2, nodes
    assert _run(foreign_corpus, tmp_path / "local", "exec-slow,egemaps-ridge", "--seeds", "4", "--jobs", "1") == 0
    pd.testing.assert_frame_equal(_scores(tmp_path / "cluster"), _scores(tmp_path / "local"), rtol=0, atol=0)


def test_with_more_cores_than_units_the_delay_candidates_are_fitted_in_parallel_with_the_same_scores(
        with_plugins, foreign_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))
    assert _run(foreign_corpus, tmp_path / "split", "mean,exec-pid-witness", "--jobs", "4") == 0
    unit_dir = RunFolder(tmp_path / "split").unit_dir("exec-pid-witness", 0)
    records = [json.loads(path.read_text()) for path in sorted(unit_dir.glob("delay-*.json"))]
    assert len(records) == 6  # the suite's six annotation-delay candidates
    status = RunFolder(tmp_path / "split").unit_status("exec-pid-witness", 0)
    pids = {record["profile"]["pid"] for record in records}
    assert len(pids) == 6 and status.process["pid"] not in pids  # each candidate in a process of its own
    assert _run(foreign_corpus, tmp_path / "one", "mean,exec-pid-witness", "--jobs", "1") == 0
    pd.testing.assert_frame_equal(_scores(tmp_path / "split"), _scores(tmp_path / "one"), rtol=0, atol=0)


def test_the_task_graph_starts_the_longest_chains_and_larger_jobs_first_and_units_before_features():
    from types import SimpleNamespace

    from benchbox.corpus.session import Session
    from benchbox.executors import LocalExecutor, TaskGraph, UnitJob
    from benchbox.executors.graph import feature_key, unit_key
    from benchbox.features import FeatureJob

    def unit(name, cpus=1, requires=()):
        job = SimpleNamespace(key=(name, 0), seed=0, spec=SimpleNamespace(requires=requires),
                              resources={"num_cpus": cpus}, cpu_share=1)
        job.cpus = lambda cores: UnitJob.cpus(job, cores)
        return job

    units = [unit("egemaps-xgb"), unit("egemaps-svr"), unit("late-fusion", requires=("egemaps-svr",)),
             unit("e2e-video", 4), unit("e2e-audio", 4), unit("e2e-av", 4, requires=("e2e-audio", "e2e-video"))]
    session = Session("s1", "train", Path("s1.wav"), Path("s1.mp4"), num_frames=10)
    features = [FeatureJob(session, "audio", (), Path("cache")), FeatureJob(session, "video", (), Path("cache"))]
    needs = {("egemaps-xgb", 0): [("s1", "audio")], ("egemaps-svr", 0): [("s1", "audio")],
             ("e2e-audio", 0): [("s1", "audio")], ("e2e-video", 0): [("s1", "video")]}
    executor = LocalExecutor(jobs=2)
    assert executor.cpus(units[4]) == 2 and executor.cpus(units[0]) == 1  # at most the run's cores
    graph = TaskGraph(units, features, needs, cpus=executor.cpus)
    assert graph.ready() == [feature_key("s1", "audio"), feature_key("s1", "video")]
    graph.start(feature_key("s1", "audio"))
    graph.finish(feature_key("s1", "audio"))
    # a feature job ranks with the most urgent unit that reads it (it counts for nothing itself)
    assert graph.rank(feature_key("s1", "video")) == graph.rank(unit_key("e2e-video", 0)) == 2
    # e2e-audio and egemaps-svr lead chains of two units; e2e-audio holds more CPUs; a unit goes before a
    # feature job of the same rank (the video crops, which e2e-video waits for); egemaps-xgb leads no chain
    assert graph.ready() == [unit_key("e2e-audio", 0), unit_key("egemaps-svr", 0), feature_key("s1", "video"),
                             unit_key("egemaps-xgb", 0)]
    for key in [feature_key("s1", "video"), unit_key("e2e-audio", 0)]:
        graph.start(key)
        graph.finish(key)
    assert unit_key("e2e-av", 0) not in graph.ready()  # e2e-video has not run
    assert graph.ready()[0] == unit_key("e2e-video", 0)


def test_units_that_declare_several_cpus_and_may_run_together_share_the_cores():
    from benchbox.executors import cpu_shares

    e2e = [("e2e-audio", 4, ()), ("e2e-video", 4, ()), ("e2e-av", 4, ("e2e-audio", "e2e-video")),
           ("egemaps-xgb", 1, ()), ("late-fusion", 1, ("egemaps-xgb",))]
    one_seed = cpu_shares([(name, 0, requires, cpus) for name, cpus, requires in e2e])
    # audio and video may run together; e2e-av waits for both, so it shares with neither
    assert one_seed == {("e2e-audio", 0): 2, ("e2e-video", 0): 2, ("e2e-av", 0): 1, ("egemaps-xgb", 0): 1,
                        ("late-fusion", 0): 1}
    two_seeds = cpu_shares([(name, seed, requires, cpus) for name, cpus, requires in e2e for seed in (0, 1)])
    assert two_seeds["e2e-audio", 0] == 5  # itself, e2e-video of seed 0 and the three e2e units of seed 1
    assert two_seeds["e2e-av", 1] == 4  # itself and the three e2e units of seed 0

    def threads(share, cores, declared=4):
        from types import SimpleNamespace

        from benchbox.executors import UnitJob

        return UnitJob.cpus(SimpleNamespace(resources={"num_cpus": declared}, cpu_share=share), cores)

    assert [threads(2, 2), threads(1, 2), threads(2, 8), threads(1, 8), threads(5, 2), threads(1, 1)] == \
        [1, 2, 4, 4, 1, 1]


def test_wide_units_that_may_run_together_get_a_share_of_the_cores_and_the_unit_after_them_all(
        with_plugins, foreign_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))
    assert _run(foreign_corpus, tmp_path / "run", "exec-wide-a,exec-wide-b,exec-wide-after", "--jobs", "2") == 0
    run = RunFolder(tmp_path / "run").read_run()
    threads = {name: run.model(name).units[0].process["threads"] for name in ("exec-wide-a", "exec-wide-b",
                                                                               "exec-wide-after")}
    assert threads == {"exec-wide-a": 1, "exec-wide-b": 1, "exec-wide-after": 2}


def test_the_storage_check_names_the_node_and_the_path(tmp_path):
    import socket

    from benchbox.executors.ray_executor import storage_problems

    a_file = tmp_path / "file"
    a_file.write_text("x")
    problems = storage_problems([tmp_path, tmp_path / "missing-corpus"], a_file)
    node = socket.gethostname()
    assert problems[0] == f"{node}: {tmp_path / 'missing-corpus'} does not exist here"
    assert problems[1].startswith(f"{node}: cannot write into {a_file}")
    assert storage_problems([tmp_path], tmp_path) == []


def _fill(cache_root: str, delay_s: float, queue) -> None:
    from benchbox.cache import Cache

    def slow():
        time.sleep(delay_s)
        return np.arange(200_000, dtype=np.float64)

    queue.put(float(Cache(Path(cache_root)).array("demo", "1", {"k": 1}, [], slow).sum()))


def test_two_processes_filling_one_cache_entry_leave_one_valid_entry(tmp_path):
    from benchbox.cache import Cache

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_fill, args=(str(tmp_path / "cache"), 0.5, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    expected = float(np.arange(200_000, dtype=np.float64).sum())
    assert [queue.get(timeout=5), queue.get(timeout=5)] == [expected, expected]
    cache = Cache(tmp_path / "cache")
    entry = cache.entry_path("demo", cache.key("demo", "1", {"k": 1}, []), ".npy")
    np.testing.assert_array_equal(np.load(entry), np.arange(200_000, dtype=np.float64))
    leftovers = [p.name for p in entry.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_device_auto_is_the_cpu_without_a_gpu_and_the_record_says_so(foreign_corpus, tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _run(foreign_corpus, tmp_path / "run", "mean") == 0
    assert "Device: cpu: " in capsys.readouterr().err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["environment"]["device"] == "cpu"
