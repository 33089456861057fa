"""One JSON encoder for every record, and the typed reading of JSON into frozen dataclasses.

Writing: :func:`to_jsonable` turns records, numpy and pandas values, paths and non-finite floats (written as
``null``) into plain JSON values. Reading: :func:`from_jsonable` builds a dataclass from a parsed JSON object
by its type hints (nested records, ``list``/``tuple``/``dict`` of them, ``X | None``), and raises
:class:`RecordFormatError` naming the file and the field when a value has the wrong type or a required
field is missing. A ``float`` field read as ``null`` is NaN again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchbox.errors import BenchboxError

__all__ = ["RecordFormatError", "to_jsonable", "dumps", "from_jsonable", "check_format"]


class RecordFormatError(BenchboxError):
    """A run-folder file is not in a format this version of benchbox reads."""


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: records become objects, NaN/inf become ``None``.

    Example:
        >>> to_jsonable({"a": np.float32(0.5), "b": [np.nan, np.int64(2)], 3: Path("x")})
        {'a': 0.5, 'b': [None, 2], '3': 'x'}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    if _is_pandas_missing(value):
        return None
    if hasattr(value, "item"):  # pandas / numpy scalar types not caught above
        return to_jsonable(value.item())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serialisable")


def _is_pandas_missing(value: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False
    return value is pd.NA or value is pd.NaT


def dumps(value: Any) -> str:
    """Indented JSON text of ``value`` (through :func:`to_jsonable`), ending with a newline."""
    return json.dumps(to_jsonable(value), indent=2, allow_nan=False) + "\n"


def check_format(data: Mapping[str, Any], *, key: str, known: int, source: str, missing: int | None = None) -> int:
    """The format version ``data[key]`` (``missing`` where absent); RecordFormatError unless 1..``known``."""
    version = data.get(key, missing)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= known:
        raise RecordFormatError(
            f"{source}: {key} {version!r} is not a format this benchbox reads (it reads 1 to {known}). "
            f"{'Upgrade benchbox to read it.' if isinstance(version, int) and version > known else ''}".rstrip()
        )
    return version


def from_jsonable(cls: type, data: Any, *, source: str, where: str = "") -> Any:
    """Build the dataclass ``cls`` from parsed JSON ``data``; unknown keys are ignored."""
    return _convert(cls, data, source, where or cls.__name__)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fail(source: str, where: str, expected: str, value: Any) -> RecordFormatError:
    shown = json.dumps(value)[:80] if _json_ok(value) else repr(value)[:80]
    return RecordFormatError(f"{source}: {where} must be {expected}. Got {shown} instead.")


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _convert(tp: Any, value: Any, source: str, where: str) -> Any:
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, source, where)
            except RecordFormatError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _fail(source, where, f"an object ({tp.__name__})", value)
        hints = _hints(tp)
        kwargs = {}
        for field in dataclasses.fields(tp):
            if not field.init:
                continue
            if field.name in value:
                kwargs[field.name] = _convert(hints[field.name], value[field.name], source, f"{where}.{field.name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise RecordFormatError(f"{source}: {where} lacks the required field {field.name!r}.")
        return tp(**kwargs)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _fail(source, where, "an array", value)
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [_convert(item, v, source, f"{where}[{k}]") for k, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _fail(source, where, "an object", value)
        key_type, value_type = typing.get_args(tp) or (str, Any)
        out = {}
        for k, v in value.items():
            key = _convert_key(key_type, k, source, where)
            out[key] = _convert(value_type, v, source, f"{where}[{k!r}]")
        return out
    if tp is float:
        if value is None:
            return math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _fail(source, where, "a number", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(source, where, "an integer", value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(source, where, "true or false", value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(source, where, "a string", value)
    if typing.get_origin(tp) is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise _fail(source, where, f"one of {list(typing.get_args(tp))}", value)
    raise TypeError(f"record field {where} has a type the reader does not handle: {tp!r}")  # a bug, not input


def _convert_key(key_type: Any, key: str, source: str, where: str) -> Any:
    if key_type is int:
        try:
            return int(key)
        except ValueError:
            raise _fail(source, f"{where} key", "an integer", key) from None
    return key
