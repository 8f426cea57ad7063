"""Where each artifact lives inside a stage's output folder, named once.

A folder's root path comes from ``dvc.yaml`` (the stage's command line); the names of the
files inside it are fixed here, and the stages, tests and benchmarks that read them go
through these classes (:mod:`pipelines.support.loaders` reads the model files into objects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class FeaturesDir:
    """``data/features``: the feature table and its dictionary."""

    root: Path

    @property
    def table(self) -> Path:
        return self.root / "features.parquet"

    @property
    def dictionary(self) -> Path:
        return self.root / "dictionary.json"


@dataclass(frozen=True)
class SplitDir:
    """``data/split``: one Parquet file per period."""

    root: Path

    def period(self, name: str) -> Path:
        return self.root / f"{name}.parquet"

    def read(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.period(name))


@dataclass(frozen=True)
class ModelsDir:
    """``data/models``: the LightGBM model, its feature spec, the challenger scorecard,
    the monotonicity review and the id of this pipeline run's MLflow run."""

    root: Path

    @property
    def lightgbm(self) -> Path:
        return self.root / "lightgbm.txt"

    @property
    def feature_spec(self) -> Path:
        return self.root / "features.json"

    @property
    def scorecard(self) -> Path:
        return self.root / "scorecard.json"

    @property
    def monotone_review(self) -> Path:
        return self.root / "monotone_review.csv"

    @property
    def pruning(self) -> Path:
        return self.root / "pruning.csv"

    @property
    def search_trials(self) -> Path:
        return self.root / "search_trials.json"

    @property
    def run_file(self) -> Path:
        return self.root / "mlflow_run.json"

    @property
    def calibration_roles(self) -> Path:
        """Each calibration row's role: early stopping, or fitting the calibrator, and
        the gate's development rows (chosen by train, read by calibrate and evaluate)."""
        return self.root / "calibration_roles.parquet"


@dataclass(frozen=True)
class CalibrationDir:
    """``data/calibration``: the fitted calibrator."""

    root: Path

    @property
    def calibrator(self) -> Path:
        return self.root / "calibration.json"


def predictions_file(folder: Path) -> Path:
    """``data/predictions``: per-row predictions of every period."""
    return folder / "predictions.parquet"


def decisions_file(folder: Path) -> Path:
    """``data/explain``: the scored test-period decisions."""
    return folder / "decisions.parquet"


def recourse_file(folder: Path) -> Path:
    """``data/explain``: recourse for the declined and limited test-period decisions."""
    return folder / "recourse.parquet"


def scores_file(folder: Path) -> Path:
    """``data/scores``: one decision per customer at the scored snapshot."""
    return folder / "scores.parquet"


def alerts_file(folder: Path) -> Path:
    """``data/alerts``: the early warnings of the monitored snapshot."""
    return folder / "alerts.parquet"


@dataclass(frozen=True)
class _ReportFolder:
    """A stage's report folder: tables (``<name>.csv``), figures (``<name>.png``) and
    ``summary.json``."""

    root: Path

    def table(self, name: str) -> Path:
        return self.root / f"{name}.csv"

    def figure(self, name: str) -> Path:
        return self.root / f"{name}.png"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


class EvaluateReports(_ReportFolder):
    """``reports/evaluate``: gains, ``pd_bands`` (PD bands before rating rules),
    calibration and PSI tables, and the figures."""


class ExplainReports(_ReportFolder):
    """``reports/explain``: global importance, reason frequency, the summary, figures."""

    @property
    def importance(self) -> Path:
        return self.table("importance")

    @property
    def reason_frequency(self) -> Path:
        return self.table("reason_frequency")


class StrategyReports(_ReportFolder):
    """``reports/strategy``: cut-offs, final grades (after the rating rules), the summary."""

    @property
    def cutoffs(self) -> Path:
        return self.table("cutoffs")

    @property
    def grades(self) -> Path:
        return self.table("grades")


@dataclass(frozen=True)
class ReportsDir:
    """``reports``: every stage's report as the model card reads it. The writing stages
    get these paths from ``dvc.yaml``; the names here must match it (a test checks)."""

    root: Path

    @property
    def evaluate(self) -> EvaluateReports:
        return EvaluateReports(self.root / "evaluate")

    @property
    def explain(self) -> ExplainReports:
        return ExplainReports(self.root / "explain")

    @property
    def strategy(self) -> StrategyReports:
        return StrategyReports(self.root / "strategy")

    @property
    def export(self) -> Path:
        return self.root / "export.json"

    @property
    def split(self) -> Path:
        return self.root / "split.json"

    @property
    def train(self) -> Path:
        return self.root / "train.json"

    @property
    def validation(self) -> Path:
        return self.root / "validation" / "summary.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def monitor(self) -> Path:
        return self.root / "monitor.json"
