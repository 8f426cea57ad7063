"""Bring raw columns to their contract types, recording values that cannot be converted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditrisk.contract import Kind, TableSpec
from creditrisk.validation.errors import TableValidationError

KIND_TEXT = {
    Kind.ID: "an identifier",
    Kind.TIMESTAMP: "a date or timestamp",
    Kind.FLOAT: "a number",
    Kind.INT: "a whole number",
}


@dataclass(frozen=True)
class Coerced:
    """A typed copy of a raw table and, per column, the rows whose value did not convert."""

    frame: pd.DataFrame
    failures: dict[str, pd.Series]  # column -> boolean mask over rows


def check_columns(raw: pd.DataFrame, spec: TableSpec) -> None:
    """Raise if a required column is missing.

    Raises:
        TableValidationError: naming the missing columns and the columns that are there.
    """
    missing = [c for c in spec.columns if c not in raw.columns]
    if missing:
        raise TableValidationError(
            spec.name,
            f"required column(s) {missing} missing; the file has {list(raw.columns)}. "
            "Map source names onto the contract with params data.columns.",
            column=missing[0],
        )


def coerce_table(
    raw: pd.DataFrame, spec: TableSpec, *, max_bad_share: float, first_row: int = 0
) -> Coerced:
    """Convert every typed column present in ``raw``; the input frame is not modified.

    Values that cannot be converted become null in the typed frame and are reported in
    ``failures`` so the row can be quarantined with its original value.

    Raises:
        TableValidationError: more than ``max_bad_share`` of a column's non-null values do
            not convert: the column has the wrong type, not a few bad rows.
    """
    check_columns(raw, spec)
    frame = raw.copy()
    failures: dict[str, pd.Series] = {}
    for column, kind in spec.typed_columns.items():
        if column not in frame.columns:
            continue
        typed = convert(raw[column], kind)
        bad = raw[column].notna() & typed.isna()
        present = int(raw[column].notna().sum())
        if present and bad.sum() > max_bad_share * present:
            examples = raw.loc[bad, [column]].head(5).rename_axis("row")
            examples.index = examples.index + first_row  # the position in the raw file
            raise TableValidationError(
                spec.name,
                f"{int(bad.sum())} of {present} values are not {KIND_TEXT[kind]}",
                column=column,
                examples=examples,
            )
        frame[column] = typed
        if bad.any():
            failures[column] = bad
    return Coerced(frame=frame, failures=failures)


def convert(values: pd.Series, kind: Kind) -> pd.Series:
    """A column converted to its contract kind; a value that does not convert is null."""
    if kind is Kind.ID:
        return _to_id(values)
    if kind is Kind.TIMESTAMP:
        return _to_timestamp(values)
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    if kind is Kind.INT:
        whole = numeric.isna() | (np.floor(numeric) == numeric)
        return numeric.where(whole).astype("Int64")
    return numeric


def _to_id(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        whole = values.isna() | (np.floor(values) == values)
        return values.where(whole).astype("Int64").astype("string").astype("str")
    if pd.api.types.is_integer_dtype(values):
        return values.astype("str")
    text = values.astype("string").str.strip()
    return text.mask(text == "").astype("str")


def _to_timestamp(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        utc: pd.Series = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return utc.astype("datetime64[us]")
    if pd.api.types.is_datetime64_dtype(values):
        return values.astype("datetime64[us]")
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[us]")
