"""Graded early-warning rules: declarative conditions on a customer's signals, each rule
with a level (light, medium, severe) and the actions it calls for.

Signals are the model features plus ``pd``, ``previous_pd``, ``pd_ratio`` (PD now over PD
at the previous snapshot), ``grade_change`` (grade steps worse since the previous
snapshot; negative is an upgrade) and ``days_to_next_due``. A missing signal fails every
condition but ``is_null``, so a customer new since the previous snapshot never fires a
rule about change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from creditrisk.models.conditions import holds
from creditrisk.schemas.rules import Condition
from creditrisk.schemas.warnings import FREEZE, LEVELS, WarningRule, WarningRuleError


def grade_change(previous: pd.Series, current: pd.Series, grades: Sequence[str]) -> pd.Series:
    """Steps from the previous grade to the current one (positive: worse). Grades are
    ordered best to worst in ``grades``; an unknown or missing grade gives NaN."""
    rank = {g: i for i, g in enumerate(grades)}
    before = previous.map(rank).astype("float64")
    after = current.map(rank).astype("float64")
    return after - before


def evaluate_warnings(signals: pd.DataFrame, rules: Sequence[WarningRule]) -> pd.DataFrame:
    """Which rules fire per row, the highest level, and that level's actions.

    Returns:
        A frame aligned with ``signals``: ``level`` ("" when no rule fires), ``rules``
        (names of every rule that fired, most severe first, comma-separated) and
        ``actions`` (of the rules at the highest level, comma-separated, in rule order).

    Raises:
        WarningRuleError: a condition names a column ``signals`` lacks.
    """
    missing = sorted({c.feature for r in rules for c in r.when} - set(signals.columns))
    if missing:
        raise WarningRuleError(f"warning rules use signals missing from the data: {missing}")
    n = len(signals)
    fired = {r.name: _holds(r, signals) for r in rules}
    level_idx = np.full(n, -1)
    for r in rules:
        level_idx = np.where(fired[r.name], np.maximum(level_idx, LEVELS.index(r.level)), level_idx)
    by_severity = sorted(rules, key=lambda r: -LEVELS.index(r.level))
    names, actions = [], []
    for i in range(n):
        names.append(",".join(r.name for r in by_severity if fired[r.name][i]))
        top = [r for r in rules if fired[r.name][i] and LEVELS.index(r.level) == level_idx[i]]
        acts: list[str] = []
        for r in top:
            acts += [a for a in r.actions if a not in acts]
        actions.append(",".join(acts))
    names_by_level = np.asarray([lvl.value for lvl in LEVELS], dtype=object)
    level = np.where(level_idx >= 0, names_by_level[level_idx], "")
    return pd.DataFrame({"level": level, "rules": names, "actions": actions}, index=signals.index)


def new_limits(current: pd.Series, actions: pd.Series) -> pd.Series:
    """The limit after the warnings: 0 where the actions freeze the limit, else the
    scorer's current limit. A frozen limit is never raised in the same run."""
    frozen = actions.str.split(",").map(lambda a: FREEZE in a)
    return current.where(~frozen.astype(bool), 0.0)


def level_counts(levels: pd.Series) -> Mapping[str, int]:
    """Rows per level, every level present (0 when none)."""
    return {lvl.value: int((levels == lvl.value).sum()) for lvl in LEVELS}


def _holds(rule: WarningRule, signals: pd.DataFrame) -> np.ndarray:
    return all_hold(rule.when, signals)


def all_hold(when: Sequence[Condition], signals: pd.DataFrame) -> np.ndarray:
    """Rows of ``signals`` where every condition holds (a missing value fails all but
    ``is_null``)."""
    match = np.ones(len(signals), dtype=bool)
    for c in when:
        col = signals[c.feature]
        values = (
            col.to_numpy(dtype="float64", na_value=np.nan)
            if pd.api.types.is_numeric_dtype(col)
            else col.to_numpy(dtype=object)
        )
        match &= holds(c, values)
    return match
