"""The end-to-end model of Tzirakis et al. (2017) for benchbox: audio CNN, ResNet-50, LSTM, CCC loss.

Public names are re-exported lazily, so ``import e2e`` (and ``e2e.plugins``, what the registry loads)
does not import torch:

- :mod:`e2e.model`: :class:`AudioBranch`, :class:`VisualBranch`, :class:`EmotionModel`, :func:`predict_frames`;
- :mod:`e2e.loss`: :func:`ccc_loss`;
- :mod:`e2e.data`: :func:`audio_chunks`, :func:`cached_audio_chunks`, :func:`label_frame_crops`;
- :mod:`e2e.trainer`: :func:`train_model`;
- :mod:`e2e.config`: :class:`E2EConfig`, :data:`PRESETS`, :func:`runtime_settings`;
- :mod:`e2e.plugins`: :class:`E2EAudio`, :class:`E2EVideo`, :class:`E2EAV`;
- :mod:`e2e.cost`: :class:`PeakMemory`;
- :mod:`e2e.benchmark`: :func:`benchmark_training` (``python -m e2e.benchmark``: training frames/s, MFU).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AudioBranch": "e2e.model",
    "VisualBranch": "e2e.model",
    "EmotionModel": "e2e.model",
    "predict_frames": "e2e.model",
    "ccc_loss": "e2e.loss",
    "audio_chunks": "e2e.data",
    "cached_audio_chunks": "e2e.data",
    "label_frame_crops": "e2e.data",
    "runtime_settings": "e2e.config",
    "PeakMemory": "e2e.cost",
    "benchmark_training": "e2e.benchmark",
    "train_model": "e2e.trainer",
    "E2EConfig": "e2e.config",
    "PRESETS": "e2e.config",
    "E2EAudio": "e2e.plugins",
    "E2EVideo": "e2e.plugins",
    "E2EAV": "e2e.plugins",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'e2e' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
