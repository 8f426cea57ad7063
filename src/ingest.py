"""Map a source table's columns onto the raw contract."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from creditrisk.contract import ContractError


def map_columns(frame: pd.DataFrame, table: str, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rename source columns to contract names; other columns pass through unchanged.

    Args:
        frame: the table as read from the source.
        table: its contract name (for messages).
        mapping: contract column name -> source column name.

    Raises:
        ContractError: a mapped source column is not in the file, or a contract name would
            clash with an unmapped source column of the same name.
    """
    absent = {k: v for k, v in mapping.items() if v not in frame.columns}
    if absent:
        raise ContractError(
            f"table '{table}': params data.columns maps {absent} but the source has "
            f"{list(frame.columns)}"
        )
    clash = [k for k, v in mapping.items() if k in frame.columns and k != v]
    if clash:
        raise ContractError(
            f"table '{table}': mapping onto {clash} clashes with source column(s) of that name"
        )
    return frame.rename(columns={v: k for k, v in mapping.items()})


def derive_columns(
    frame: pd.DataFrame, table: str, rules: Mapping[str, Mapping[str, object]]
) -> pd.DataFrame:
    """Add contract columns that the source lacks, from declarative rules.

    Each rule is one of:

    - ``{"row_number": "P"}``: the 1-based row number as text with prefix ``P`` (an id for
      one-row-per-customer exports that carry none; the same file gives the same ids in
      every table read from it);
    - ``{"constant": value}``: the same value on every row (e.g. one ``as_of`` date);
    - ``{"from": column, "map": {source value: value}}``: recode a source column (e.g.
      ``bad``/``good`` to 1/0); a value the map lacks is an error naming it.

    Raises:
        ContractError: an unknown rule, a missing ``from`` column or an unmapped value.
    """
    out = frame.copy()
    for column, rule in rules.items():
        if "row_number" in rule:
            width = len(str(len(frame)))
            out[column] = [f"{rule['row_number']}{i:0{width}d}" for i in range(1, len(frame) + 1)]
        elif "constant" in rule:
            out[column] = pd.Series([rule["constant"]] * len(frame), index=frame.index)
        elif "map" in rule and "from" in rule:
            source = str(rule["from"])
            if source not in frame.columns:
                raise ContractError(
                    f"table '{table}': data.derive.{column} reads column '{source}', which the "
                    f"source lacks (it has {list(frame.columns)})"
                )
            mapping = dict(rule["map"])  # type: ignore[call-overload]
            values = frame[source]
            unknown = sorted(set(values.dropna().astype(str)) - {str(k) for k in mapping})
            if unknown:
                raise ContractError(
                    f"table '{table}': data.derive.{column} maps {source} but has no value for "
                    f"{unknown[:5]}"
                )
            out[column] = values.astype(str).map({str(k): v for k, v in mapping.items()})
        else:
            raise ContractError(
                f"table '{table}': data.derive.{column} must be row_number, constant, or "
                f"from + map; got {dict(rule)}"
            )
    return out


def infer_numbers(frame: pd.DataFrame, keep_text: set[str]) -> pd.DataFrame:
    """Text columns whose every non-empty value is a number become numbers (a CSV export
    reads as text); ``keep_text`` (ids) and columns with any non-number stay text."""
    out = frame.copy()
    for column in out.columns:
        if column in keep_text or not (
            out[column].dtype == object or pd.api.types.is_string_dtype(out[column])
        ):
            continue
        values = out[column]
        numbers = pd.to_numeric(values, errors="coerce")
        if values.notna().any() and (numbers.notna() == values.notna()).all():
            out[column] = numbers
    return out
