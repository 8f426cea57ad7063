"""Typed view of params.yaml: one frozen model per section; unknown keys fail by name."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The rule, limit and grouping schemas are leaf modules of plain data (creditrisk.schemas):
# params.yaml is validated straight into them, and no stage depends on the code applying them.
from creditrisk.features.reasons import REASON_GROUPS
from creditrisk.schemas.fairness import AttributeGrouping
from creditrisk.schemas.policy import FormulaLimits, LimitKind, ModelLimits, RatingRule
from creditrisk.schemas.warnings import CureRule, TriggerSettings, WarningRule

PARAMS_FILE = Path("params.yaml")
# The generate stage's output: data.source names it to run on the synthetic history.
SYNTHETIC_SOURCE = "data/synthetic/raw"
TABLE_NAMES = ("customers", "transactions", "loans", "repayments", "outcomes")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    # The folder ingest reads (a DVC dependency of ingest through dvc.yaml's templating):
    # the synthetic history (the default) or a folder of exports.
    source: str = SYNTHETIC_SOURCE
    end_date: date
    files: dict[str, str] = Field(default_factory=dict)
    columns: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Per table, contract columns the source lacks: {row_number: prefix}, {constant: v}
    # or {from: column, map: {source value: value}} (see creditrisk.ingest.derive_columns).
    derive: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # Per table, the only columns kept (after mapping and deriving); default: all.
    select: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_tables(self) -> DataParams:
        for field in ("files", "columns", "derive", "select"):
            unknown = set(getattr(self, field)) - set(TABLE_NAMES)
            if unknown:
                raise ValueError(
                    f"data.{field} names unknown table(s) {sorted(unknown)}; "
                    f"tables are {list(TABLE_NAMES)}"
                )
        return self

    @model_validator(mode="after")
    def _source_is_a_folder(self) -> DataParams:
        if self.source.strip() in ("", "synthetic"):
            raise ValueError(
                f"data.source must name a folder: {SYNTHETIC_SOURCE} for the synthetic "
                "history, or the folder holding your export"
            )
        return self

    @property
    def is_synthetic(self) -> bool:
        """Whether the source is the generate stage's synthetic history."""
        return Path(self.source) == Path(SYNTHETIC_SOURCE)


class LabelParams(_Section):
    dpd_threshold_days: int = Field(90, gt=0)
    horizon_months: int = Field(12, gt=0)


class StressParams(_Section):
    start: date
    end: date
    intensity: float = Field(1.0, ge=0)
    regions: tuple[Literal["north", "south", "east", "west", "central"], ...] = ()
    segments: tuple[Literal["salaried", "self_employed", "student", "retired"], ...] = ()


class GenerateParams(_Section):
    seed: int
    n_customers: int = Field(gt=0)
    start_date: date
    stress: StressParams


class ValidateParams(_Section):
    max_quarantine_share: float = Field(0.2, gt=0, le=1)
    n_examples: int = Field(5, gt=0)
    # A table with more rows is validated in batches of about this many (whole row groups).
    batch_rows: int = Field(2_000_000, gt=0)


class SparkParams(_Section):
    master: str = "local[2]"
    conf: dict[str, str] = Field(default_factory=dict)


class DuckDBParams(_Section):
    memory_limit: str = "3GB"
    threads: int = Field(2, gt=0)


class StaticReason(_Section):
    direction: Literal[1, -1]  # 1: more of it means more risk; -1: less risk
    reason: str = Field(min_length=8)  # the statement a customer reads
    # A reason group of creditrisk.features.reasons (its statement is shown); null: the
    # column is a group of its own and ``reason`` is shown.
    group: str | None = None

    @model_validator(mode="after")
    def _known_group(self) -> StaticReason:
        if self.group is not None and self.group not in REASON_GROUPS:
            raise ValueError(
                f"unknown reason group {self.group!r}; groups: {sorted(REASON_GROUPS)}"
            )
        return self


class FeatureParams(_Section):
    engine: Literal["duckdb", "spark"] = "duckdb"
    as_of_start: date
    as_of_end: date
    windows_days: tuple[int, ...] = (30, 90, 180, 365)
    static: tuple[str, ...] = ()
    # A numeric static column's risk direction and reason text: without one it is used by
    # the model but never given as a reason (and gets no monotone constraint).
    static_reasons: dict[str, StaticReason] = {}
    protected: tuple[str, ...] = ()
    # Snapshots (customers x as_of dates) computed per batch: bounds memory at any size.
    max_snapshots_per_batch: int = Field(500_000, gt=0)
    duckdb: DuckDBParams = Field(default_factory=lambda: DuckDBParams())
    spark: SparkParams = Field(default_factory=SparkParams)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureParams:
        if self.as_of_end < self.as_of_start:
            raise ValueError("as_of_end is before as_of_start")
        leaked = sorted(set(self.static) & set(self.protected))
        if leaked:
            raise ValueError(f"protected attribute(s) {leaked} cannot be static features")
        return self

    def as_of_dates(self) -> list[date]:
        """First day of every month from as_of_start to as_of_end."""
        first = date(self.as_of_start.year, self.as_of_start.month, 1)
        out, current = [], first
        while current <= self.as_of_end:
            if current >= self.as_of_start:
                out.append(current)
            year, month = divmod(current.month, 12)
            current = date(current.year + year, month + 1, 1)
        return out


class SplitShares(_Section):
    train: float = Field(gt=0)
    calibration: float = Field(gt=0)
    test: float = Field(gt=0)


class SplitParams(_Section):
    # Out-of-time periods set by hand; all three null: chosen from the data.
    train: tuple[date, date] | None = None
    calibration: tuple[date, date] | None = None
    test: tuple[date, date] | None = None
    random_shares: SplitShares
    seed: int

    def periods(self) -> dict[str, tuple[date, date]] | None:
        """The hand-set periods by split name, or None when they are chosen from the data."""
        if self.train is None or self.calibration is None or self.test is None:
            return None
        return {"train": self.train, "calibration": self.calibration, "test": self.test}

    @model_validator(mode="after")
    def _ordered(self) -> SplitParams:
        given = [p is not None for p in (self.train, self.calibration, self.test)]
        if any(given) and not all(given):
            raise ValueError(
                "split.train, split.calibration and split.test are set together, or all "
                "null (periods chosen from the data)"
            )
        if self.train is None or self.calibration is None or self.test is None:
            return self
        periods = [self.train, self.calibration, self.test]
        for name, (a, b) in zip(("train", "calibration", "test"), periods, strict=True):
            if b < a:
                raise ValueError(f"split.{name} ends before it starts")
        if not (self.train[1] < self.calibration[0] and self.calibration[1] < self.test[0]):
            raise ValueError("split periods must be successive: train, then calibration, then test")
        return self


class SearchParams(_Section):
    """Optuna search over the LightGBM hyper-parameters (off by default)."""

    enabled: bool = False
    n_trials: int = Field(30, gt=0)
    timeout_minutes: float = Field(30.0, gt=0)


class MonotoneCheckParams(_Section):
    rows: int = Field(300, gt=0)  # sampled training rows swept
    grid: int = Field(25, gt=1)  # points over each feature's range (quantiles)
    tolerance: float = Field(1e-9, ge=0)  # log-odds; smaller moves are float noise


class PruneParams(_Section):
    """Near-duplicate features dropped before training (see creditrisk.models.pruning)."""

    enabled: bool = True
    max_abs_corr: float = Field(0.98, gt=0, le=1)  # on the train period
    rows: int = Field(200_000, gt=0)  # sampled train rows for correlations and IV


class TrainParams(_Section):
    """LightGBM hyper-parameters (LightGBM's own names) and the training protocol."""

    exclude: tuple[str, ...] = ()
    monotone_constraints: bool = True
    # "advanced" can break the constraints it promises (LightGBM issues 5358 and 6155; the
    # train stage's sweep found it here too); "basic" and "intermediate" keep them.
    monotone_constraints_method: Literal["basic", "intermediate", "advanced"] = "intermediate"
    # Train on every default and a hash-drawn share of the goods, weighted, when the train
    # period has more rows than this (src/models/sampling.py); None: every row.
    max_rows: int | None = Field(None, gt=0)
    early_stopping_months: int = Field(2, gt=0)
    early_stopping_slice: Literal["first", "last"] = "last"
    early_stopping_rounds: int = Field(100, gt=0)
    num_boost_round: int = Field(3000, gt=0)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(7, gt=1)
    max_depth: int = 3
    min_data_in_leaf: int = Field(200, gt=0)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    num_threads: int = Field(2, gt=0)
    seed: int
    search: SearchParams = Field(default_factory=lambda: SearchParams())
    monotone_check: MonotoneCheckParams = Field(default_factory=lambda: MonotoneCheckParams())
    prune: PruneParams = Field(default_factory=lambda: PruneParams())

    def lightgbm_params(self) -> dict[str, float | int | str | bool]:
        """The LightGBM parameter dict (deterministic for the seed and thread count)."""
        keys = (
            "learning_rate",
            "num_leaves",
            "max_depth",
            "min_data_in_leaf",
            "feature_fraction",
            "bagging_fraction",
            "bagging_freq",
            "lambda_l2",
            "num_threads",
            "seed",
            "monotone_constraints_method",
        )
        return {k: getattr(self, k) for k in keys}


class ChallengerParams(_Section):
    """Weight-of-evidence scorecard (optbinning) trained beside LightGBM."""

    min_iv: float = Field(0.02, ge=0)
    max_n_prebins: int = Field(20, gt=1)
    min_prebin_size: float = Field(0.05, gt=0, lt=0.5)
    max_n_bins: int = Field(6, gt=1)
    monotonic_trend: str = "auto_asc_desc"
    # Candidates: the numeric features with the highest information value on the train
    # period (plus every categorical one), as a credit team's scorecard has.
    max_candidates: int = Field(30, gt=0)


class ScalingParams(_Section):
    """PDO scaling: ``base_points`` at odds (good:bad) ``base_odds``; +``pdo`` doubles them."""

    base_points: float = 600.0
    base_odds: float = Field(50.0, gt=0)
    pdo: float = Field(20.0, gt=0)


class GradeBand(_Section):
    """A grade; ``max_pd`` null makes it a rule-only grade (e.g. a whitelist grade S)."""

    grade: str
    max_pd: float | None = Field(default=None, gt=0, le=1)


class LimitParams(_Section):
    in_force: LimitKind = LimitKind.MODEL
    round_to: float = Field(50.0, ge=0)
    model: ModelLimits
    formula: FormulaLimits


class PolicyParams(_Section):
    reasons: int = Field(4, gt=0)
    income_column: str = "income_monthly"
    rating_rules: tuple[RatingRule, ...] = ()
    limits: LimitParams


class CalibrateParams(_Section):
    method: Literal["isotonic", "sigmoid"] = "sigmoid"


class GateParams(_Section):
    # Development performance: the calibration months nearest the test period that the
    # model was not fitted on (the early-stopping slice when it is at the last end, else
    # the months after it), or the train period itself (in sample, optimistic).
    development: Literal["calibration", "train"] = "calibration"
    max_auc_gap: float = Field(0.02, ge=0)
    max_ks_gap: float = Field(3.0, ge=0)  # KS points (0-100)
    max_score_psi: float = Field(0.25, ge=0)
    on_failure: Literal["error", "warn"] = "error"


class EvaluateParams(_Section):
    ece_bins: int = Field(10, gt=1)
    psi_bins: int = Field(10, gt=1)
    bootstrap: int = Field(200, ge=0)
    # Train-period rows measured (metrics, PSI bins): a uniform hash sample beyond this.
    train_rows: int = Field(1_000_000, gt=0)
    seed: int
    gate: GateParams = Field(default_factory=lambda: GateParams())


class ExplainParams(_Section):
    max_rows: int = Field(20000, gt=0)  # test rows explained (a seeded sample beyond this)
    plot_rows: int = Field(3000, gt=0)  # rows drawn in the beeswarm and dependence plots
    dependence_top: int = Field(4, ge=0)  # dependence plots of the most important features
    recourse_rows: int = Field(20000, gt=0)  # declined or limited test decisions searched
    additivity_tolerance: float = Field(1e-6, gt=0)  # log-odds
    seed: int = 0


class FairnessParams(_Section):
    # Overrides only: every attribute of features.protected is compared, grouped by its
    # type (text: categories; birth years and ages: the usual age bands; other numbers:
    # quartiles) unless named here.
    attributes: dict[str, AttributeGrouping] = {}
    approval_ratio_min: float = Field(0.8, gt=0, le=1)
    limit_ratio_min: float = Field(0.8, gt=0, le=1)
    auc_gap_max: float = Field(0.05, gt=0)
    min_group_size: int = Field(100, ge=1)


class ModelCardParams(_Section):
    purpose: str
    intended_use: str
    limitations: tuple[str, ...] = ()
    fairness: FairnessParams = Field(default_factory=lambda: FairnessParams())


class MonitorParams(_Section):
    as_of: date | None = None  # snapshot to monitor; null: the day after data.end_date
    previous_months: int = Field(1, ge=1)  # the snapshot compared with, months before
    # Reference population for PSI: snapshots with as_of in [from, to] of the labelled
    # periods; null: the train period.
    reference: tuple[date, date] | None = None
    # Reference snapshots beyond this are a sample drawn by a hash of (customer_id, as_of).
    reference_rows: int = Field(200_000, gt=0)
    seed: int = 0
    psi_bins: int = Field(10, gt=1)
    rules: tuple[WarningRule, ...] = ()
    # The action store (alerts, limit freezes, lifts, deliveries): a SQLAlchemy URL, or
    # null for the SQLite file actions.db in the stage's --actions folder (data/actions).
    store_url: str | None = None
    owner_column: str | None = None  # customers column naming each customer's owner
    cure: CureRule | None = None  # lifts a freeze when every condition holds
    triggers: TriggerSettings = Field(default_factory=TriggerSettings)

    @model_validator(mode="after")
    def _unique_names(self) -> MonitorParams:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"monitor.rules: names must be unique, repeated: {dupes}")
        return self


class PromotionParams(_Section):
    # A new version replaces the champion only when its test-period AUC is at most
    # max_auc_drop below the champion's and its ECE at most max_ece_increase above it.
    max_auc_drop: float = Field(0.005, ge=0)
    max_ece_increase: float = Field(0.005, ge=0)
    force: bool = False  # promote this run's version whatever the rule says...
    reason: str = ""  # ...for this reason (mandatory with force; a tag on the version)

    @model_validator(mode="after")
    def _reason_when_forced(self) -> PromotionParams:
        if self.force and not self.reason.strip():
            raise ValueError(
                "export.promotion.force is true but export.promotion.reason is empty: "
                "a forced promotion must say why"
            )
        return self


class ExportParams(_Section):
    promotion: PromotionParams = Field(default_factory=lambda: PromotionParams())


class StrategyParams(_Section):
    # PD cut-offs of reports/strategy/cutoffs.csv (the policy's own is always added)
    cutoffs: tuple[float, ...] = (
        0.005,
        0.01,
        0.02,
        0.03,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.5,
        1.0,
    )
    iv_rows: int = Field(100000, gt=0)  # train-period rows the information values use
    seed: int = 0


class RetentionParams(_Section):
    # Records older than this are deleted: decision log files by the date they were
    # logged; alerts and lifted limit actions by their monitoring date (active freezes
    # stay whatever their age).
    decision_log_days: int = Field(1825, gt=0)
    actions_days: int = Field(1825, gt=0)


class ScoreParams(_Section):
    as_of: date | None = None  # null: the day after data.end_date


class Params(_Section):
    data: DataParams
    labels: LabelParams
    generate: GenerateParams
    validate_: ValidateParams = Field(alias="validate")
    features: FeatureParams
    split: SplitParams
    train: TrainParams
    challenger: ChallengerParams = Field(default_factory=lambda: ChallengerParams())
    calibrate: CalibrateParams = Field(default_factory=lambda: CalibrateParams())
    evaluate: EvaluateParams
    scaling: ScalingParams = Field(default_factory=lambda: ScalingParams())
    grades: tuple[GradeBand, ...]
    policy: PolicyParams
    export: ExportParams = Field(default_factory=lambda: ExportParams())
    score: ScoreParams = Field(default_factory=lambda: ScoreParams())
    explain: ExplainParams = Field(default_factory=lambda: ExplainParams())
    monitor: MonitorParams = Field(default_factory=lambda: MonitorParams())
    retention: RetentionParams = Field(default_factory=lambda: RetentionParams())
    strategy: StrategyParams = Field(default_factory=lambda: StrategyParams())
    model_card: ModelCardParams

    @property
    def grade_bands(self) -> list[tuple[str, float]]:
        """(grade, max_pd) of the PD bands, best to worst (rule-only grades left out)."""
        return [(g.grade, g.max_pd) for g in self.grades if g.max_pd is not None]

    @model_validator(mode="after")
    def _fairness_on_protected(self) -> Params:
        unknown = set(self.model_card.fairness.attributes) - set(self.features.protected)
        if unknown:
            raise ValueError(
                f"model_card.fairness.attributes: {sorted(unknown)} are not listed in "
                "features.protected (fairness is judged on protected attributes only)"
            )
        return self

    @model_validator(mode="after")
    def _grades_ordered(self) -> Params:
        bounds = [b for _, b in self.grade_bands]
        if not bounds or bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("grades: max_pd must rise strictly from the best grade to the worst")
        if bounds[-1] != 1.0:
            raise ValueError("grades: the last (worst) grade must have max_pd 1.0")
        return self


class ParamsError(ValueError):
    """params.yaml is missing, unreadable, or does not match the typed sections."""


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Load and check params.yaml.

    Raises:
        ParamsError: with the offending key's dotted path, e.g. ``generate.n_custmers``.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(f"cannot read {path}: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            unknown = err["type"] in ("extra_forbidden", "unexpected_keyword_argument")
            what = "unknown key" if unknown else err["msg"]
            lines.append(f"  {key}: {what}")
        raise ParamsError(
            f"{path} does not match the expected sections:\n" + "\n".join(lines)
        ) from exc
