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


def lever_features(scorer: Scorer, dictionary: Mapping[str, Mapping[str, object]]) -> list[str]:
    """The model's actionable numeric features with a risk direction: the columns
    :func:`levers` reads from its reference population."""
    out = []
    for name in scorer.spec.features:
        entry = dictionary.get(name, {})
        direction = int(entry.get("direction", 0) or 0)  # type: ignore[call-overload]
        if entry.get("actionable") and direction != 0 and name not in scorer.spec.categories:
            out.append(name)
    return out


def levers(
    scorer: Scorer, dictionary: Mapping[str, Mapping[str, object]], reference: pd.DataFrame
) -> list[Lever]:
    """The model's actionable numeric features with their grids from ``reference``."""
    out = []
    for name in lever_features(scorer, dictionary):
        direction = int(dictionary[name]["direction"])  # type: ignore[call-overload]
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
    stuck = np.flatnonzero(todo & np.isinf(best_cost))
    if len(stuck):
        changes, costs = _combined(
            scorer, X[stuck], rows.iloc[stuck], levers_, target[stuck], max_levers
        )
        for i, change, c in zip(stuck, changes, costs, strict=True):
            if change:
                best_cost[i], best_change[i] = c, change
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
    X: np.ndarray,
    rows: pd.DataFrame,
    levers_: list[Lever],
    target: np.ndarray,
    max_levers: int,
) -> tuple[list[dict[str, int | float]], np.ndarray]:
    """Per row of ``X``: greedy, add levers at their best value (largest PD drop first)
    until the row's target is reached, then walk each back toward its current value while
    the target holds. All rows step together (one model call per lever and step, not per
    row); each row's moves are those it would make alone. A row that cannot reach its
    target gets ``{}`` at infinite cost."""
    n, n_levers = len(X), len(levers_)
    pos = np.array([scorer.position(lv.name) for lv in levers_], dtype=np.int64)
    best = np.array([lv.best for lv in levers_], dtype="float64")
    x, original = X.copy(), X
    available = ~np.isnan(X[:, pos])
    chosen = np.full((n, max_levers), -1, dtype=np.int64)
    reached = np.zeros(n, dtype=bool)
    for k in range(max_levers):
        idx = np.flatnonzero(~reached & available.any(axis=1))
        if not len(idx):
            break
        margins = np.full((len(idx), n_levers), np.inf)
        for m in range(n_levers):
            free = available[idx, m]
            if free.any():
                trials = x[idx[free]]
                trials[:, pos[m]] = best[m]
                margins[free, m] = scorer.booster.predict(trials, raw_score=True)
        pick = np.argmin(margins, axis=1)  # ties: the first lever, as levers_ order them
        x[idx, pos[pick]] = best[pick]
        available[idx, pick] = False
        chosen[idx, k] = pick
        reached[idx] = scorer.grade_index(x[idx], rows.iloc[idx]) <= target[idx]
    for k in range(max_levers):  # back off, one lever at a time, as far as the target holds
        for m, lever in enumerate(levers_):
            at = np.flatnonzero(reached & (chosen[:, k] == m))
            j, open_ = pos[m], np.ones(len(at), dtype=bool)
            for step in range(1, len(lever.grid) + 1):
                value = lever.candidate(original[at, j], step)
                open_ &= ~np.isnan(value)
                if not open_.any():
                    break
                sel = at[open_]
                trials = x[sel]
                trials[:, j] = value[open_]
                holds = scorer.grade_index(trials, rows.iloc[sel]) <= target[sel]
                x[sel[holds], j] = value[open_][holds]
                open_[np.flatnonzero(open_)[holds]] = False
    changes: list[dict[str, int | float]] = [{} for _ in range(n)]
    costs = np.full(n, np.inf)
    for i in np.flatnonzero(reached):
        picked = [(levers_[m], pos[m]) for m in chosen[i] if m >= 0]
        changes[i] = {lv.name: lv.typed(x[i, j]) for lv, j in picked if x[i, j] != original[i, j]}
        costs[i] = float(
            sum(lv.cost(original[i : i + 1, j], x[i : i + 1, j])[0] for lv, j in picked)
        )
    return changes, costs


def apply_changes(rows: pd.DataFrame, recourse: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``recourse``'s customers (same as_of) with its changes applied, in the
    recourse table's order. No cast: every change has its column's type already (a
    whole-number column gets whole numbers), so the result scores as the rows do."""
    key = list(SNAPSHOT_KEY) if "as_of" in rows else ["customer_id"]
    out = recourse[key].merge(rows, on=key, how="left", validate="many_to_one")
    at: dict[str, tuple[list[int], list[int | float]]] = {}
    for i, text in enumerate(recourse["changes"]):
        for feature, value in json.loads(text).items():
            positions, values = at.setdefault(feature, ([], []))
            positions.append(i)
            values.append(value)
    for feature, (positions, values) in at.items():  # one assignment per feature
        out.loc[positions, feature] = values
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
