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
