"""Out-of-time evaluation of the calibrated model beside the challenger scorecard.

:func:`evaluate_model` scores every split period and returns an :class:`Evaluation`: the
typed :class:`EvaluationReport` (written as ``reports/metrics.json`` and read back by the
model card), the per-row predictions, and the tables behind the reports and plots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import creditrisk.records as records
from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.features.split import SPLITS
from creditrisk.governance.gate import GateThresholds, gate_failures
from creditrisk.models import metrics as mx
from creditrisk.models.calibration import Calibrator
from creditrisk.models.lgbm import margin
from creditrisk.models.matrix import FeatureSpec, design_matrix
from creditrisk.models.scorecard import ScorecardTable
from creditrisk.models.slices import role_mask


@dataclass(frozen=True)
class ClassificationMetrics:
    """Discrimination and calibration of PDs on one period (KS in points, 0-100)."""

    n: int
    default_rate: float
    mean_pd: float
    auc: float
    gini: float
    ks: float
    brier: float
    log_loss: float
    ece: float
    auc_ci_low: float | None = None  # bootstrap 95% interval, when resamples were asked for
    auc_ci_high: float | None = None


@dataclass(frozen=True)
class ChallengerMetrics:
    test: ClassificationMetrics


@dataclass(frozen=True)
class Gap:
    """Development minus test: AUC (absolute) and KS (points)."""

    auc: float
    ks: float


@dataclass(frozen=True)
class OracleMetrics:
    """The synthetic generator's true PD on the test rows it covers, beside the model's."""

    auc: float
    model_auc_same_rows: float
    coverage: float
    mean_true_pd: float


@dataclass(frozen=True)
class OracleReport:
    test: OracleMetrics


@dataclass(frozen=True)
class GroupCalibration:
    """Observed against predicted default rate in a group, with the 95% Wilson interval."""

    n: int
    defaults: int
    mean_pd: float
    observed_rate: float
    ci_low: float
    ci_high: float
    pd_within_ci: bool


@dataclass(frozen=True)
class PsiSummary:
    score: float
    max_feature: float
    features_above_0_25: int


@dataclass(frozen=True)
class MonthlyPsiSummary:
    months: int
    score_max: float


@dataclass(frozen=True)
class GradeOutcome:
    count: int
    observed_rate: float | None


@dataclass(frozen=True)
class GateVerdict:
    """The out-of-time gate: development period against test."""

    passed: bool
    development: str
    development_rows: int
    development_auc: float
    development_ks: float
    auc_gap: float
    ks_gap: float
    failures: tuple[str, ...]
    on_failure: str
    # bootstrap 95% intervals of the drops (development and test resampled independently)
    auc_gap_interval: tuple[float, float] | None = None
    ks_gap_interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class EvaluationReport:
    """``reports/metrics.json``: what the evaluate stage measured."""

    split_kind: str
    train: ClassificationMetrics
    calibration: ClassificationMetrics
    test: ClassificationMetrics
    challenger: ChallengerMetrics
    development_gap: Gap
    calibration_by_grade: dict[str, GroupCalibration]
    calibration_by_decile: dict[str, GroupCalibration]
    psi_by_month: MonthlyPsiSummary
    psi: PsiSummary
    grades: dict[str, GradeOutcome]
    gate: GateVerdict
    oracle: OracleReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        return records.from_dict(cls, data)


@dataclass(frozen=True)
class EvaluationSettings:
    """How to evaluate: bins, bootstrap, grade bands, score scaling and the gate."""

    ece_bins: int
    psi_bins: int
    bootstrap: int
    seed: int
    bands: tuple[tuple[str, float], ...]
    base_points: float
    base_odds: float
    pdo: float
    gate: GateThresholds
    gate_development: str
    gate_on_failure: str


@dataclass(frozen=True)
class Evaluation:
    """The report, per-row predictions of every period, the report tables (one CSV each
    under ``reports/evaluate``) and the curve data behind the plots."""

    report: EvaluationReport
    predictions: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    curves: Mapping[str, pd.DataFrame]

    @property
    def test(self) -> pd.DataFrame:
        return self.predictions[self.predictions["split"] == "test"]


@dataclass(frozen=True)
class FittedModels:
    """What the evaluation scores with: the booster, its calibrator and the challenger."""

    booster: lgb.Booster
    calibrator: Calibrator
    scorecard: ScorecardTable
    spec: FeatureSpec


def evaluate_model(
    read: Callable[[str], pd.DataFrame | Iterable[pd.DataFrame]],
    models: FittedModels,
    *,
    split_kind: str,
    settings: EvaluationSettings,
    calibration_roles: pd.DataFrame,
    truth: pd.DataFrame | None = None,
) -> Evaluation:
    """Score the train, calibration and test periods and measure the model on them.

    Args:
        read: reads a period (:data:`SPLITS`) of feature rows with labels by name, as
            one frame or in batches (the train period as one frame: its PSI bins); each
            is read once, in turn, and only its predictions are kept (one batch's
            features in memory at a time).
        models: the fitted booster, calibrator, challenger and feature spec.
        split_kind: ``out_of_time`` or ``random_by_customer`` (from the split stage).
        settings: bins, bootstrap, bands, scaling and gate thresholds.
        calibration_roles: :func:`~creditrisk.models.slices.calibration_roles`, as the
            train stage chose them (the gate's development rows).
        truth: the synthetic generator's true PD per (customer_id, as_of), when known.
    """
    features = list(models.spec.features)
    parts, counts = [], _MonthlyCounts()
    refs: dict[str, mx.PsiReference] = {}
    test_counts: dict[str, np.ndarray] = {}
    for name in SPLITS:  # train first: its bins are the references
        got = read(name)
        batches = [got] if isinstance(got, pd.DataFrame) else got
        for k, frame in enumerate(batches):
            part = predict_period(frame, name, models, settings)
            if name == SPLITS[0]:
                if k:
                    raise ValueError("the train period must come as one frame (its PSI bins)")
                refs = psi_references(frame, part, features, bins=settings.psi_bins)
            counts.add(frame, part, refs)
            if name == "test":
                for f in features:
                    c = refs[f].counts(frame[f])
                    test_counts[f] = test_counts[f] + c if f in test_counts else c
            parts.append(part)
            del frame
    preds = pd.concat(parts, ignore_index=True)
    test = preds[preds["split"] == "test"]
    y, pd_test = test["default"].to_numpy(), test["pd"].to_numpy()
    period = {name: _period_metrics(preds, name, settings) for name in SPLITS}
    challenger = _with_interval(
        mx.classification_metrics(y, test["challenger_pd"].to_numpy(), ece_bins=settings.ece_bins),
        y,
        test["challenger_pd"].to_numpy(),
        settings,
    )
    by_grade = mx.calibration_by_group(y, pd_test, test["grade"].to_numpy())
    by_decile = mx.calibration_by_group(y, pd_test, mx.decile_groups(pd_test))
    by_month = counts.table(refs)
    psi_table = stability(test["score"], test_counts, refs, features)
    tables = {
        "gains_lightgbm": mx.gains_table(y, pd_test),
        "gains_challenger": mx.gains_table(y, test["challenger_pd"].to_numpy()),
        "pd_bands": mx.pd_band_table(y, pd_test, bands=settings.bands),
        "calibration": mx.calibration_table(y, pd_test, bins=settings.ece_bins),
        "psi": psi_table,
        "calibration_by_grade": by_grade,
        "calibration_by_decile": by_decile,
        "psi_by_month": by_month,
    }
    psi = _psi_summary(psi_table)
    report = EvaluationReport(
        split_kind=split_kind,
        train=period["train"],
        calibration=period["calibration"],
        test=period["test"],
        challenger=ChallengerMetrics(test=challenger),
        development_gap=_gap(period["train"], period["test"]),
        calibration_by_grade=_groups(by_grade),
        calibration_by_decile=_groups(by_decile),
        psi_by_month=_monthly_summary(by_month),
        psi=psi,
        grades=_grade_outcomes(tables["pd_bands"]),
        gate=_gate(preds, period["test"], psi.score, settings, calibration_roles),
        oracle=None if truth is None else OracleReport(test=oracle_metrics(test, truth)),
    )
    return Evaluation(report, preds, tables, _curves(test, tables, settings))


def predict_period(
    frame: pd.DataFrame, name: str, models: FittedModels, settings: EvaluationSettings
) -> pd.DataFrame:
    """Margin, calibrated PD, score, grade and the challenger's PD and points per row."""
    X = design_matrix(frame, models.spec, table=name)
    m = margin(models.booster, X)
    pd_ = models.calibrator.predict(m)
    challenger_pd, challenger_points = models.scorecard.score(X)
    s = settings
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "as_of": frame["as_of"].to_numpy(),
            "split": name,
            "default": frame["default"].to_numpy(dtype="float64"),
            "margin": m,
            "pd": pd_,
            "score": mx.score_points(
                pd_, base_points=s.base_points, base_odds=s.base_odds, pdo=s.pdo
            ),
            "grade": mx.assign_grades(pd_, bands=s.bands),
            "challenger_pd": challenger_pd,
            "challenger_points": challenger_points,
        }
    )


def psi_references(
    train: pd.DataFrame, preds: pd.DataFrame, features: list[str], *, bins: int
) -> dict[str, mx.PsiReference]:
    """The train period's PSI bins of the score and of every feature, computed once."""
    refs = {"score": mx.PsiReference(preds.loc[preds["split"] == "train", "score"], bins=bins)}
    refs.update({f: mx.PsiReference(train[f], bins=bins) for f in features})
    return refs


class _MonthlyCounts:
    """Per as_of month, the bin counts of the score and of every feature, summed over
    the periods as they are read (a month may be in several periods: random splits)."""

    def __init__(self) -> None:
        self.by_month: dict[Any, dict[str, np.ndarray]] = {}

    def add(
        self, frame: pd.DataFrame, preds: pd.DataFrame, refs: Mapping[str, mx.PsiReference]
    ) -> None:
        scores = dict(tuple(preds.groupby("as_of", sort=True)["score"]))
        for month, part in frame.groupby("as_of", sort=True):
            found = {"score": refs["score"].counts(scores[month])}
            found.update({f: r.counts(part[f]) for f, r in refs.items() if f != "score"})
            into = self.by_month.setdefault(month, {})
            for variable, c in found.items():
                into[variable] = into[variable] + c if variable in into else c

    def table(self, refs: Mapping[str, mx.PsiReference]) -> pd.DataFrame:
        """PSI of the score and of every feature per month against the train period
        (long format: as_of, variable, psi)."""
        out = [
            {"as_of": month, "variable": v, "psi": refs[v].psi_of_counts(c)}
            for month in sorted(self.by_month)
            for v, c in self.by_month[month].items()
        ]
        return pd.DataFrame(out, columns=["as_of", "variable", "psi"])


def stability(
    test_scores: pd.Series,
    test_counts: Mapping[str, np.ndarray],
    refs: Mapping[str, mx.PsiReference],
    features: list[str],
) -> pd.DataFrame:
    """PSI of the score and of every feature, test period against train period (the
    features' bin counts summed over the test period's batches)."""
    rows = [{"variable": "score", "psi": refs["score"].psi(test_scores)}]
    none = {f: np.zeros_like(refs[f].expected_counts) for f in features}  # an empty test
    rows += [
        {"variable": f, "psi": refs[f].psi_of_counts(test_counts.get(f, none[f]))} for f in features
    ]
    return pd.DataFrame(rows)


def oracle_metrics(test: pd.DataFrame, truth: pd.DataFrame) -> OracleMetrics:
    """AUC of the generator's true PD on the test rows it covers, beside the model's."""
    t = truth.assign(as_of=truth["as_of"].astype("datetime64[us]"))
    keyed = test.assign(as_of=test["as_of"].astype("datetime64[us]"))
    m = keyed.merge(t, on=list(SNAPSHOT_KEY), how="inner")
    y = m["default"].to_numpy()
    return OracleMetrics(
        auc=float(roc_auc_score(y, m["true_pd"])),
        model_auc_same_rows=float(roc_auc_score(y, m["pd"])),
        coverage=len(m) / max(len(test), 1),
        mean_true_pd=float(m["true_pd"].mean()),
    )


def _period_metrics(
    preds: pd.DataFrame, name: str, settings: EvaluationSettings
) -> ClassificationMetrics:
    part = preds[preds["split"] == name]
    y, pd_ = part["default"].to_numpy(), part["pd"].to_numpy()
    values = mx.classification_metrics(y, pd_, ece_bins=settings.ece_bins)
    if name != "test":
        return ClassificationMetrics(**values)  # type: ignore[arg-type]
    return _with_interval(values, y, pd_, settings)


def _with_interval(
    values: Mapping[str, float], y: np.ndarray, score: np.ndarray, settings: EvaluationSettings
) -> ClassificationMetrics:
    interval: dict[str, float] = {}
    if settings.bootstrap:
        lo, hi = mx.bootstrap_auc(y, score, n=settings.bootstrap, seed=settings.seed)
        interval = {"auc_ci_low": lo, "auc_ci_high": hi}
    return ClassificationMetrics(**values, **interval)  # type: ignore[arg-type]


def _gap(development: ClassificationMetrics, test: ClassificationMetrics) -> Gap:
    return Gap(auc=development.auc - test.auc, ks=development.ks - test.ks)


def _groups(table: pd.DataFrame) -> dict[str, GroupCalibration]:
    out = {}
    for row in table.to_dict("records"):
        out[str(row["group"])] = GroupCalibration(
            n=int(row["n"]),
            defaults=int(row["defaults"]),
            mean_pd=float(row["mean_pd"]),
            observed_rate=float(row["observed_rate"]),
            ci_low=float(row["ci_low"]),
            ci_high=float(row["ci_high"]),
            pd_within_ci=bool(row["pd_within_ci"]),
        )
    return out


def _monthly_summary(by_month: pd.DataFrame) -> MonthlyPsiSummary:
    return MonthlyPsiSummary(
        months=int(by_month["as_of"].nunique()),
        score_max=float(by_month.loc[by_month["variable"] == "score", "psi"].max()),
    )


def _psi_summary(table: pd.DataFrame) -> PsiSummary:
    features = table["variable"] != "score"
    return PsiSummary(
        score=float(table.loc[~features, "psi"].iloc[0]),
        max_feature=float(table.loc[features, "psi"].max()),
        features_above_0_25=int((features & (table["psi"] > 0.25)).sum()),
    )


def _grade_outcomes(table: pd.DataFrame) -> dict[str, GradeOutcome]:
    return {
        str(row["grade"]): GradeOutcome(count=int(row["count"]), observed_rate=row["observed_rate"])
        for row in table.to_dict("records")
    }


def _gate(
    preds: pd.DataFrame,
    test: ClassificationMetrics,
    score_psi: float,
    settings: EvaluationSettings,
    roles: pd.DataFrame,
) -> GateVerdict:
    dev_rows = development_rows(preds, settings, roles)
    y, pd_ = dev_rows["default"].to_numpy(), dev_rows["pd"].to_numpy()
    dev = {"auc": float(roc_auc_score(y, pd_)), "ks": 100 * mx.ks_statistic(y, pd_)}
    intervals = _drop_intervals(preds, dev_rows, settings)
    failures = gate_failures(
        dev, {"auc": test.auc, "ks": test.ks}, score_psi, settings.gate, intervals
    )
    return GateVerdict(
        passed=not failures,
        development=settings.gate_development,
        development_rows=len(dev_rows),
        development_auc=dev["auc"],
        development_ks=dev["ks"],
        auc_gap=dev["auc"] - test.auc,
        ks_gap=dev["ks"] - test.ks,
        auc_gap_interval=intervals.get("auc"),
        ks_gap_interval=intervals.get("ks"),
        failures=tuple(failures),
        on_failure=settings.gate_on_failure,
    )


def _drop_intervals(
    preds: pd.DataFrame, dev_rows: pd.DataFrame, settings: EvaluationSettings
) -> dict[str, tuple[float, float]]:
    """Bootstrap 95% intervals of the AUC and KS drops from development to test."""
    if not settings.bootstrap:
        return {}
    test = preds[preds["split"] == "test"]
    n, seed = settings.bootstrap, settings.seed
    dev_auc, dev_ks = mx.bootstrap_auc_ks(
        dev_rows["default"].to_numpy(), dev_rows["pd"].to_numpy(), n=n, seed=seed
    )
    test_auc, test_ks = mx.bootstrap_auc_ks(
        test["default"].to_numpy(), test["pd"].to_numpy(), n=n, seed=seed + 1
    )
    k = min(len(dev_auc), len(test_auc))
    out = {}
    for name, gaps in (("auc", dev_auc[:k] - test_auc[:k]), ("ks", dev_ks[:k] - test_ks[:k])):
        lo, hi = np.quantile(gaps, [0.025, 0.975])
        out[name] = (float(lo), float(hi))
    return out


def development_rows(
    preds: pd.DataFrame, settings: EvaluationSettings, roles: pd.DataFrame
) -> pd.DataFrame:
    """The rows the gate measures development performance on.

    ``calibration``: the calibration rows ``roles`` marks ``development`` (the months
    nearest the test period that the model was not fitted on; see
    :func:`~creditrisk.models.slices.development_mask`). Earlier months can belong to
    another regime (a stress period's tail) and would fail or pass the gate for that
    reason alone. ``train``: the train period.
    """
    part = preds[preds["split"] == settings.gate_development]
    if settings.gate_development != "calibration":
        return part
    return part[role_mask(part, roles, "development")]


def _curves(
    test: pd.DataFrame, tables: Mapping[str, pd.DataFrame], settings: EvaluationSettings
) -> dict[str, pd.DataFrame]:
    """Curve data for the plots: ROC of both models, KS, reliability of both, gains."""
    y = test["default"].to_numpy()
    lightgbm = mx.curve_points(y, test["pd"].to_numpy())
    challenger = mx.curve_points(y, test["challenger_pd"].to_numpy())
    ks = lightgbm.rename(columns={"tpr": "defaults", "fpr": "non_defaults"})
    gains = pd.DataFrame(
        {
            "population_share": tables["gains_lightgbm"]["cum_population"],
            "lightgbm": tables["gains_lightgbm"]["cum_defaults_captured"],
            "challenger": tables["gains_challenger"]["cum_defaults_captured"],
        }
    )
    return {
        "roc_lightgbm": lightgbm,
        "roc_challenger": challenger,
        "ks": ks[["population_share", "defaults", "non_defaults"]],
        "calibration": tables["calibration"],
        "calibration_challenger": mx.calibration_table(
            y, test["challenger_pd"].to_numpy(), bins=settings.ece_bins
        ),
        "gains": gains,
    }
