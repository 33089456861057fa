"""A small, strict ARFF reader for the label and feature files of the AVEC packages.

Handles what real files carry: ``%`` comments, blank lines, CRLF line endings, a UTF-8 byte-order
mark, quoted (single or double) names with commas inside, ``?`` for missing values and attribute
types in any case. Errors name the file and the line.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

import numpy as np

from benchbox.errors import CorpusError

__all__ = ["ArffTable", "read_arff"]

_NUMERIC_TYPES = {"numeric", "real", "integer"}


@dataclasses.dataclass(frozen=True, eq=False)
class ArffTable:
    """Parsed ARFF: relation name, attribute names/types and columns.

    Numeric columns are float64 arrays (``?`` -> NaN); other columns are lists of strings.
    ``line_numbers[i]`` is the 1-based line of data row ``i`` in the file, for error messages.
    """

    path: Path
    relation: str
    attributes: tuple[tuple[str, str], ...]
    columns: dict[str, np.ndarray | list[str]]
    line_numbers: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.line_numbers)

    def numeric(self, name: str) -> np.ndarray:
        """A numeric column; CorpusError naming the file if it is missing or not numeric."""
        if name not in self.columns:
            found = ", ".join(n for n, _ in self.attributes)
            raise CorpusError(f"{self.path}: ARFF has no attribute {name!r} (found: {found}).")
        column = self.columns[name]
        if not isinstance(column, np.ndarray):
            raise CorpusError(f"{self.path}: ARFF attribute {name!r} must be numeric.")
        return column


def _split_declaration(text: str) -> list[str]:
    """Split an @attribute line into tokens, honouring quotes: ``'my name' numeric``."""
    row = next(csv.reader([text], delimiter=" ", quotechar="'", skipinitialspace=True))
    if len(row) == 1 and '"' in text:
        row = next(csv.reader([text], delimiter=" ", quotechar='"', skipinitialspace=True))
    return [token for token in row if token]


def _parse_data_row(line: str) -> list[str]:
    quote = "'" if "'" in line else '"'
    row = next(csv.reader([line], delimiter=",", quotechar=quote, skipinitialspace=True))
    return [cell.strip() for cell in row]


def read_arff(path: str | os.PathLike) -> ArffTable:
    """Read a dense ARFF file.

    Raises:
        CorpusError: naming the file and line for anything malformed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ARFF file ({exc.strerror}).") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")

    relation = ""
    attributes: list[tuple[str, str]] = []
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    in_data = False
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            keyword = line.split(None, 1)[0].lower()
            rest = line[len(keyword):].strip()
            if keyword == "@relation":
                relation = rest.strip("'\"")
            elif keyword == "@attribute":
                tokens = _split_declaration(rest)
                if len(tokens) < 2:
                    raise CorpusError(f"{path}, line {number}: malformed @attribute declaration {line!r}.")
                attributes.append((tokens[0], " ".join(tokens[1:]).lower()))
            elif keyword == "@data":
                in_data = True
            else:
                raise CorpusError(
                    f"{path}, line {number}: expected @relation, @attribute or @data, got {line[:40]!r}."
                )
            continue
        if line.startswith("{"):
            raise CorpusError(f"{path}, line {number}: sparse ARFF rows are not supported.")
        cells = _parse_data_row(line)
        if len(cells) != len(attributes):
            raise CorpusError(
                f"{path}, line {number}: expected {len(attributes)} values "
                f"({', '.join(n for n, _ in attributes)}), found {len(cells)}."
            )
        rows.append(cells)
        line_numbers.append(number)

    if not attributes:
        raise CorpusError(f"{path}: no @attribute declarations; is this an ARFF file?")
    if not in_data:
        raise CorpusError(f"{path}: no @data section.")

    columns: dict[str, np.ndarray | list[str]] = {}
    for index, (name, kind) in enumerate(attributes):
        cells = [row[index] for row in rows]
        if kind in _NUMERIC_TYPES:
            values = np.empty(len(cells), dtype=np.float64)
            for row_index, cell in enumerate(cells):
                if cell == "?":
                    values[row_index] = np.nan
                    continue
                try:
                    values[row_index] = float(cell)
                except ValueError:
                    raise CorpusError(
                        f"{path}, line {line_numbers[row_index]}: attribute {name!r} must be numeric, "
                        f"got {cell!r}."
                    ) from None
            columns[name] = values
        else:
            columns[name] = cells
    return ArffTable(path, relation, tuple(attributes), columns, np.asarray(line_numbers, dtype=np.int64))
