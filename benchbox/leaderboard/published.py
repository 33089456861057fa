"""Published reference rows: results reported in papers, shown beside runs but never re-run or ranked.

The curated files live in the top-level ``leaderboards/`` folder, one per suite (``leaderboards/avec2016.toml``);
users add their own in the same format (``benchbox leaderboard --references FILE``). Each row names the system,
the paper (title, authors, year, venue, DOI or URL, where in it the numbers are), the partition, the CCC per
target, how the paper computed CCC, the modalities, whether the setting matches the suite's protocol, and
whether the number was checked against the paper itself (``verified``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from benchbox.errors import BenchboxError

__all__ = ["PublishedRow", "PublishedSet", "load_published", "builtin_published"]

_REQUIRED = {"system": str, "title": str, "authors": str, "year": int, "venue": str, "where": str,
             "partition": str, "values": dict, "ccc_form": str, "modalities": list, "protocol_match": bool,
             "verified": bool}
_OPTIONAL = {"doi": str, "url": str, "note": str}
PARTITIONS = ("dev", "test", "unknown")


@dataclasses.dataclass(frozen=True)
class PublishedRow:
    system: str
    title: str
    authors: str
    year: int
    venue: str
    where: str
    partition: str
    values: dict[str, float]
    ccc_form: str
    modalities: tuple[str, ...]
    protocol_match: bool
    verified: bool
    doi: str = ""
    url: str = ""
    note: str = ""
    source: str = ""  # the file it came from

    @property
    def link(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    @property
    def citation(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. {self.venue}."


@dataclasses.dataclass(frozen=True)
class PublishedSet:
    suite: str
    rows: tuple[PublishedRow, ...]
    source: str


class PublishedRowsError(BenchboxError):
    """A published-results file is malformed."""


def _check_row(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PublishedRowsError(f"{where} must be a table. Got {table!r} instead.")
    unknown = sorted(set(table) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise PublishedRowsError(f"{where}: unknown field {unknown[0]!r}; fields are "
                                 f"{', '.join(sorted({*_REQUIRED, *_OPTIONAL}))}.")
    for field, kind in _REQUIRED.items():
        value = table.get(field)
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool) or value in ("", [], {}):
            raise PublishedRowsError(f"{where}: field {field!r} must be a non-empty {kind.__name__}. "
                                     f"Got {value!r} instead.")
    for field, kind in _OPTIONAL.items():
        if field in table and not isinstance(table[field], kind):
            raise PublishedRowsError(f"{where}: field {field!r} must be a {kind.__name__}. Got {table[field]!r}.")
    if table["partition"] not in PARTITIONS:
        raise PublishedRowsError(f"{where}: partition must be one of {list(PARTITIONS)}. "
                                 f"Got {table['partition']!r} instead.")
    for target, value in table["values"].items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not -1.0 <= value <= 1.0:
            raise PublishedRowsError(f"{where}: values.{target} must be a CCC in [-1, 1]. Got {value!r} instead.")
    if table.get("doi", "").startswith("http"):
        raise PublishedRowsError(f"{where}: doi must be the bare DOI (10.xxxx/...), not a link. Got {table['doi']!r}.")
    return table


def load_published(path: str | Path) -> PublishedSet:
    """Read and check a published-results file (TOML: ``suite = "..."`` and ``[[rows]]`` tables)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishedRowsError(f"Published-results file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PublishedRowsError(f"{path}: not valid TOML ({exc}).") from exc
    suite = data.get("suite")
    if not isinstance(suite, str) or not suite:
        raise PublishedRowsError(f"{path}: needs suite = \"<suite name>\" at the top. Got {suite!r} instead.")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise PublishedRowsError(f"{path}: needs at least one [[rows]] table.")
    parsed = []
    for k, table in enumerate(rows):
        system = table.get("system", "?") if isinstance(table, dict) else "?"
        table = _check_row(table, f"{path} [[rows]] #{k + 1} ({system})")
        parsed.append(PublishedRow(**{**table, "modalities": tuple(table["modalities"]),
                                      "values": {t: float(v) for t, v in table["values"].items()},
                                      "source": str(path)}))
    return PublishedSet(suite=suite, rows=tuple(parsed), source=str(path))


def builtin_published() -> list[PublishedSet]:
    """The curated files of the ``leaderboards`` folder shipped with benchbox (data, not code)."""
    try:
        folder = resources.files("leaderboards")
    except ModuleNotFoundError:
        return []
    return [load_published(Path(str(entry))) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".toml")]


def published_for(sets: Sequence[PublishedSet], suite: str) -> list[PublishedRow]:
    return [row for s in sets if s.suite == suite for row in s.rows]
