"""Executors: `--jobs 2` and `--executor ray` (a local Ray instance) give the scores of `--jobs 1`; a unit whose
process is killed is started again and one that is always killed fails alone; GPUs are handed out one per
unit; the shared-storage check names node and path; two processes filling one cache entry leave one valid
entry; `--device auto`."""

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
                                                "exec-gpu-witness": "throwaway_executors:GpuWitness"})


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
