"""Cost measurements of the end-to-end models: peak memory during a block of work.

On CUDA the figure is ``torch.cuda.max_memory_allocated`` (tensors only, reset at the start of the
block). On the CPU it is the resident set size (RSS) of the whole process, sampled every
``interval_s`` by a background thread while the block runs (``/proc/self/statm``; where that file does
not exist, the process's lifetime peak from ``getrusage``). The RSS includes the Python interpreter, the
libraries and whatever else the process holds (other models run by the same harness), so the increase
over the block (``peak - start``) is recorded next to it.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Any

__all__ = ["PeakMemory", "process_rss_bytes"]


def process_rss_bytes() -> tuple[int, str]:
    """Current resident set size of this process and how it was read."""
    try:
        with open("/proc/self/statm") as handle:
            resident_pages = int(handle.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE"), "current"
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak if sys.platform == "darwin" else peak * 1024), "lifetime peak"


class PeakMemory:
    """Context manager measuring the peak memory of a block on ``device``.

    Example:
        >>> with PeakMemory("cpu") as peak:
        ...     data = bytearray(10_000_000)
        >>> peak.peak_bytes >= 10_000_000
        True
    """

    def __init__(self, device: str = "cpu", *, interval_s: float = 0.05) -> None:
        self.device = str(device)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.start_bytes = 0
        self.kind = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_bytes = self.peak_bytes = int(torch.cuda.memory_allocated(self.device))
            self.kind = "torch.cuda.max_memory_allocated (tensors on the device)"
            return self
        self.start_bytes, how = process_rss_bytes()
        self.peak_bytes = self.start_bytes
        if how == "current":
            self.kind = f"peak RSS of the process, sampled every {self.interval_s * 1000:.0f} ms (CPU)"
            self._thread = threading.Thread(target=self._sample, name="benchbox-peak-rss", daemon=True)
            self._thread.start()
        else:
            self.kind = "lifetime peak RSS of the process (getrusage; CPU)"
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process_rss_bytes()[0])
            time.sleep(self.interval_s)

    def __exit__(self, *exc_info) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        rss, how = process_rss_bytes()
        self.peak_bytes = max(self.peak_bytes, rss) if how == "current" else rss

    def as_dict(self) -> dict[str, Any]:
        mib = 1024 * 1024
        return {"peak_mb": round(self.peak_bytes / mib, 1),
                "increase_mb": round(max(0, self.peak_bytes - self.start_bytes) / mib, 1), "measured": self.kind}
