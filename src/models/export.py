"""What the exported scorer declares: its input example, its input and output columns
(the scorer contract, typed), and the export report the model card reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import creditrisk.records as records
from creditrisk.governance.promotion import PromotionDecision
from creditrisk.models.matrix import FeatureSpec
from creditrisk.models.output import Column


def input_columns(spec: FeatureSpec, example: pd.DataFrame) -> list[Column]:
    """customer_id (optional) and every feature with the type the features stage writes:
    counts as long (never null: no event counts 0), other numbers as double (null accepted:
    the model treats it as missing), categories as string."""

    def kind(f: str) -> str:
        if f in spec.categories:
            return "string"
        return "long" if example[f].dtype.kind in "iu" else "double"

    return [Column("string", "customer_id", False), *(Column(kind(f), f) for f in spec.features)]


def pds_over(frames: Iterable[pd.DataFrame], *scorers: Any) -> list[np.ndarray]:
    """Each scorer's PDs (its PD-only path, ``pd_and_grade``) over the rows of
    ``frames``, each frame read once and scored by all: a period in batches."""
    parts: list[list[np.ndarray]] = [[] for _ in scorers]
    for frame in frames:
        for part, scorer in zip(parts, scorers, strict=True):
            part.append(scorer.pd_and_grade(frame)[0])
    return [np.concatenate(p) if p else np.empty(0) for p in parts]


def input_example(test: pd.DataFrame, spec: FeatureSpec, rows: int = 3) -> pd.DataFrame:
    """The first test-period rows, as a downstream system would send them."""
    frame = test.head(rows)[["customer_id", *spec.features]].copy()
    for f in ("customer_id", *spec.categories):
        frame[f] = frame[f].astype(object)
    return frame


@dataclass(frozen=True)
class ExportReport:
    """``reports/export.json``: the registered version, the alias the promotion rule gave
    it and why, the champion being served, and what the policy holds."""

    model_name: str
    model_version: int
    alias: str
    run_id: str
    features: int
    reasons: int
    limit_in_force: str
    rating_rules: tuple[str, ...]
    rating_rules_skipped: tuple[str, ...]
    champion_version: int  # the version in data/scorer (this one when promoted)
    promotion: PromotionDecision

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportReport:
        return records.from_dict(cls, data)
