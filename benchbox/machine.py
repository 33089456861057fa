"""The machine a run was timed on: a fingerprint, and the time of a fixed calibration workload.

Timings are only comparable on one machine. The fingerprint says whether two runs were timed on the same
one (CPU model, cores, memory, GPU, the numerical libraries and their thread settings); the calibration
time (a few seconds of fixed numpy and torch work, the minimum of several repeats, measured by every run)
puts timings from different machines on one rough scale: divide each run's timings by its calibration time.

Example:
    >>> fingerprint = machine_fingerprint()
    >>> sorted(fingerprint)[:3]
    ['blas', 'cpu_count', 'cpu_model']
    >>> len(machine_id(fingerprint))
    12
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from typing import Any

import numpy as np

from benchbox.environment import cpu_name

__all__ = ["machine_fingerprint", "machine_id", "calibration_time_s", "control_time_s", "CALIBRATION_WORKLOAD",
           "CONTROL_WORKLOAD", "IDENTITY_FIELDS", "control_workload"]

#: What the calibration workload does (recorded beside its time).
CALIBRATION_WORKLOAD = ("min of 5 repeats of: numpy float64 matmul 384x384 x 8, numpy FFT of 2^18 samples x 4, "
                        "torch float32 conv1d (batch 8, 1 x 16000 samples, 64 filters of 80) x 8; "
                        "one thread each")

#: The control workload timed beside every timed fit and predict call (:func:`control_time_s`); units record it
#: beside their controls, and ``benchbox check`` divides by controls only where both sides ran the same one.
CONTROL_WORKLOAD = ("min of 3 repeats, after one untimed, of: numpy float64 matmul 256x256 x 6 and torch float32 "
                    "matmul 256x256 x 12, into preallocated outputs; one thread")

#: Fields of the fingerprint that identify the machine (the rest describes the software on it).
IDENTITY_FIELDS = ("cpu_model", "cpu_count", "memory_gb", "gpu", "platform")


def _memory_gb() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info

        libraries = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                     for i in threadpool_info() if i.get("user_api") == "blas"]
        return "; ".join(libraries) or "unknown"
    except Exception:  # threadpoolctl absent or unable to inspect: the fingerprint says so
        return "unknown"


def machine_fingerprint() -> dict[str, Any]:
    """CPU model, core count, memory, GPU name, platform, numpy/torch/BLAS versions and thread settings."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_model": cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpu": gpu,
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "blas": _blas(),
        "torch_threads": torch.get_num_threads(),
        "thread_variables": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                        "OPENBLAS_NUM_THREADS") if k in os.environ},
    }


def machine_id(fingerprint: dict[str, Any]) -> str:
    """A short hash of the fields that identify the machine (not of the software versions)."""
    identity = {k: fingerprint.get(k) for k in IDENTITY_FIELDS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def _one_thread_min_s(workload, repeats: int, *, warm_up: int = 0) -> float:
    """The fastest of ``repeats`` runs of ``workload()`` (after ``warm_up`` untimed ones) with torch and BLAS
    on one thread, seconds."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), torch.no_grad():
            for _ in range(warm_up):
                workload()
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                workload()
                times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)
    return round(min(times), 6)


def _matmuls(a: np.ndarray, times: int) -> None:
    product = a
    for _ in range(times):
        product = (product @ a) / a.shape[0]


def calibration_time_s(repeats: int = 5) -> float:
    """Seconds of the fixed calibration workload (:data:`CALIBRATION_WORKLOAD`), the minimum of ``repeats``."""
    import torch

    rng = np.random.default_rng(0)
    a = rng.standard_normal((384, 384))
    signal = rng.standard_normal(2**18)
    generator = torch.Generator().manual_seed(0)
    waves = torch.randn(8, 1, 16000, generator=generator)
    filters = torch.randn(64, 1, 80, generator=generator)

    def workload() -> None:
        _matmuls(a, 8)
        for _ in range(4):
            np.fft.rfft(signal)
        for _ in range(8):
            torch.nn.functional.conv1d(waves, filters, stride=4)

    return _one_thread_min_s(workload, repeats)


_CONTROL_INPUTS: dict = {}


def control_workload() -> None:
    """One run of the control workload (:data:`CONTROL_WORKLOAD`): matrix products into preallocated
    outputs, so that it allocates nothing (its inputs are made once per process)."""
    import torch

    if not _CONTROL_INPUTS:
        rng = np.random.default_rng(1)
        generator = torch.Generator().manual_seed(1)
        a = rng.standard_normal((256, 256))
        m = torch.randn(256, 256, generator=generator)
        _CONTROL_INPUTS.update(a=a, a_out=(np.empty_like(a), np.empty_like(a)), m=m,
                               m_out=(torch.empty_like(m), torch.empty_like(m)))
    inputs = _CONTROL_INPUTS
    product = inputs["a"]
    for k in range(6):
        out = inputs["a_out"][k % 2]
        np.matmul(product, inputs["a"], out=out)
        out *= 1 / 256  # keeps the values finite
        product = out
    tensor = inputs["m"]
    for k in range(12):
        out = inputs["m_out"][k % 2]
        torch.mm(tensor, inputs["m"], out=out)
        out.mul_(1 / 16)
        tensor = out


def control_time_s(repeats: int = 3) -> float:
    """Seconds of a short control workload (:data:`CONTROL_WORKLOAD`, about 8 ms on a current core), the
    minimum of ``repeats`` after one untimed run, on one thread.

    The harness times it right before every timed fit and predict call of a unit: a machine that is slower
    for a while (a noisy neighbour, a lower clock) or another machine slows the control too, so timings
    divided by their control compare across runs and machines with less noise than raw timings. One thread:
    thread wake-up latency made a multi-threaded control of this length vary threefold. No allocation:
    the previous control (a conv1d whose 1.3 MB im2col buffer glibc took from and returned to the kernel on
    every call) read 12 ms or 3.4 ms in one process depending on which allocations had come before (glibc's
    dynamic mmap threshold), so a unit's first control, before the model had allocated anything, read twice
    its later ones; this one reads the same (within 10 %) before and after large allocations and heavy work.
    """
    return _one_thread_min_s(control_workload, repeats, warm_up=1)
