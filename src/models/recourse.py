"""Recourse: the smallest change in what a customer can act on that earns a better grade.

For a declined or limited decision, the search changes only *actionable* features (the
dictionary's ``actionable``: arrears, unpaid amounts, balances, lateness over the short
windows that on-time payments clear; never tenure, income, age or protected attributes),
each only toward lower risk (its dictionary direction), to values seen in a reference
population. The target is the next better grade a PD band can give.

The model is monotone in every feature with a direction, so for one feature the grade can
only improve as the value moves further: the first grid value that reaches the target is
the smallest such move, found exactly by walking the grid outward. The search tries every
actionable feature alone and keeps the cheapest move (cost: the distance between the old
and new value in the reference population's distribution, as a share of it). When no
single feature suffices, it combines features greedily (the one lowering the PD most at
its best value first), then walks each back toward its current value as far as the
target still holds. Every answer is checked by scoring the changed row again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.models.output import is_frozen
from creditrisk.models.policy import Policy
from creditrisk.models.scorer import Scorer

COLUMNS = ["customer_id", "as_of", "grade", "target_grade", "changes", "cost"]


class RecourseError(RuntimeError):
    """A recourse change did not reach its target grade when scored again."""


@dataclass(frozen=True)
class Lever:
    """An actionable feature: its direction (+1: lower is safer) and its value grid (the
    reference population's distinct quantiles, ascending)."""

    name: str
    direction: int
    grid: np.ndarray
    reference: np.ndarray  # sorted reference values (for the cost)
    integer: bool = False  # the scorer's input column holds whole numbers

    def typed(self, value: float) -> int | float:
        """``value`` as the scorer's input column holds it: a whole-number column gets an
        int (the grid holds values of the reference population, so it is whole)."""
        return round(float(value)) if self.integer else float(value)

    def cost(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        n = len(self.reference)
        f_old = np.searchsorted(self.reference, old, side="right") / n
        f_new = np.searchsorted(self.reference, new, side="right") / n
        return np.asarray(np.abs(f_old - f_new))

    def candidate(self, current: np.ndarray, step: int) -> np.ndarray:
        """The ``step``-th grid value beyond ``current`` toward lower risk (NaN where the
        grid has no such value or the current value is missing)."""
        if self.direction > 0:  # lower is safer: walk down the grid
            idx = np.searchsorted(self.grid, current, side="left") - step
            ok = idx >= 0
        else:
            idx = np.searchsorted(self.grid, current, side="right") + step - 1
            ok = idx < len(self.grid)
        ok &= ~np.isnan(current)
        out = np.full(len(current), np.nan)
        out[ok] = self.grid[idx[ok]]
        return out

    @property
    def best(self) -> float:
        return float(self.grid[0] if self.direction > 0 else self.grid[-1])


def levers(
    scorer: Scorer, dictionary: Mapping[str, Mapping[str, object]], reference: pd.DataFrame
) -> list[Lever]:
    """The model's actionable numeric features with their grids from ``reference``."""
    out = []
    for name in scorer.spec.features:
        entry = dictionary.get(name, {})
        direction = int(entry.get("direction", 0) or 0)  # type: ignore[call-overload]
        if not entry.get("actionable") or direction == 0 or name in scorer.spec.categories:
            continue
        values = np.sort(
            pd.to_numeric(reference[name], errors="coerce").dropna().to_numpy("float64")
        )
        if not len(values):
            continue
        grid = np.unique(np.quantile(values, np.linspace(0, 1, 41), method="nearest"))
        integer = pd.api.types.is_integer_dtype(reference[name].dtype)
        out.append(Lever(name, direction, grid, values, integer))
    return out


def target_grades(scorer: Scorer, grade: np.ndarray) -> np.ndarray:
    """The next better grade a PD band gives (index into the grades; -1 where none)."""
    banded = sorted(scorer.policy.grades.index(g) for g, _ in scorer.policy.bands)
    out = np.full(len(grade), -1)
    for i, g in enumerate(grade):
        better = [b for b in banded if b < g]
        out[i] = better[-1] if better else -1
    return out


def find_recourse(
    scorer: Scorer, rows: pd.DataFrame, levers_: list[Lever], *, max_levers: int = 4
) -> pd.DataFrame:
    """For each row: the target grade and the cheapest change reaching it (``changes`` is
    JSON ``{feature: new value}``; rows with no target or no reachable change are left
    out). ``rows`` are feature rows with ``customer_id`` and ``as_of``."""
    if rows.empty or not levers_:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows.reset_index(drop=True)
    X = scorer.matrix(rows)
    grade = scorer.grade_index(X, rows)
    target = target_grades(scorer, grade)
    best_cost = np.full(len(rows), np.inf)
    best_change: list[dict[str, int | float]] = [{} for _ in range(len(rows))]
    todo = target >= 0
    for lever in levers_:
        j = scorer.position(lever.name)
        current = X[:, j].copy()
        open_ = todo.copy()
        for step in range(1, len(lever.grid) + 1):
            if not open_.any():
                break
            value = lever.candidate(current, step)
            trial = open_ & ~np.isnan(value)
            if not trial.any():
                break
            Xt = X[trial].copy()
            Xt[:, j] = value[trial]
            reached = scorer.grade_index(Xt, rows[trial]) <= target[trial]
            hit = np.flatnonzero(trial)[reached]
            cost = lever.cost(current[hit], value[hit])
            for i, c, v in zip(hit, cost, value[hit], strict=True):
                if c < best_cost[i]:
                    best_cost[i], best_change[i] = float(c), {lever.name: lever.typed(v)}
            open_[hit] = False
    for i in (int(v) for v in np.flatnonzero(todo & np.isinf(best_cost))):
        change, combined_cost = _combined(
            scorer, X[i : i + 1], rows.iloc[[i]], levers_, int(target[i]), max_levers
        )
        if change:
            best_cost[i] = combined_cost
            best_change[i] = change
    found = np.isfinite(best_cost)
    grades = np.asarray(scorer.policy.grades, dtype=object)
    return pd.DataFrame(
        {
            "customer_id": rows.loc[found, "customer_id"].to_numpy(),
            "as_of": rows.loc[found, "as_of"].to_numpy() if "as_of" in rows else None,
            "grade": grades[grade[found]],
            "target_grade": grades[target[found]],
            "changes": [json.dumps(best_change[i], sort_keys=True) for i in np.flatnonzero(found)],
            "cost": best_cost[found],
        }
    )


def _combined(
    scorer: Scorer,
    x: np.ndarray,
    row: pd.DataFrame,
    levers_: list[Lever],
    target: int,
    max_levers: int,
) -> tuple[dict[str, int | float], float]:
    """Greedy: add levers at their best value (largest PD drop first) until the target is
    reached, then walk each back toward its current value while the target holds."""
    x = x.copy()
    original = x.copy()
    chosen: list[Lever] = []
    remaining = [lv for lv in levers_ if not np.isnan(x[0, scorer.position(lv.name)])]
    while remaining and len(chosen) < max_levers:
        trials = np.repeat(x, len(remaining), axis=0)
        for r, lv in enumerate(remaining):
            trials[r, scorer.position(lv.name)] = lv.best
        margins = np.asarray(scorer.booster.predict(trials, raw_score=True))
        pick = int(np.argmin(margins))
        lever = remaining.pop(pick)
        x[0, scorer.position(lever.name)] = lever.best
        chosen.append(lever)
        if scorer.grade_index(x, row)[0] <= target:
            break
    else:
        if scorer.grade_index(x, row)[0] > target:
            return {}, float("inf")
    for lever in chosen:  # back off, one lever at a time, as far as the target holds
        j = scorer.position(lever.name)
        start = original[0, j]
        for step in range(1, len(lever.grid) + 1):
            value = lever.candidate(np.array([start]), step)[0]
            if np.isnan(value):
                break
            trial = x.copy()
            trial[0, j] = value
            if scorer.grade_index(trial, row)[0] <= target:
                x = trial
                break
    changes = {
        lv.name: lv.typed(x[0, scorer.position(lv.name)])
        for lv in chosen
        if x[0, scorer.position(lv.name)] != original[0, scorer.position(lv.name)]
    }
    cost = float(
        sum(
            lv.cost(original[0:1, scorer.position(lv.name)], x[0:1, scorer.position(lv.name)])[0]
            for lv in chosen
        )
    )
    return changes, cost


def apply_changes(rows: pd.DataFrame, recourse: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``recourse``'s customers (same as_of) with its changes applied, in the
    recourse table's order. No cast: every change has its column's type already (a
    whole-number column gets whole numbers), so the result scores as the rows do."""
    keyed = rows.set_index(list(SNAPSHOT_KEY)) if "as_of" in rows else rows.set_index("customer_id")
    keys = (
        list(zip(recourse["customer_id"], recourse["as_of"], strict=True))
        if "as_of" in rows
        else list(recourse["customer_id"])
    )
    out = keyed.loc[keys].reset_index()
    for i, text in enumerate(recourse["changes"]):
        for feature, value in json.loads(text).items():
            out.loc[i, feature] = value
    return out


def verify_recourse(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    rows: pd.DataFrame,
    recourse: pd.DataFrame,
    policy: Policy,
) -> None:
    """Score the changed rows with ``predict`` (the exported model) and check each reaches
    its target grade or better.

    Raises:
        RecourseError: naming the customers whose change falls short.
    """
    if recourse.empty:
        return
    changed = apply_changes(rows, recourse)
    order = {g: i for i, g in enumerate(policy.grades)}
    got = predict(changed)["grade"].map(order).to_numpy()
    want = recourse["target_grade"].map(order).to_numpy()
    short = np.flatnonzero(got > want)
    if len(short):
        raise RecourseError(
            f"{len(short)} recourse change(s) do not reach their target grade when scored "
            f"again, e.g. customers {recourse['customer_id'].iloc[short[:5]].tolist()}"
        )


class WithRecourse:
    """A scorer whose declined or limited decisions (not frozen ones: a freeze is lifted
    by its cure rule or a person) carry ``recourse_target_grade`` and
    ``recourse_changes``; wrap the model whose decisions are served, inside the decision
    log's ``LoggingScorer`` so the log keeps them."""

    def __init__(self, model: Any, scorer: Scorer, levers_: list[Lever]) -> None:
        self.model = model
        self.scorer = scorer
        self.levers = levers_
        self.found = 0

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        from creditrisk.models.explain import decision_outcome

        decisions: pd.DataFrame = self.model.predict(model_input)
        outcome = decision_outcome(decisions["credit_limit"], decisions["limit_policy"])
        frozen = is_frozen(decisions["limit_policy"])
        pick = ((outcome != "approved") & ~frozen).to_numpy()
        rows = model_input.loc[pick].drop(columns=["as_of"], errors="ignore")
        found = find_recourse(self.scorer, rows, self.levers).set_index("customer_id")
        ids = decisions["customer_id"]
        out = decisions.copy()
        out["recourse_target_grade"] = ids.map(found["target_grade"]).astype(object)
        out["recourse_changes"] = ids.map(found["changes"]).astype(object)
        self.found += len(found)
        return out
