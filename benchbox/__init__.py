"""benchbox: benchmark suite for time-continuous multimodal emotion recognition.

The public API is re-exported here lazily, so ``import benchbox`` stays cheap (no pandas, no torch).

Example:
    >>> import benchbox
    >>> round(benchbox.ccc_score([1, 2, 3], [1, 2, 2]), 4)
    0.6667
"""

from __future__ import annotations

import importlib
from typing import Any

from benchbox.errors import (
    BenchboxError,
    CorpusError,
    MediaError,
    PredictionError,
    RegistryError,
    SuiteError,
)

__version__ = "0.1.0"

_LAZY = {
    "Session": "benchbox.corpus.session",
    "LabelledSession": "benchbox.corpus.session",
    "Corpus": "benchbox.corpus.session",
    "load_corpus": "benchbox.corpus.avec2016",
    "scan_corpus": "benchbox.corpus.avec2016",
    "load_audio": "benchbox.corpus.media",
    "iter_video_frames": "benchbox.corpus.media",
    "Suite": "benchbox.suites",
    "load_suite": "benchbox.suites",
    "ModelContext": "benchbox.plugin",
    "Model": "benchbox.plugin",
    "create_model": "benchbox.registry",
    "model_names": "benchbox.registry",
    "RunConfig": "benchbox.runner",
    "RunFolder": "benchbox.record",
    "RunRecord": "benchbox.record",
    "StatsRecord": "benchbox.record",
    "UnitStatus": "benchbox.record",
    "run_suite": "benchbox.runner",
    "Cache": "benchbox.cache",
    "ccc_score": "benchbox.metrics",
    "pearson_score": "benchbox.metrics",
    "rmse_error": "benchbox.metrics",
    "SufficientStats": "benchbox.metrics",
    "check_model": "benchbox.testing",
}

__all__ = [
    "__version__",
    "BenchboxError",
    "CorpusError",
    "MediaError",
    "PredictionError",
    "RegistryError",
    "SuiteError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benchbox' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
