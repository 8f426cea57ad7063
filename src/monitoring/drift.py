"""Drift of the scored population against the training population."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditrisk.models.metrics import psi


def stability_table(
    expected: pd.DataFrame, actual: pd.DataFrame, columns: Sequence[str], *, bins: int
) -> pd.DataFrame:
    """PSI of each column of ``actual`` against ``expected`` (the characteristic stability
    index, CSI, for features), largest first."""
    rows = [
        {"variable": c, "psi": psi(expected[c], actual[c], bins=bins)}
        for c in columns
        if c in expected.columns and c in actual.columns
    ]
    table = pd.DataFrame(rows, columns=["variable", "psi"])
    return table.sort_values(["psi", "variable"], ascending=[False, True]).reset_index(drop=True)


def migration_matrix(
    previous: pd.Series, current: pd.Series, grades: Sequence[str]
) -> pd.DataFrame:
    """Customers by (grade at the previous snapshot, grade now), every grade on both axes
    in the order best to worst. Rows missing either grade are left out."""
    both = previous.notna() & current.notna()
    prev = pd.Categorical(previous[both], categories=list(grades))
    cur = pd.Categorical(current[both], categories=list(grades))
    table = pd.crosstab(prev, cur, dropna=False)
    table = table.reindex(index=list(grades), columns=list(grades), fill_value=0)
    table.index.name, table.columns.name = "previous_grade", "current_grade"
    return table


def migration_summary(matrix: pd.DataFrame) -> dict[str, float]:
    """Shares of customers whose grade stayed, worsened (downgrade) or improved."""
    m = matrix.to_numpy()
    total = m.sum()
    if total == 0:
        return {"customers": 0, "stable": 0.0, "downgraded": 0.0, "upgraded": 0.0}
    i, j = np.indices(m.shape)
    return {
        "customers": int(total),
        "stable": float(m[i == j].sum() / total),
        "downgraded": float(m[j > i].sum() / total),
        "upgraded": float(m[j < i].sum() / total),
    }


def default_rate_by_month(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per as_of month with known outcomes: rows, mean predicted PD, observed default
    rate and their ratio (above 1: defaults run ahead of the model)."""
    known = predictions[predictions["default"].notna()]
    table = (
        known.groupby("as_of")
        .agg(rows=("pd", "size"), mean_pd=("pd", "mean"), observed_rate=("default", "mean"))
        .reset_index()
    )
    table["observed_over_predicted"] = table["observed_rate"] / table["mean_pd"]
    return table
