"""The exported scorer's input types: feature rows cast to what its signature declares."""

from __future__ import annotations

from typing import Any

import pandas as pd


def signature_dtypes(schema: Any) -> dict[str, str]:
    """The numeric input columns of a model signature and their pandas types (a ``long``
    is "int64", a ``double`` "float64")."""
    numpy_type = {"long": "int64", "double": "float64"}
    out = {}
    for col in schema.inputs:
        kind = str(col.type).rsplit(".", 1)[-1]  # "long" or "DataType.long"
        if kind in numpy_type:
            out[col.name] = numpy_type[kind]
    return out


def conform_inputs(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Cast numeric feature columns to the scorer's declared input types (an engine may
    return a count as float or a ratio as integer; the values are the same)."""
    casts = {}
    dtypes = frame.dtypes  # once: a column lookup per feature costs more than the casts
    for name, wanted in signature_dtypes(schema).items():
        if name not in dtypes.index or dtypes[name] == wanted:
            continue
        if wanted == "float64" or frame[name].notna().all():
            casts[name] = wanted
    # Only the columns whose type differs: a cast of every column copies each one, which
    # is most of the time of a one-row decision.
    return frame.astype(casts) if casts else frame
