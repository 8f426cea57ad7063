"""The exported scorer's input types: feature rows cast to what its signature declares."""

from __future__ import annotations

from typing import Any

import pandas as pd


def conform_inputs(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Cast numeric feature columns to the scorer's declared input types (an engine may
    return a count as float or a ratio as integer; the values are the same)."""
    casts = {}
    dtypes = frame.dtypes  # once: a column lookup per feature costs more than the casts
    for col in schema.inputs:
        if col.name not in dtypes.index:
            continue
        kind, dtype = str(col.type), dtypes[col.name]
        if kind in ("long", "DataType.long") and dtype != "int64" and frame[col.name].notna().all():
            casts[col.name] = "int64"
        elif kind in ("double", "DataType.double") and dtype != "float64":
            casts[col.name] = "float64"
    # Only the columns whose type differs: a cast of every column copies each one, which
    # is most of the time of a one-row decision.
    return frame.astype(casts) if casts else frame
