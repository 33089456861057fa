"""Content-addressed cache for features, face crops and decoded frames.

A cache entry is keyed by the extractor's name and version, its parameters and the SHA-256 of every
input file, so a second run with the same inputs reuses the entry and a changed file or parameter
misses. Entries are written atomically; arrays come back memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbox import atomic

__all__ = ["benchbox_home", "file_sha256", "Cache"]

_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()
log = logging.getLogger("benchbox")


def benchbox_home() -> Path:
    """``$BENCHBOX_HOME``, else ``~/.cache/benchbox``: embedded corpus, cache, hash memo."""
    return Path(os.environ.get("BENCHBOX_HOME") or Path.home() / ".cache" / "benchbox").expanduser()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, memoised on (absolute path, size, mtime) in memory and on disk."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        if memo_key in _HASH_MEMO:
            return _HASH_MEMO[memo_key]
    memo_file = benchbox_home() / "hash-memo" / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    try:
        stored = json.loads(memo_file.read_text())
        if (stored["size"], stored["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
            with _HASH_LOCK:
                _HASH_MEMO[memo_key] = stored["sha256"]
            return stored["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_MEMO[memo_key] = value
    try:
        atomic.write_json(memo_file, {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value})
    except OSError:
        pass  # the memo is an optimisation; a read-only home must not break hashing
    return value


class Cache:
    """A folder of content-addressed entries.

    Example:
        >>> import tempfile, numpy as np
        >>> cache = Cache(tempfile.mkdtemp())
        >>> a = cache.array("demo", "1", {"k": 2}, [], lambda: np.arange(3))
        >>> cache.array("demo", "1", {"k": 2}, [], lambda: 1 / 0).tolist()  # hit: not recomputed
        [0, 1, 2]
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def key(self, extractor: str, version: str, params: dict[str, Any], inputs: Sequence[os.PathLike]) -> str:
        """Hex key of an entry: hash of extractor, version, canonical JSON params and input hashes."""
        payload = {
            "extractor": extractor,
            "version": version,
            "params": params,
            "inputs": [file_sha256(p) for p in inputs],
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def entry_path(self, extractor: str, key: str, suffix: str) -> Path:
        return self.root / extractor / key[:2] / f"{key}{suffix}"

    def array(
        self,
        extractor: str,
        version: str,
        params: dict[str, Any],
        inputs: Sequence[os.PathLike],
        compute: Callable[[], np.ndarray],
        *,
        mmap: bool = True,
    ) -> np.ndarray:
        """Return the cached array for this key, computing and storing it on a miss."""
        key = self.key(extractor, version, params, inputs)
        path = self.entry_path(extractor, key, ".npy")
        if path.exists():
            stored = self._read_entry(path, mmap)
            if stored is not None:
                return stored
        array = np.asarray(compute())
        atomic.save_npy(path, array)
        atomic.write_json(
            path.with_suffix(".json"),
            {"extractor": extractor, "version": version, "params": params,
             "inputs": [str(p) for p in inputs], "size_bytes": path.stat().st_size},
        )
        return np.load(path, mmap_mode="r" if mmap else None)

    @staticmethod
    def _read_entry(path: Path, mmap: bool) -> np.ndarray | None:
        """A stored entry, checked against the size its sidecar recorded; one that does not read back is
        renamed ``*.corrupt`` (with a warning that names it) and None returned, so that it is computed again."""
        try:
            recorded = json.loads(path.with_suffix(".json").read_text()).get("size_bytes")
        except (OSError, ValueError, AttributeError):
            recorded = None
        try:
            if recorded is not None and path.stat().st_size != recorded:
                raise ValueError(f"{path.stat().st_size} bytes, {recorded} recorded when it was written")
            return np.load(path, mmap_mode="r" if mmap else None)
        except (OSError, ValueError, EOFError) as exc:
            target = path.with_name(path.name + ".corrupt")
            os.replace(path, target)
            log.warning("cache entry %s does not read back (%s); set aside as %s and computed again", path, exc,
                        target.name)
            return None

    def contains(self, extractor: str, version: str, params: dict[str, Any], inputs: Sequence[os.PathLike]) -> bool:
        key = self.key(extractor, version, params, inputs)
        return self.entry_path(extractor, key, ".npy").exists()
