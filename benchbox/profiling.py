"""What a unit costs: CPU and wall time of a call, peak GPU memory, the size of any fitted model, and
optional profiler output (a torch profiler trace for torch models, a cProfile dump for the others).

The harness measures every model the same way, so the cost table compares like with like; a plugin's own
``profile_info()`` may add figures it knows better (the e2e models count their forward FLOPs per media
second), and where it gives ``parameters`` the harness takes the plugin's count.

Parameters are counted where they can be: torch tensors (``numel`` of every distinct parameter), support
vector models (support vectors x feature dimension), linear models (coefficients and intercepts), PCA
(components), gradient-boosted trees (nodes of every tree). Feature extractors (openSMILE, face tracking)
have no parameters in this sense and are not counted; FLOPs are given only by plugins that count them, and
are "n/a" elsewhere, never 0.

Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> model = type("M", (), {})()
    >>> model.regressor_ = Ridge().fit(np.ones((4, 3)) * np.arange(4)[:, None], np.arange(4.0))
    >>> model_size(model)
    {'parameters': 4, 'parameters_counted': 'linear coefficients 4'}
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Timed", "timed", "model_size", "gpu_memory_peak", "profiled", "uses_torch", "peak_rss_mb"]


@dataclasses.dataclass(frozen=True)
class Timed:
    """Wall and CPU time of one call (CPU: user + system time of this process, all of its threads)."""

    value: Any
    wall_s: float
    cpu_s: float


def timed(function: Callable, *args) -> Timed:
    """Call ``function(*args)``; its value with the wall and CPU time it took."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = function(*args)
    return Timed(value, time.perf_counter() - wall, time.process_time() - cpu)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``), MiB."""
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # kB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _torch_if_loaded():
    return sys.modules.get("torch")


@contextlib.contextmanager
def gpu_memory_peak(device: str) -> Iterator[dict[str, float]]:
    """On a CUDA device, yield a dict that holds ``peak_gpu_mb`` (``torch.cuda.max_memory_allocated``) once
    the block ends; elsewhere it stays empty."""
    torch = _torch_if_loaded()
    out: dict[str, float] = {}
    on_cuda = device.startswith("cuda") and torch is not None and torch.cuda.is_available()
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        if on_cuda:
            out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def uses_torch(model: Any) -> bool:
    """Whether ``model`` trains a torch network: it says so (``framework = "torch"``) or holds a module."""
    if getattr(model, "framework", None) == "torch":
        return True
    torch = _torch_if_loaded()
    return torch is not None and any(isinstance(v, torch.nn.Module) for v in vars(model).values())


@contextlib.contextmanager
def profiled(enabled: bool, torch_model: bool, out_stem: Path, device: str) -> Iterator[None]:
    """Profile the block into ``<out_stem>.pt.trace.json`` (torch profiler, Chrome trace format: open it in
    Perfetto or chrome://tracing) for a torch model, else into ``<out_stem>.pstats`` (cProfile: read it with
    ``python -m pstats`` or snakeviz)."""
    if not enabled:
        yield
        return
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    if torch_model:
        import torch.profiler as tp

        activities = [tp.ProfilerActivity.CPU]
        if device.startswith("cuda"):
            activities.append(tp.ProfilerActivity.CUDA)
        with tp.profile(activities=activities, record_shapes=False) as prof:
            yield
        prof.export_chrome_trace(str(out_stem.with_name(out_stem.name + ".pt.trace.json")))
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(str(out_stem.with_name(out_stem.name + ".pstats")))


# -- model size ------------------------------------------------------------------------------------------

_MAX_DEPTH = 5


def model_size(model: Any) -> dict[str, Any]:
    """Parameters of a fitted model, found by walking its attributes (lists, dicts, dataclasses and
    scikit-learn pipelines included): ``{"parameters": N, "parameters_counted": "what was counted"}``, or
    ``{"parameters": None, ...}`` when nothing countable was found."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    _walk(model, counts, seen, 0)
    if not counts:
        return {"parameters": None, "parameters_counted": "nothing countable (feature extractors, statistics)"}
    return {"parameters": int(sum(counts.values())),
            "parameters_counted": ", ".join(f"{kind} {n}" for kind, n in counts.items())}


def _add(counts: dict[str, int], kind: str, n: int) -> None:
    counts[kind] = counts.get(kind, 0) + int(n)


def _walk(obj: Any, counts: dict[str, int], seen: set[int], depth: int) -> None:
    if depth > _MAX_DEPTH or id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return  # a bare array is data (features, labels), not a fitted estimator's parameters
    torch = _torch_if_loaded()
    if torch is not None and isinstance(obj, torch.nn.Module):
        distinct = {id(p): p.numel() for p in obj.parameters()}
        _add(counts, "torch tensors", sum(distinct.values()))
        return
    counted = _estimator_parameters(obj)
    if counted is not None:
        _add(counts, *counted)
        return
    for child in _children(obj):
        _walk(child, counts, seen, depth + 1)


def _estimator_parameters(obj: Any) -> tuple[str, int] | None:
    """(kind, count) for a fitted estimator benchbox knows how to count, else None."""
    if hasattr(obj, "get_booster") and callable(obj.get_booster):  # xgboost's scikit-learn wrapper
        try:
            booster = obj.get_booster()
        except Exception:  # not fitted
            return None
        return "tree nodes", sum(len(tree.strip().splitlines()) for tree in booster.get_dump())
    if hasattr(obj, "support_vectors_"):
        return "support vectors x features", int(np.size(obj.support_vectors_))
    if hasattr(obj, "coef_") and not hasattr(obj, "steps"):
        return "linear coefficients", int(np.size(obj.coef_) + np.size(getattr(obj, "intercept_", 0)))
    if hasattr(obj, "components_") and hasattr(obj, "explained_variance_"):
        return "PCA components", int(np.size(obj.components_))
    return None


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if hasattr(obj, "steps") and isinstance(obj.steps, list):  # scikit-learn Pipeline
        return [step for _, step in obj.steps]
    if hasattr(obj, "estimators_"):  # multi-output wrappers
        return list(obj.estimators_)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    if hasattr(obj, "__dict__") and not isinstance(obj, type) and type(obj).__module__ != "builtins":
        return list(vars(obj).values())
    return []
