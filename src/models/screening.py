"""Screen features on the training period before any model sees them.

A lender's export decides which features carry information: a window with at most one
installment (monthly statements, short loans) leaves a variance null on every row, a
product without purchases leaves the purchase features constant, a static column can be
empty. The rule, per feature of the design:

- **null on every training row**: out of both models (nothing to learn from);
- **one value on every training row** (no nulls either): out of both models;
- for the scorecard only: **fewer than two known values**, or known values only on rows
  of one class (all defaults or none): WoE binning cannot place a cut or estimate a
  weight of evidence for it. LightGBM keeps such a feature (a value-or-missing flag).

Every decision has a reason; ``data/models/pruning.csv`` lists them beside the
near-duplicate pruning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

ALL_NULL = "null on every training row"
CONSTANT = "one value on every training row"
SCORECARD_ONE_VALUE = "scorecard: fewer than two known values on the training period"
SCORECARD_ONE_CLASS = "scorecard: known only on rows of one class (all defaults or none)"


@dataclass(frozen=True)
class Screening:
    """The screening's decisions: what each model may use, and why the rest is out."""

    models: tuple[str, ...]  # features both models may use
    scorecard_excluded: tuple[str, ...]  # of ``models``, the ones the scorecard leaves out
    table: pd.DataFrame  # feature, kept, reason (a scorecard-only reason when kept)

    @property
    def dropped(self) -> int:
        return int((~self.table["kept"]).sum())


def _distinct(values: pd.Series) -> int:
    return int(values.dropna().nunique())


def screen_features(frame: pd.DataFrame, features: Sequence[str], y: np.ndarray) -> Screening:
    """Screen ``features`` on ``frame`` (the training period) with labels ``y``."""
    rows = []
    models: list[str] = []
    scorecard_excluded: list[str] = []
    labels = np.asarray(y, dtype="float64")
    for name in features:
        values = frame[name]
        known = values.notna().to_numpy()
        distinct = _distinct(values)
        reason = ""
        if not known.any():
            reason = ALL_NULL
        elif distinct == 1 and known.all():
            reason = CONSTANT
        if reason:
            rows.append({"feature": name, "kept": False, "reason": reason})
            continue
        models.append(name)
        classes = np.unique(labels[known])
        card = ""
        if distinct < 2:
            card = SCORECARD_ONE_VALUE
        elif len(classes) < 2:
            card = SCORECARD_ONE_CLASS
        if card:
            scorecard_excluded.append(name)
        rows.append({"feature": name, "kept": True, "reason": card})
    table = pd.DataFrame(rows, columns=["feature", "kept", "reason"])
    return Screening(tuple(models), tuple(scorecard_excluded), table)
