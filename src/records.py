"""Typed records that cross a stage boundary: frozen dataclasses written as JSON.

A stage's result is a frozen dataclass; :func:`to_dict` turns it into JSON-ready values
and :func:`from_dict` reads it back into the same types, so a later stage works with
attributes the type checker knows, not string keys. A field whose default is ``None`` is
optional: left out of the JSON when it is ``None``, and ``None`` when the JSON lacks it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar, cast

T = TypeVar("T")


class RecordError(ValueError):
    """A JSON document does not match the record type it is read into."""


def to_dict(record: Any) -> dict[str, Any]:
    """JSON-ready values of a dataclass record (nested records, mappings and tuples too)."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"{type(record).__name__} is not a dataclass record")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None and f.default is None:
            continue
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Read a record of type ``cls`` from :func:`to_dict`'s output.

    Raises:
        RecordError: a required field is missing or a value has the wrong shape, naming
            the field's path.
    """
    return cast(T, _read(cls, data, cls.__name__))


def _read(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _read_record(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _read(args[0], value, path) if len(args) == 1 else value
    if origin in (dict, Mapping) or tp in (dict,):
        if not isinstance(value, Mapping):
            raise RecordError(f"{path}: expected an object, got {type(value).__name__}")
        kv = typing.get_args(tp)
        inner = kv[1] if len(kv) == 2 else Any
        return {str(k): _read(inner, v, f"{path}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise RecordError(f"{path}: expected a list, got {type(value).__name__}")
        items = typing.get_args(tp)
        inner = items[0] if items else Any
        return tuple(_read(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _read_record(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise RecordError(f"{path}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _read(hints[f.name], data[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{path}: required field '{f.name}' is missing")
    return cls(**kwargs)
