"""The one exception hierarchy of benchbox.

Every error a user can cause (bad arguments, a broken corpus, a failing plugin) derives from
:class:`BenchboxError`, so that callers can catch benchbox's own errors without catching bugs.
"""

from __future__ import annotations

__all__ = [
    "BenchboxError",
    "CorpusError",
    "SuiteError",
    "RegistryError",
    "PredictionError",
    "MediaError",
]


class BenchboxError(Exception):
    """Base class of every error benchbox raises on purpose."""


class CorpusError(BenchboxError):
    """A corpus folder, one of its files or its labels is missing or malformed."""


class MediaError(CorpusError):
    """An audio or video file cannot be read or does not have the expected content."""


class SuiteError(BenchboxError):
    """A suite definition is invalid or does not fit the corpus."""


class RegistryError(BenchboxError):
    """A model or plugin name is unknown, duplicated or cannot be loaded."""


class PredictionError(BenchboxError):
    """A model returned predictions of the wrong shape, type or with non-finite values."""
