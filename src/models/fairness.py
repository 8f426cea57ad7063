"""Outcomes by group of a protected attribute: approval rate, average limit, AUC.

Protected attributes are never model features; they are joined to the decisions only here,
to compare how the model treats groups. Gaps are flagged against thresholds:

- approval ratio: a group's approval rate over the highest group's (the "four-fifths"
  adverse-impact ratio; below 0.8 is the classic flag);
- limit ratio: a group's average limit over the highest group's;
- AUC gap: how far a group's AUC falls below the AUC of the whole population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

import creditrisk.records as records
from creditrisk.schemas.fairness import AttributeGrouping, GroupingKind


@dataclass(frozen=True)
class FairnessThresholds:
    """Where a gap becomes a flag. Groups smaller than ``min_group_size`` are reported
    but not flagged (their rates are too noisy to judge)."""

    approval_ratio_min: float = 0.8
    limit_ratio_min: float = 0.8
    auc_gap_max: float = 0.05
    min_group_size: int = 100


def band(values: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Numbers into labelled bands: ``<30``, ``30-44``, ``45-59``, ``60+`` for edges
    (30, 45, 60). Missing values become ``unknown``."""
    edges = sorted(edges)
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    labels = [f"<{edges[0]:g}"]
    labels += [f"{lo:g}-{hi - 1:g}" for lo, hi in pairwise(edges)]
    labels += [f"{edges[-1]:g}+"]
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), x, side="right")
    out = np.asarray(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]
    out[np.isnan(x)] = "unknown"
    return pd.Series(out, index=values.index, name=values.name)


def age_at(birth_year: pd.Series, as_of: pd.Series) -> pd.Series:
    """Age in whole years at ``as_of`` from a birth year (the birthday is unknown, so the
    age may be one year high)."""
    years = pd.to_datetime(as_of).dt.year.astype("float64")
    return years - birth_year.astype("float64")


def group_outcomes(
    frame: pd.DataFrame,
    *,
    group: str,
    thresholds: FairnessThresholds,
) -> pd.DataFrame:
    """Per group of ``frame[group]``: size, approval rate (limit above 0), average limit,
    default rate, mean PD, AUC, and the ratios and flags against ``thresholds``.

    ``frame`` holds ``default`` (0/1), ``pd`` and ``credit_limit`` per decision.
    """
    overall_auc = _auc(frame["default"], frame["pd"])
    rows = []
    for value, part in frame.groupby(frame[group].astype(str).fillna("unknown"), sort=True):
        rows.append(
            {
                "attribute": group,
                "group": value,
                "n": len(part),
                "approval_rate": float((part["credit_limit"] > 0).mean()),
                "mean_limit": float(part["credit_limit"].mean()),
                "default_rate": float(part["default"].mean()),
                "mean_pd": float(part["pd"].mean()),
                "auc": _auc(part["default"], part["pd"]),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    judged = table["n"] >= thresholds.min_group_size
    best_approval = table.loc[judged, "approval_rate"].max() if judged.any() else np.nan
    best_limit = table.loc[judged, "mean_limit"].max() if judged.any() else np.nan
    table["approval_ratio"] = _ratio(table["approval_rate"], best_approval)
    table["limit_ratio"] = _ratio(table["mean_limit"], best_limit)
    table["auc_gap"] = overall_auc - table["auc"]
    approval = table["approval_ratio"].to_numpy(dtype="float64")
    limit = table["limit_ratio"].to_numpy(dtype="float64")
    auc_gap = table["auc_gap"].to_numpy(dtype="float64")
    flags = []
    for i, ok in enumerate(judged.to_numpy()):
        if not ok:
            flags.append("too_small_to_judge")
            continue
        found = []
        if approval[i] < thresholds.approval_ratio_min:
            found.append("approval_ratio")
        if limit[i] < thresholds.limit_ratio_min:
            found.append("limit_ratio")
        if not np.isnan(auc_gap[i]) and auc_gap[i] > thresholds.auc_gap_max:
            found.append("auc_gap")
        flags.append(",".join(found))
    table["flags"] = flags
    return table


def _ratio(values: pd.Series, best: float) -> pd.Series:
    if not np.isfinite(best) or best <= 0:
        return pd.Series(np.nan, index=values.index)
    return values / best


def _auc(y: pd.Series, score: pd.Series) -> float:
    """AUC, or NaN when the group holds only one class."""
    if y.nunique() < 2:
        return float("nan")
    # Imported here: the params schema imports this module, and every stage (the
    # features stage too) would otherwise pay for scikit-learn's import.
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.to_numpy(), score.to_numpy()))


@dataclass(frozen=True)
class FairnessSummary:
    """``reports/fairness.json``: flagged groups and each group's key outcomes."""

    groups_flagged: int
    flags: tuple[str, ...]
    attributes: dict[str, dict[str, dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)


def fairness_tables(
    decisions: pd.DataFrame,
    attributes: pd.DataFrame,
    groupings: Mapping[str, AttributeGrouping],
    *,
    thresholds: FairnessThresholds,
) -> dict[str, pd.DataFrame]:
    """Per protected attribute (a column of ``attributes``, keyed by customer_id),
    outcomes by group of the decisions (which carry as_of, pd, default, credit_limit).
    Attributes named in ``groupings`` but absent from ``attributes`` are skipped."""
    frame = decisions.merge(attributes, on="customer_id", how="left", validate="many_to_one")
    out = {}
    for name, spec in groupings.items():
        if name not in frame.columns:
            continue
        label = name
        if spec.kind is GroupingKind.BIRTH_YEAR:
            groups = band(age_at(frame[name], frame["as_of"]), spec.bands)
            label = f"age at as_of (from {name})"
        elif spec.kind is GroupingKind.NUMERIC:
            groups = band(frame[name], spec.bands)
        else:
            groups = frame[name].astype("string").fillna("unknown")
        table = group_outcomes(
            frame.assign(**{f"{name}_group": groups}), group=f"{name}_group", thresholds=thresholds
        )
        table["attribute"] = label
        out[label] = table
    return out


def fairness_summary(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, FairnessSummary]:
    """All groups in one table, and the summary of the flagged ones."""
    table = pd.concat(tables.values(), ignore_index=True) if tables else pd.DataFrame()
    flagged = table[~table["flags"].isin(["", "too_small_to_judge"])] if len(table) else table
    summary = FairnessSummary(
        groups_flagged=len(flagged),
        flags=tuple(f"{r.attribute}={r.group}: {r.flags}" for r in flagged.itertuples()),
        attributes={
            a: {
                str(r["group"]): {k: r[k] for k in ("n", "approval_rate", "mean_limit", "auc")}
                for r in t.to_dict("records")
            }
            for a, t in tables.items()
        },
    )
    return table, summary


AGE_BANDS = (30.0, 45.0, 60.0)  # <30, 30-44, 45-59, 60+: the usual age bands


def infer_grouping(values: pd.Series, *, name: str) -> AttributeGrouping:
    """How to group a protected attribute when params do not say: text, booleans and
    categories as recorded; a birth year (a name with "birth" or "year", whole numbers
    from 1900 to 2100) as age at as_of in the usual bands; an age (a name with "age",
    numbers from 10 to 120) in the same bands; any other number cut at its quartiles."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return AttributeGrouping(GroupingKind.CATEGORICAL)
    known = values.dropna().astype("float64")
    lowered = name.lower()
    whole_years = bool(known.between(1900, 2100).all() and (known == known.round()).all())
    if len(known) and ("birth" in lowered or "year" in lowered) and whole_years:
        return AttributeGrouping(GroupingKind.BIRTH_YEAR, AGE_BANDS)
    if len(known) and "age" in lowered and known.between(10, 120).all():
        return AttributeGrouping(GroupingKind.NUMERIC, AGE_BANDS)
    edges = (
        tuple(sorted({float(q) for q in known.quantile([0.25, 0.5, 0.75])})) if len(known) else ()
    )
    if not edges:
        return AttributeGrouping(GroupingKind.CATEGORICAL)
    return AttributeGrouping(GroupingKind.NUMERIC, edges)


def groupings_for(
    attributes: pd.DataFrame,
    protected: Sequence[str],
    overrides: Mapping[str, AttributeGrouping],
) -> dict[str, AttributeGrouping]:
    """The grouping of every protected attribute the data holds: the override where params
    give one, else :func:`infer_grouping` from the column."""
    return {
        name: overrides.get(name) or infer_grouping(attributes[name], name=name)
        for name in protected
        if name in attributes.columns
    }
