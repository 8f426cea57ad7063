"""Calibration of the model's raw margin into a default probability, stored as JSON.

Both calibrators map the uncalibrated margin (log-odds) to PD with a non-decreasing
function, so the ranking of customers, and of SHAP reasons, is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

import creditrisk.records as records

# PD is kept inside [PD_FLOOR, 1 - PD_FLOOR]: a calibrated 0 would promise a customer can
# never default and make log loss infinite.
PD_FLOOR = 1e-4


class Calibrator:
    """Margin -> PD. ``method`` is "isotonic" (piecewise-linear through the isotonic fit's
    thresholds) or "sigmoid" (Platt scaling: PD = expit(a * margin + b))."""

    def __init__(self, method: str = "isotonic") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on the calibration period's margins and 0/1 labels.

        Raises:
            ValueError: unknown method, or labels of a single class.
        """
        margin, y = np.asarray(margin, dtype="float64"), np.asarray(y, dtype="float64")
        if len(np.unique(y)) < 2:
            raise ValueError("calibration needs both defaults and non-defaults")
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=PD_FLOOR, y_max=1 - PD_FLOOR, out_of_bounds="clip")
            iso.fit(margin, y)
            self.x_ = np.asarray(iso.X_thresholds_, dtype="float64")
            self.y_ = np.asarray(iso.y_thresholds_, dtype="float64")
        elif self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin[:, None], y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        else:
            raise ValueError(f"unknown calibration method '{self.method}'")
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated PD for raw margins; non-decreasing in the margin."""
        margin = np.asarray(margin, dtype="float64")
        if self.method == "isotonic":
            pd_ = np.interp(margin, self.x_, self.y_)
        else:
            pd_ = expit(self.a_ * margin + self.b_)
        return np.asarray(
            np.clip(np.asarray(pd_, dtype="float64"), PD_FLOOR, 1 - PD_FLOOR), dtype="float64"
        )

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x_.tolist(), "y": self.y_.tolist()}
        return {"method": "sigmoid", "a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        cal = cls(str(data["method"]))
        if cal.method == "isotonic":
            cal.x_ = np.asarray(data["x"], dtype="float64")
            cal.y_ = np.asarray(data["y"], dtype="float64")
        elif cal.method == "sigmoid":
            cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        else:
            raise ValueError(f"unknown calibration method '{cal.method}'")
        return cal


@dataclass(frozen=True)
class CalibrationSummary:
    """``reports/calibration.json``: the calibration rows and the fit's effect on them."""

    method: str
    rows: int
    defaults: int
    default_rate: float
    mean_pd_raw: float
    mean_pd_calibrated: float
    ece_raw: float
    ece_calibrated: float

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)


def calibrate_margin(
    margin: np.ndarray, y: np.ndarray, *, method: str, ece_bins: int
) -> tuple[Calibrator, CalibrationSummary]:
    """Fit a calibrator on held-out margins and labels and summarise what it changed
    (mean PD and expected calibration error before and after)."""
    from creditrisk.models.metrics import expected_calibration_error

    calibrator = Calibrator(method).fit(margin, y)
    raw, calibrated = np.asarray(expit(margin), dtype="float64"), calibrator.predict(margin)
    summary = CalibrationSummary(
        method=method,
        rows=len(y),
        defaults=int(y.sum()),
        default_rate=float(y.mean()),
        mean_pd_raw=float(raw.mean()),
        mean_pd_calibrated=float(calibrated.mean()),
        ece_raw=expected_calibration_error(y, raw, bins=ece_bins),
        ece_calibrated=expected_calibration_error(y, calibrated, bins=ece_bins),
    )
    return calibrator, summary
