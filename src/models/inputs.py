"""The exported scorer's input types: feature rows cast to what its signature declares."""

from __future__ import annotations

from typing import Any

import pandas as pd


def conform_inputs(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Cast numeric feature columns to the scorer's declared input types (an engine may
    return a count as float or a ratio as integer; the values are the same)."""
    casts = {}
    for col in schema.inputs:
        if col.name not in frame.columns:
            continue
        kind = str(col.type)
        if kind in ("long", "DataType.long") and frame[col.name].notna().all():
            casts[col.name] = "int64"
        elif kind in ("double", "DataType.double"):
            casts[col.name] = "float64"
    return frame.astype(casts)
