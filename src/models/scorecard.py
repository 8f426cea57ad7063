"""The challenger: a weight-of-evidence logistic scorecard, stored as a plain table.

optbinning finds the bins (optimal binning with a monotone event-rate trend) and fits the
logistic regression on weights of evidence. The fitted card is exported as a JSON table
(per variable: bins, WoE, points, coefficient) that :class:`ScorecardTable` applies with
no optbinning and no pickle, so an auditor can read every point a customer received.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variable:
    """One scorecard variable.

    Numerical: bin i holds ``splits[i-1] <= x < splits[i]`` (open ends). Categorical:
    ``levels[i]`` lists the categories of bin i. Missing values and unseen categories take
    the missing bin, scored at WoE 0 (the neutral value), as optbinning scores them.
    """

    name: str
    kind: str  # "numerical" or "categorical"
    splits: list[float]
    levels: list[list[str]]
    labels: list[str]
    woe: list[float]
    points: list[float]
    event_rate: list[float]
    count: list[int]
    coefficient: float
    woe_missing: float
    points_missing: float

    def bin_index(self, values: pd.Series) -> np.ndarray:
        """Bin of each value; -1 for missing (or an unseen category)."""
        if self.kind == "numerical":
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            idx = np.searchsorted(np.asarray(self.splits), x, side="right")
            return np.where(np.isnan(x), -1, idx)
        levels = [level for group in self.levels for level in group]
        bins = np.array([i for i, group in enumerate(self.levels) for _ in group], dtype=np.int64)
        # Text form of each value (as str() gives it); missing values match no level.
        codes = pd.Index(levels, dtype=object).get_indexer(
            pd.Index(values.astype("string").fillna("\0missing"), dtype=object)
        )
        return np.where(codes >= 0, bins[np.maximum(codes, 0)] if len(bins) else -1, -1)


class ScorecardTable:
    """A fitted scorecard applied from its table: points and PD per row."""

    def __init__(self, variables: list[Variable], *, intercept: float) -> None:
        self.variables = variables
        self.intercept = intercept

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """Total score points per row (higher = safer)."""
        return self.score(frame)[1]

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        """Default probability of the logistic regression on weights of evidence."""
        return self.score(frame)[0]

    def score(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """PD and total points per row, binning each variable once."""
        logit = np.full(len(frame), self.intercept)
        total = np.zeros(len(frame))
        for v in self.variables:
            idx = v.bin_index(frame[v.name])
            woe = np.append(np.asarray(v.woe, dtype="float64"), v.woe_missing)
            pts = np.append(np.asarray(v.points, dtype="float64"), v.points_missing)
            logit += v.coefficient * woe[idx]  # index -1 picks the appended missing bin
            total += pts[idx]
        return np.asarray(expit(logit), dtype="float64"), total

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "variables": [v.__dict__ for v in self.variables],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorecardTable:
        return cls([Variable(**v) for v in data["variables"]], intercept=float(data["intercept"]))


def fit_scorecard(
    X: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    categorical: list[str],
    min_iv: float,
    max_n_prebins: int,
    min_prebin_size: float,
    max_n_bins: int,
    monotonic_trend: str,
    base_points: float,
    base_odds: float,
    pdo: float,
) -> ScorecardTable:
    """Bin every variable, keep those with information value >= ``min_iv``, fit the
    logistic regression on their WoE and scale it to points (``base_points`` at odds
    ``base_odds`` good:bad, ``pdo`` points to double the odds).

    Without a variable that reaches ``min_iv`` (or without variables) the scorecard is
    the intercept alone: every row gets the training default rate (AUC 0.5), and the
    train stage's report shows 0 variables.
    """
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    names = list(X.columns)
    if not names:
        return _intercept_only(y, min_iv, weight)
    trend = {n: {"monotonic_trend": monotonic_trend} for n in names if n not in categorical}
    process = BinningProcess(
        names,
        categorical_variables=categorical,
        max_n_prebins=max_n_prebins,
        min_prebin_size=min_prebin_size,
        max_n_bins=max_n_bins,
        selection_criteria={"iv": {"min": min_iv}},
        binning_fit_params=trend,
    )
    card = Scorecard(
        binning_process=process,
        estimator=LogisticRegression(max_iter=2000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": pdo, "odds": base_odds, "scorecard_points": base_points},
    )
    frame = X.copy()
    for c in categorical:
        frame[c] = frame[c].astype(object)
    card.fit(frame, np.asarray(y), sample_weight=weight)
    selected = list(card.binning_process_.get_support(names=True))
    if not selected:
        return _intercept_only(y, min_iv, weight)
    table = card.table(style="detailed")
    coefs = card.estimator_.coef_.ravel()
    variables = [
        _variable(card.binning_process_.get_binned_variable(n), table[table["Variable"] == n], c)
        for n, c in zip(selected, coefs, strict=True)
    ]
    return ScorecardTable(variables, intercept=float(card.estimator_.intercept_[0]))


def _intercept_only(y: np.ndarray, min_iv: float, weight: np.ndarray | None) -> ScorecardTable:
    rate = float(np.clip(np.average(y, weights=weight), 1e-6, 1 - 1e-6))
    log.warning(
        "challenger: no variable has information value >= %g (challenger.min_iv); the "
        "scorecard is the training default rate alone",
        min_iv,
    )
    return ScorecardTable([], intercept=float(np.log(rate / (1 - rate))))


def _variable(binned: Any, rows: pd.DataFrame, coefficient: float) -> Variable:
    regular = rows[~rows["Bin"].astype(str).isin(["Special", "Missing"])]
    missing = rows[rows["Bin"].astype(str) == "Missing"].iloc[0]  # its points are at WoE 0
    categorical = binned.dtype == "categorical"
    return Variable(
        name=binned.name,
        kind="categorical" if categorical else "numerical",
        splits=[] if categorical else [float(s) for s in binned.splits],
        levels=[[str(c) for c in group] for group in binned.splits] if categorical else [],
        labels=[str(b) for b in regular["Bin"]],
        woe=[float(w) for w in regular["WoE"]],
        points=[float(p) for p in regular["Points"]],
        event_rate=[float(r) for r in regular["Event rate"]],
        count=[int(n) for n in regular["Count"]],
        coefficient=float(coefficient),
        woe_missing=0.0,  # optbinning's transform scores missing at WoE 0 (metric_missing)
        points_missing=float(missing["Points"]),
    )
