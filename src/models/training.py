"""Training of the LightGBM default model and the WoE scorecard challenger, with the
monotonicity sweep, as one function that returns everything the train stage writes."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import creditrisk.records as records
from creditrisk.governance.monotonicity import SweepResult, scorecard_trend, sweep_monotonicity
from creditrisk.models.lgbm import margin, search_lightgbm, train_lightgbm
from creditrisk.models.matrix import FeatureSpec, design_matrix, feature_spec
from creditrisk.models.pruning import information_value, prune_correlated
from creditrisk.models.sampling import TrainingSample, sample_weights, training_sample
from creditrisk.models.scorecard import ScorecardTable, fit_scorecard
from creditrisk.models.screening import Screening, screen_features
from creditrisk.models.slices import SlicePosition, calibration_roles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScorecardSettings:
    """optbinning's binning limits and the PDO scaling of the challenger's points."""

    min_iv: float
    max_n_prebins: int
    min_prebin_size: float
    max_n_bins: int
    monotonic_trend: str
    max_candidates: int
    base_points: float
    base_odds: float
    pdo: float


@dataclass(frozen=True)
class TrainingSettings:
    """How to train. ``lightgbm`` holds LightGBM's own parameters (seed and threads
    included); ``search_trials`` 0 means no Optuna search."""

    lightgbm: Mapping[str, Any]
    exclude: tuple[str, ...]
    monotone: bool
    early_stopping_months: int
    early_stopping_rounds: int
    early_stopping_slice: SlicePosition
    num_boost_round: int
    seed: int
    search_trials: int
    search_timeout_seconds: float
    check_rows: int
    check_grid: int
    check_tolerance: float
    scorecard: ScorecardSettings
    prune_max_abs_corr: float | None = None  # None: no pruning
    prune_rows: int = 200_000
    max_rows: int | None = None  # None: train on every row (sampling.training_sample)


@dataclass(frozen=True)
class TrainSummary:
    """``reports/train.json``."""

    best_iteration: int
    n_features: int
    n_monotone: int
    train_rows: int
    early_stopping_rows: int
    early_stopping_auc: float
    train_auc: float
    challenger_variables: int
    challenger_early_stopping_auc: float
    search_trials: int
    monotone_features_verified: int
    scorecard_trend_disagrees: int
    fit_seconds: float
    features_before_pruning: int
    features_pruned: int
    features_screened_out: int = 0  # null or constant on the train period (pruning.csv)
    scorecard_screened_out: int = 0  # kept for LightGBM, left out of the scorecard only
    # train.max_rows: the period's rows and defaults, the rows kept, the goods' share
    sample: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSummary:
        return records.from_dict(cls, data)


@dataclass(frozen=True)
class TrainingResult:
    """The fitted models and what the train stage reports about them."""

    booster: lgb.Booster
    spec: FeatureSpec
    scorecard: ScorecardTable
    lightgbm_params: dict[str, Any]
    trials: list[dict[str, Any]]
    sweeps: list[SweepResult]
    direction_review: pd.DataFrame
    summary: TrainSummary
    pruning: pd.DataFrame
    calibration_roles: pd.DataFrame  # slices.calibration_roles: what each row is for


@dataclass(frozen=True)
class EarlyStopping:
    """What each calibration row is for (:func:`~creditrisk.models.slices.calibration_roles`)
    and the early-stopping rows themselves, features and label: a caller holding a large
    calibration period reads its keys, decides the roles, then reads only those rows."""

    roles: pd.DataFrame
    rows: pd.DataFrame

    @staticmethod
    def roles_of(keys: pd.DataFrame, settings: TrainingSettings) -> pd.DataFrame:
        """The roles of the calibration rows from their keys (customer_id, as_of) alone."""
        return calibration_roles(
            keys,
            months=settings.early_stopping_months,
            seed=settings.seed,
            position=settings.early_stopping_slice,
        )

    @classmethod
    def of(cls, calibration: pd.DataFrame, settings: TrainingSettings) -> EarlyStopping:
        """From the whole calibration period in memory."""
        roles = cls.roles_of(calibration, settings)
        return cls(roles, calibration[roles["early_stopping"].to_numpy()])


def fit_models(
    train: pd.DataFrame,
    calibration: pd.DataFrame | EarlyStopping,
    dictionary: Mapping[str, Mapping[str, Any]],
    *,
    protected: tuple[str, ...],
    settings: TrainingSettings,
    drawn: TrainingSample | None = None,
) -> TrainingResult:
    """Fit LightGBM on the train period, early-stopping on the first or (default) last
    months of the calibration period (the rest is left to the calibrator; ``calibration``
    is the whole period, or its roles and early-stopping rows), and the challenger beside
    it;
    then sweep every constrained feature to verify the monotone constraints held.

    The sweep's verdicts are returned, not enforced: the caller writes the review and then
    calls :func:`creditrisk.governance.monotonicity.check_monotonicity`.

    ``drawn``: ``train`` is already the sample :func:`~creditrisk.models.sampling.sample_rows`
    drew from a larger period (read by row before the features were), this its summary;
    without it, ``train`` is the whole period and is sampled here when
    ``settings.max_rows`` says so.
    """
    s = settings
    if isinstance(calibration, pd.DataFrame):
        calibration = EarlyStopping.of(calibration, s)
    roles, valid = calibration.roles, calibration.rows
    if drawn is None:
        train, weight, sample = training_sample(train, max_rows=s.max_rows, seed=s.seed)
    else:
        weight, sample = sample_weights(train["default"].to_numpy(), drawn), drawn
    if sample.good_share < 1:
        log.info(
            "train.max_rows: training on %d of %d train-period rows (all %d defaults, %.2f%% "
            "of the goods, each weighted %.1f)",
            sample.rows_kept,
            sample.rows_in_period,
            sample.defaults_in_period,
            100 * sample.good_share,
            1 / sample.good_share,
        )
    spec = feature_spec(train, dictionary, exclude=(*s.exclude, *protected), monotone=s.monotone)
    before = len(spec.features)
    screening = screen_features(train, spec.features, train["default"].to_numpy())
    spec = _screened(spec, screening)
    spec, pruning = _prune(train, spec, s)
    pruning = _decisions(screening, pruning)
    X, y = design_matrix(train, spec, table="train"), train["default"].to_numpy()
    Xv, yv = design_matrix(valid, spec, table="calibration"), valid["default"].to_numpy()
    log.info(
        "training on %d rows (%d defaults), %d features (%d monotone); early stopping on %d "
        "calibration rows",
        len(X),
        int(y.sum()),
        len(spec.features),
        sum(1 for v in spec.monotone.values() if v),
        len(Xv),
    )
    started = time.perf_counter()
    params, trials = _hyper_parameters(X, y, Xv, yv, spec, s, weight)
    booster = train_lightgbm(
        X,
        y,
        weight=weight,
        X_valid=Xv,
        y_valid=yv,
        params=params,
        monotone=spec.monotone_vector(),
        num_boost_round=s.num_boost_round,
        early_stopping_rounds=s.early_stopping_rounds,
    )
    seconds = time.perf_counter() - started
    card = _challenger(X, y, weight, spec, s.scorecard, screening.scorecard_excluded, pruning)
    sweeps = sweep_monotonicity(
        lambda frame: booster.predict(frame, raw_score=True),
        X,
        spec.monotone,
        rows=s.check_rows,
        grid=s.check_grid,
        seed=s.seed,
        tolerance=s.check_tolerance,
    )
    review = direction_review(spec.monotone, dictionary, card, sweeps)
    summary = TrainSummary(
        best_iteration=int(booster.best_iteration),
        n_features=len(spec.features),
        n_monotone=sum(1 for v in spec.monotone.values() if v),
        train_rows=len(X),
        early_stopping_rows=len(Xv),
        early_stopping_auc=float(roc_auc_score(yv, margin(booster, Xv))),
        train_auc=float(roc_auc_score(y, margin(booster, X), sample_weight=weight)),
        challenger_variables=len(card.variables),
        challenger_early_stopping_auc=float(roc_auc_score(yv, card.predict_pd(Xv))),
        search_trials=len(trials),
        monotone_features_verified=len(sweeps),
        scorecard_trend_disagrees=int((review["agrees"] == "no").sum()),
        fit_seconds=round(seconds, 1),
        features_before_pruning=before,
        features_pruned=before - len(spec.features),
        features_screened_out=screening.dropped,
        scorecard_screened_out=len(screening.scorecard_excluded),
        sample=sample.to_dict(),
    )
    return TrainingResult(
        booster, spec, card, params, trials, sweeps, review, summary, pruning, roles
    )


class TrainingError(ValueError):
    """The training period leaves nothing to learn from."""


def _screened(spec: FeatureSpec, screening: Screening) -> FeatureSpec:
    """The spec without the features the screening dropped."""
    if not screening.models:
        raise TrainingError(
            "no usable feature: every feature is null or constant on the train period "
            f"({len(spec.features)} screened, e.g. {list(spec.features[:5])}). Check the "
            "export's history tables and features.static."
        )
    return _subset(spec, screening.models)


def _subset(spec: FeatureSpec, kept: tuple[str, ...] | list[str]) -> FeatureSpec:
    keep = set(kept)
    return FeatureSpec(
        features=tuple(f for f in spec.features if f in keep),
        categories={c: v for c, v in spec.categories.items() if c in keep},
        monotone={f: d for f, d in spec.monotone.items() if f in keep},
    )


PRUNING_COLUMNS = ["feature", "iv", "kept", "duplicate_of", "abs_corr"]


def _decisions(screening: Screening, pruning: pd.DataFrame) -> pd.DataFrame:
    """``pruning.csv``: one row per feature of the design, whether the models use it, the
    step that dropped it (screen or correlation) and why, the scorecard's own exclusions,
    and the IV and correlation of the near-duplicate rule."""
    out = screening.table.merge(
        pruning.rename(columns={"kept": "kept_corr"}), on="feature", how="left"
    )
    duplicate = out["kept_corr"].eq(False)
    card_reason = out["kept"] & out["reason"].ne("")
    out["stage"] = np.where(~out["kept"], "screen", np.where(duplicate, "correlation", ""))
    out["scorecard"] = out["kept"] & ~duplicate & ~card_reason
    out.loc[duplicate, "reason"] = "near duplicate of " + out.loc[duplicate, "duplicate_of"]
    out["kept"] = out["kept"] & ~duplicate
    columns = ["feature", "kept", "stage", "reason", "scorecard", "iv", "duplicate_of", "abs_corr"]
    return out[columns]


def _prune(
    train: pd.DataFrame, spec: FeatureSpec, s: TrainingSettings
) -> tuple[FeatureSpec, pd.DataFrame]:
    """The spec without the numeric features that duplicate a more informative one."""
    numeric = [f for f in spec.features if f not in spec.categories]
    if s.prune_max_abs_corr is None or len(numeric) < 2:
        return spec, pd.DataFrame(columns=PRUNING_COLUMNS)
    decision = prune_correlated(
        train,
        numeric,
        train["default"].to_numpy(dtype="float64"),
        max_abs_corr=s.prune_max_abs_corr,
        max_rows=s.prune_rows,
        seed=s.seed,
    )
    dropped = set(decision.loc[~decision["kept"], "feature"])
    log.info(
        "pruned %d of %d numeric features (|corr| > %g with a more informative one)",
        len(dropped),
        len(numeric),
        s.prune_max_abs_corr,
    )
    return _subset(spec, [f for f in spec.features if f not in dropped]), decision


def _hyper_parameters(
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    spec: FeatureSpec,
    s: TrainingSettings,
    weight: np.ndarray,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The LightGBM parameters: as given, or the best of an Optuna search."""
    if not s.search_trials:
        return dict(s.lightgbm), []
    log.info("Optuna search: up to %d trials", s.search_trials)
    return search_lightgbm(
        X,
        y,
        weight=weight,
        X_valid=Xv,
        y_valid=yv,
        params=s.lightgbm,
        monotone=spec.monotone_vector(),
        num_boost_round=s.num_boost_round,
        early_stopping_rounds=s.early_stopping_rounds,
        n_trials=s.search_trials,
        timeout_seconds=s.search_timeout_seconds,
        seed=s.seed,
    )


def _challenger(
    X: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray,
    spec: FeatureSpec,
    c: ScorecardSettings,
    excluded: tuple[str, ...],
    decisions: pd.DataFrame,
) -> ScorecardTable:
    names = _candidates(
        X, y, spec, [f for f in X.columns if f not in excluded], c.max_candidates, decisions
    )
    log.info("fitting the challenger scorecard on %d candidate variables", len(names))
    options = {k: v for k, v in dataclasses.asdict(c).items() if k != "max_candidates"}
    with warnings.catch_warnings():
        # optbinning 1.0 uses pandas idioms pandas 3 deprecates; not the user's concern.
        warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning, module="optbinning")
        categorical = [f for f in spec.categories if f in names]
        return fit_scorecard(X[names], y, weight, categorical=categorical, **options)


def _candidates(
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    names: list[str],
    limit: int,
    decisions: pd.DataFrame,
) -> list[str]:
    """The scorecard's candidates in model order: every categorical feature and the
    ``limit`` numeric ones of highest information value (the pruning's, computed on the
    train period; ties by name)."""
    numeric = [f for f in names if f not in spec.categories]
    if len(numeric) <= limit:
        return names
    known = dict(zip(decisions["feature"], decisions["iv"], strict=True))
    iv = {f: known.get(f, np.nan) for f in numeric}
    for f in [f for f, v in iv.items() if not np.isfinite(v)]:
        iv[f] = information_value(X[f], np.asarray(y, dtype="float64"))
    best = set(sorted(numeric, key=lambda f: (-iv[f], f))[:limit])
    return [f for f in names if f in spec.categories or f in best]


def direction_review(
    monotone: Mapping[str, int],
    dictionary: Mapping[str, Mapping[str, Any]],
    card: ScorecardTable,
    sweeps: list[SweepResult],
) -> pd.DataFrame:
    """Per feature: the dictionary's declared direction, the event-rate trend the
    challenger's binning found (a proposal for review), and the sweep's verdict."""
    trends = {
        v.name: scorecard_trend(v.event_rate) for v in card.variables if v.kind == "numerical"
    }
    verdict = {r.feature: ("verified" if r.ok else "VIOLATED") for r in sweeps}
    rows = []
    for name, constrained in monotone.items():
        declared = int(dictionary.get(name, {}).get("direction", 0))
        trend = trends.get(name)
        agrees = (
            "n/a"
            if trend is None or trend == 0 or declared == 0
            else ("yes" if trend == declared else "no")
        )
        rows.append(
            {
                "feature": name,
                "declared_direction": declared,
                "constrained": int(constrained),
                "scorecard_trend": trend if trend is not None else "",
                "agrees": agrees,
                "sweep": verdict.get(name, "not constrained"),
            }
        )
    return pd.DataFrame(rows)
