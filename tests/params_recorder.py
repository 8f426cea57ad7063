"""Which params keys a stage reads: a recording view of the typed params.

A stage reads params through attributes (``params.features.windows_days``). The recorder
wraps the loaded params and records the dotted key of every value read; a property or
method of a section (``is_synthetic``, ``as_of_dates()``) runs against the recorder, so
the fields it reads are recorded; pydantic's own methods (``model_dump``) read the whole
section."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel


class Recorder:
    def __init__(self, obj: BaseModel, path: str, log: set[str]) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)

    def _key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def __getattr__(self, name: str) -> Any:
        obj, cls = self._obj, type(self._obj)
        fields = cls.model_fields
        if name in fields:
            key = self._key(fields[name].alias or name)
            value = getattr(obj, name)
            if isinstance(value, BaseModel):
                return Recorder(value, key, self._log)
            self._log.add(key)
            return value
        owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
        attr = owner.__dict__[name] if owner is not None else None
        ours = owner is not None and owner.__module__.startswith("pipelines")
        if ours and isinstance(attr, property):
            return attr.fget(self)  # type: ignore[misc]
        if ours and callable(attr):
            return functools.partial(attr, self)
        self._log.add(self._path or "*")  # e.g. model_dump(): the whole section
        return getattr(obj, name)


def recording(load: Any, log: set[str]) -> Any:
    """A ``load_params`` that returns a recording view and records into ``log``."""

    def load_params(*args: Any, **kwargs: Any) -> Any:
        return Recorder(load(*args, **kwargs), "", log)

    return load_params
