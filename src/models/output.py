"""The scorer contract's output, written once: the columns every decision has (names, MLflow
types, required), and the limit-policy marker of a limit frozen by an early warning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ID_COLUMN = "customer_id"
FROZEN_PREFIX = "frozen:"  # limit_policy of a limit an early-warning freeze set to 0


@dataclass(frozen=True)
class Column:
    """A column of the scorer's signature: MLflow type name, column name, required."""

    type: str
    name: str
    required: bool = True


def output_columns(reasons: int) -> list[Column]:
    """The scorer contract: one row per input row, these columns in this order."""
    k = range(1, reasons + 1)
    return [
        Column("string", ID_COLUMN, False),
        Column("double", "pd"),
        Column("double", "score"),
        Column("string", "grade"),
        Column("double", "credit_limit"),
        Column("string", "limit_policy"),
        *(Column("string", f"reason_{i}", False) for i in k),
        *(Column("string", f"reason_text_{i}", False) for i in k),
        Column("string", "rating_rule"),
        Column("string", "limit_reason", False),
        Column("double", "model_limit"),
        Column("double", "formula_limit"),
        Column("double", "margin"),
        Column("string", "model_version"),
    ]


def frozen_policy(rule: str) -> str:
    """The limit_policy of a limit frozen by the warning rule ``rule``."""
    return f"{FROZEN_PREFIX}{rule}"


def is_frozen(limit_policy: pd.Series) -> np.ndarray:
    """Rows whose limit an early-warning freeze set (see :func:`frozen_policy`)."""
    return np.asarray(limit_policy.astype(str).str.startswith(FROZEN_PREFIX), dtype=bool)
