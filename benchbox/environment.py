"""Provenance of a run: package versions, git commit, machine and device, without importing torch."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["environment_info", "device_description", "cpu_name", "resolve_device", "package_versions"]

#: The packages a run records, by distribution name, with the module each provides: another distribution of
#: the same module (``xgboost-cpu``, ``opencv-python``, ``opencv-contrib-python``) is found through it.
_PACKAGES = {"benchbox": "benchbox", "numpy": "numpy", "scipy": "scipy", "pandas": "pandas",
             "scikit-learn": "sklearn", "xgboost": "xgboost", "opensmile": "opensmile", "torch": "torch",
             "torchvision": "torchvision", "torchaudio": "torchaudio", "av": "av", "soundfile": "soundfile",
             "opencv-python-headless": "cv2"}


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else what the platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(device: str) -> str:
    """``auto`` as ``cuda`` when torch sees a GPU, else ``cpu``; any other device as it is."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_description(device: str) -> str:
    """Human-readable name of the compute device (imports torch only for CUDA)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"{device} (not available)"
        index = torch.device(device).index or 0
        return f"{device}: {torch.cuda.get_device_name(index)}"
    return f"cpu: {cpu_name()} x {os.cpu_count()}"


def package_versions() -> dict[str, str | None]:
    """Version of each package a run depends on, by its usual distribution name; where another distribution
    provides the module, its version and name (``"3.2.0 (xgboost-cpu)"``); None where none does."""
    versions: dict[str, str | None] = {}
    providers = None
    for name, module in _PACKAGES.items():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if providers is None:  # scans every installed distribution: only when needed
                providers = metadata.packages_distributions()
            others = sorted(set(providers.get(module, [])))
            versions[name] = ", ".join(f"{metadata.version(d)} ({d})" for d in others) or None
    return versions


def environment_info(device: str) -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": _git_commit(Path(__file__).resolve().parent),
        "device": device,
        "device_name": device_description(device),
        "cpu_count": os.cpu_count(),
    }
