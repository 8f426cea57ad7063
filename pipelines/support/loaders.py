"""Read the trained model's files (named in :mod:`pipelines.support.artifacts`) into objects."""

from __future__ import annotations

import lightgbm as lgb

from creditrisk.models.calibration import Calibrator
from creditrisk.models.matrix import FeatureSpec
from creditrisk.models.scorecard import ScorecardTable
from pipelines.support.artifacts import CalibrationDir, ModelsDir, read_json


def read_booster(models: ModelsDir) -> lgb.Booster:
    return lgb.Booster(model_file=str(models.lightgbm))


def read_spec(models: ModelsDir) -> FeatureSpec:
    return FeatureSpec.from_dict(read_json(models.feature_spec))


def read_scorecard(models: ModelsDir) -> ScorecardTable:
    return ScorecardTable.from_dict(read_json(models.scorecard))


def read_calibrator(calibration: CalibrationDir) -> Calibrator:
    return Calibrator.from_dict(read_json(calibration.calibrator))
