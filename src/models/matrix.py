"""Which columns are model features, and the design matrix built from a feature frame."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.contract import LABEL_COLUMNS, SNAPSHOT_KEY


class FeatureMatrixError(ValueError):
    """A frame does not have the columns or types the model was trained on."""


@dataclass(frozen=True)
class FeatureSpec:
    """The model's inputs, fixed at training time.

    Attributes:
        features: feature columns in model order.
        categories: categorical feature -> its levels seen in training, in code order.
        monotone: feature -> required direction of its effect on PD (+1, -1 or 0).
    """

    features: tuple[str, ...]
    categories: dict[str, list[str]] = field(default_factory=dict)
    monotone: dict[str, int] = field(default_factory=dict)

    def monotone_vector(self) -> list[int]:
        return [int(self.monotone.get(f, 0)) for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "monotone": dict(self.monotone),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            features=tuple(data["features"]),
            categories={k: list(v) for k, v in data.get("categories", {}).items()},
            monotone={k: int(v) for k, v in data.get("monotone", {}).items()},
        )


def feature_spec(
    train: pd.DataFrame,
    dictionary: Mapping[str, Mapping[str, Any]],
    *,
    exclude: Iterable[str] = (),
    monotone: bool = True,
) -> FeatureSpec:
    """Model features: the dictionary's available features present in ``train``.

    Text columns become categorical with the levels seen in ``train``. With ``monotone``,
    each numeric feature is constrained to the direction its dictionary entry declares;
    categorical features are never constrained.

    Raises:
        FeatureMatrixError: no feature is left.
    """
    skip = set(exclude) | set(SNAPSHOT_KEY) | set(LABEL_COLUMNS)
    names = [
        c
        for c in train.columns
        if c in dictionary and dictionary[c].get("available", True) and c not in skip
    ]
    if not names:
        raise FeatureMatrixError(
            "no model features: the feature frame shares no available column with the "
            "feature dictionary (after train.exclude)"
        )
    categories = {
        c: sorted(str(v) for v in train[c].dropna().unique())
        for c in names
        if not pd.api.types.is_numeric_dtype(train[c]) and not pd.api.types.is_bool_dtype(train[c])
    }
    directions = {
        c: int(dictionary[c].get("direction", 0)) if monotone and c not in categories else 0
        for c in names
    }
    return FeatureSpec(features=tuple(names), categories=categories, monotone=directions)


def design_matrix(frame: pd.DataFrame, spec: FeatureSpec, *, table: str = "input") -> pd.DataFrame:
    """The model's input matrix: features in model order, numbers as float64, categories
    with the training levels (an unseen level becomes missing).

    Raises:
        FeatureMatrixError: required columns are missing, or a numeric feature holds
            values that are not numbers (the error names the column and example rows).
    """
    missing = [c for c in spec.features if c not in frame.columns]
    if missing:
        raise FeatureMatrixError(f"{table}: missing required feature column(s) {missing}")
    out: dict[str, Any] = {}
    for name in spec.features:
        col = frame[name]
        if name in spec.categories:
            levels = spec.categories[name]
            text = col.astype("string")
            known = text.isin(levels).fillna(False).to_numpy(dtype=bool)
            values = text.astype(object).where(known, None)
            out[name] = pd.Categorical(values, categories=levels)
        else:
            out[name] = numeric_values(col, name, table)
    return pd.DataFrame(out, index=frame.index)


def numeric_values(col: pd.Series, name: str, table: str) -> np.ndarray:
    """A numeric feature column as float64 (missing as NaN), for training and scoring alike.

    Raises:
        FeatureMatrixError: a value is not a number (column, count and example rows named).
    """
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float64", na_value=np.nan)
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna() & col.notna()
    if bad.any():
        rows = list(col.index[bad][:5])
        examples = [repr(v) for v in col[bad].head(3)]
        raise FeatureMatrixError(
            f"{table}: column '{name}' must be numeric; {int(bad.sum())} row(s) are not, "
            f"e.g. rows {rows}: {', '.join(examples)}"
        )
    return converted.to_numpy(dtype="float64", na_value=np.nan)
