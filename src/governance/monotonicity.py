"""Monotonicity verified, not assumed: sweep each constrained feature over its range.

For sampled rows, one feature at a time is set to each point of a grid spanning its
observed range (quantiles) while the row's other values stay fixed; the model's raw
margin must then never move against the feature's declared direction (+1: rises with the
value, -1: falls). A LightGBM model trained with monotone constraints passes; one trained
without them on a non-monotone relation does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class MonotonicityError(RuntimeError):
    """The model's output moves against a declared direction."""


@dataclass(frozen=True)
class SweepResult:
    """The sweep of one feature.

    Attributes:
        feature: the feature swept.
        direction: the declared direction (+1 or -1).
        rows: rows swept; grid: grid points.
        violating_rows: rows whose margin moved against the direction somewhere.
        worst_step: the largest move against the direction (log-odds; 0 when none).
        worst_between: the two grid values of that move.
    """

    feature: str
    direction: int
    rows: int
    grid: int
    violating_rows: int
    worst_step: float
    worst_between: tuple[float, float]

    @property
    def ok(self) -> bool:
        return self.violating_rows == 0


def sweep_monotonicity(
    predict_margin: Any,
    X: pd.DataFrame,
    directions: Mapping[str, int],
    *,
    rows: int = 200,
    grid: int = 25,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> list[SweepResult]:
    """Sweep every feature with a non-zero direction.

    Args:
        predict_margin: ``f(frame) -> raw margins`` (e.g. a LightGBM booster's
            ``predict(..., raw_score=True)``).
        X: the model's design matrix (rows are sampled from it).
        directions: feature -> +1 / -1 / 0 (0 is not checked).
        rows, grid: how many rows and grid points; seed: the row sample.
        tolerance: moves smaller than this (log-odds) are float noise, not violations.
    """
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(X), size=min(rows, len(X)), replace=False))
    sample = X.iloc[take].reset_index(drop=True)
    results = []
    for feature, direction in directions.items():
        if not direction or feature not in X.columns:
            continue
        values = pd.to_numeric(X[feature], errors="coerce").dropna().to_numpy(dtype="float64")
        points: np.ndarray = (
            np.unique(np.quantile(values, np.linspace(0, 1, grid))) if len(values) else values
        )
        if len(points) < 2:
            continue
        swept = sample.loc[sample.index.repeat(len(points))].reset_index(drop=True)
        swept[feature] = np.tile(points, len(sample))
        margin = np.asarray(predict_margin(swept), dtype="float64").reshape(len(sample), -1)
        steps = direction * np.diff(margin, axis=1)  # >= 0 where the model follows the direction
        against = steps < -tolerance
        worst = float(-steps.min()) if against.any() else 0.0
        where = np.unravel_index(int(np.argmin(steps)), steps.shape)
        results.append(
            SweepResult(
                feature=feature,
                direction=int(direction),
                rows=len(sample),
                grid=len(points),
                violating_rows=int(against.any(axis=1).sum()),
                worst_step=worst,
                worst_between=(float(points[where[1]]), float(points[where[1] + 1])),
            )
        )
    return results


def check_monotonicity(results: list[SweepResult]) -> None:
    """Raise naming every feature whose sweep moved against its direction.

    Raises:
        MonotonicityError: one or more features violate their declared direction.
    """
    bad = [r for r in results if not r.ok]
    if bad:
        lines = [
            f"  {r.feature} (declared {'+' if r.direction > 0 else '-'}1): the margin moves "
            f"against it on {r.violating_rows}/{r.rows} rows, by up to {r.worst_step:.4f} "
            f"log-odds between {r.worst_between[0]:g} and {r.worst_between[1]:g}"
            for r in bad
        ]
        raise MonotonicityError(
            "the model is not monotone in its constrained features:\n" + "\n".join(lines)
        )


def scorecard_trend(event_rate: list[float]) -> int:
    """The direction a binned variable's event rate shows over its ordered bins: +1
    rising, -1 falling, 0 neither (a peak, a valley, flat, or one bin)."""
    rates = np.asarray(event_rate, dtype="float64")
    if len(rates) < 2:
        return 0
    d = np.diff(rates)
    if (d >= 0).all() and (d > 0).any():
        return 1
    if (d <= 0).all() and (d < 0).any():
        return -1
    return 0
