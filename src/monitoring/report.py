"""One monitoring run: the latest snapshot scored against the previous one and the
reference population, with drift, grade migration and graded early warnings.

:func:`monitor_snapshot` returns a :class:`Monitoring` with the typed
:class:`MonitorReport` (``reports/monitor.json``), the tables behind the reports and the
alerts; nothing here reads or writes files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

import creditrisk.records as records
from creditrisk.models.scorer import TEXT, Scorer
from creditrisk.monitoring import drift
from creditrisk.monitoring import warnings as ew
from creditrisk.monitoring.backtest import Backtest, BacktestSummary, Trigger, retraining_triggers
from creditrisk.monitoring.signals import days_to_next_due
from creditrisk.schemas import warnings as sw
from creditrisk.schemas.rules import usable_rules
from creditrisk.schemas.warnings import TriggerSettings


@dataclass(frozen=True)
class ReferencePopulation:
    """The population drift is measured against: feature rows, their PDs and the as_of
    span they come from."""

    rows: pd.DataFrame
    pd: np.ndarray
    as_of_from: str
    as_of_to: str
    rows_in_span: int  # labelled snapshots in the span (``rows`` is a sample beyond the cap)


@dataclass(frozen=True)
class ReferenceInfo:
    as_of_from: str
    as_of_to: str
    rows: int  # the snapshots PSI is measured against (a seeded sample beyond the cap)
    rows_in_span: int | None = None  # labelled snapshots with as_of in the span


@dataclass(frozen=True)
class MonitorPsi:
    score: float
    features_above_0_25: int
    max_feature: float
    mean_feature: float


@dataclass(frozen=True)
class AlertSummary:
    """Customers per warning level (the highest that fired), in all, and frozen limits."""

    light: int
    medium: int
    severe: int
    total: int
    share: float
    frozen_limits: int


@dataclass(frozen=True)
class LastKnownRate:
    """The latest month whose outcomes are known: observed against predicted."""

    as_of: str
    observed_rate: float
    mean_pd: float
    observed_over_predicted: float


@dataclass(frozen=True)
class StoreSummary:
    """What this run did to the action store."""

    alerts_new: int
    alerts_already_recorded: int
    freezes_new: int
    freezes_lifted_by_cure: int
    freezes_active: int
    owner_column: str | None = None
    retention_removed: dict[str, int] | None = None


@dataclass(frozen=True)
class MonitorReport:
    """``reports/monitor.json``."""

    as_of: str
    previous_as_of: str
    model_version: str
    customers: int
    reference: ReferenceInfo
    psi: MonitorPsi
    mean_pd: float
    migration: dict[str, float]
    alerts: AlertSummary
    rules_fired: dict[str, int]
    rules_skipped: tuple[str, ...]
    default_rate_last_known: LastKnownRate | None = None
    backtest: BacktestSummary | None = None
    triggers: tuple[Trigger, ...] = ()
    retrain: bool = False  # a retraining trigger fired
    store: StoreSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorReport:
        return records.from_dict(cls, data)


@dataclass(frozen=True)
class Monitoring:
    """The report, its tables (CSI, default rate by month, migration matrix) and the
    alerts: one row per customer with a warning, most severe first."""

    report: MonitorReport
    stability: pd.DataFrame
    monthly: pd.DataFrame
    migration: pd.DataFrame
    alerts: pd.DataFrame
    signals: pd.DataFrame  # every customer at as_of: features, pd, grade and the signals


class MonitoringError(ValueError):
    """Nothing to monitor: no customer has a snapshot at the monitored date."""


def monitor_snapshot(
    now: pd.DataFrame,
    before: pd.DataFrame,
    *,
    scorer: Scorer,
    reference: ReferencePopulation,
    predictions: pd.DataFrame,
    loans: pd.DataFrame | None,
    repayments: pd.DataFrame | None,
    rules: Sequence[sw.WarningRule],
    as_of: date,
    previous: date,
    psi_bins: int,
    decided: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Monitoring:
    """Score the snapshot at ``as_of`` and the one at ``previous``, and measure drift,
    migration and early warnings.

    ``decided``: the scorer's decisions without reasons for ``now`` and ``before``, row
    for row, already made elsewhere (on Spark, by the exported model); else they are
    made here with ``scorer``.

    Rules that use a signal this data does not have are left out (named in the report).

    Raises:
        MonitoringError: no customer has a snapshot at ``as_of``.
    """
    if now.empty:
        raise MonitoringError(
            f"no customer has a snapshot at monitor.as_of {as_of}: is it after the data's "
            "start, and are there customers not yet in default?"
        )
    if decided is None:
        scored_now, scored_before = score_rows(scorer, now), score_rows(scorer, before)
    else:
        scored_now, scored_before = (
            with_as_of(d, r) for d, r in zip(decided, (now, before), strict=True)
        )
    features = list(scorer.spec.features)
    stability = drift.stability_table(reference.rows, now, features, bins=psi_bins)
    # Both sides from the raw margin (score_rows and the PD-only path agree to the bit):
    # PDs tie often (shallow trees), and a sum of SHAP contributions differs from the raw
    # margin in the last bit, which would move tied values across the bin edges.
    score_psi = drift.stability_table(
        pd.DataFrame({"pd": reference.pd}), scored_now[["pd"]], ["pd"], bins=psi_bins
    )["psi"].iloc[0]
    monthly = drift.default_rate_by_month(predictions)
    grades = list(scorer.policy.grades)
    joined = join_snapshots(scored_now, scored_before)
    matrix = drift.migration_matrix(joined["previous_grade"], joined["grade"], grades)
    signals = warning_signals(now, joined, loans, repayments, as_of=as_of, grades=grades)
    kept, skipped = usable_rules(rules, signals.columns)
    fired = ew.evaluate_warnings(signals, kept)
    alerts = alert_table(joined, fired, as_of)
    counts = ew.level_counts(alerts["level"])
    report = MonitorReport(
        as_of=str(as_of),
        previous_as_of=str(previous),
        model_version=scorer.model_version,
        customers=len(joined),
        reference=ReferenceInfo(
            reference.as_of_from, reference.as_of_to, len(reference.rows), reference.rows_in_span
        ),
        psi=MonitorPsi(
            score=float(score_psi),
            features_above_0_25=int((stability["psi"] > 0.25).sum()),
            max_feature=float(stability["psi"].max()) if len(stability) else 0.0,
            mean_feature=float(stability["psi"].mean()) if len(stability) else 0.0,
        ),
        mean_pd=float(scored_now["pd"].mean()),
        migration=drift.migration_summary(matrix),
        alerts=_alert_summary(counts, alerts, len(joined)),
        rules_fired={r.name: _times_fired(fired["rules"], r.name) for r in kept},
        rules_skipped=tuple(skipped),
        default_rate_last_known=_last_known(monthly),
    )
    return Monitoring(report, stability, monthly, matrix, alerts, signals)


def completed(
    result: Monitoring, tables: Backtest, stored: StoreSummary, triggers: TriggerSettings
) -> Monitoring:
    """The report with the backtest, the retraining triggers and what the action store
    recorded."""
    summary = tables.summary
    fired = retraining_triggers(result.report.psi.score, summary, triggers)
    report = dataclasses.replace(
        result.report,
        backtest=summary,
        triggers=fired,
        retrain=any(t.fired for t in fired),
        store=stored,
    )
    return dataclasses.replace(result, report=report)


def score_rows(scorer: Scorer, rows: pd.DataFrame) -> pd.DataFrame:
    """The scorer's decisions for feature rows, with their as_of: PDs, grades and limits,
    without reason codes (monitoring names none; the raw margin, as the PD-only path)."""
    if rows.empty:
        empty = scorer.score(rows.head(0))
        return empty.assign(as_of=pd.Series(dtype="datetime64[us]"))
    out = scorer.score(rows.reset_index(drop=True), reasons=False)
    out["as_of"] = rows["as_of"].to_numpy()
    return out


def with_as_of(decisions: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Decisions for feature rows (row for row) with the rows' as_of, as :func:`score_rows`
    gives them.

    Raises:
        ValueError: not one decision per row.
    """
    if len(decisions) != len(rows):
        raise ValueError(f"{len(decisions)} decisions for {len(rows)} feature rows")
    out = decisions.reset_index(drop=True)
    out["as_of"] = rows["as_of"].to_numpy() if len(rows) else np.array([], "datetime64[us]")
    return out


def pd_rows(
    scorer: Scorer, rows: pd.DataFrame, *, decided: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``as_of``, ``pd`` and ``grade`` of feature rows by the scorer's PD-only path (no
    reasons, no limits): for backtests and reference populations over whole periods.
    ``decided``: the rows' decisions (row for row) already made elsewhere (on Spark)."""
    as_of = rows["as_of"].to_numpy() if len(rows) else np.array([], "datetime64[us]")
    if decided is not None:
        d = with_as_of(decided, rows)
        return pd.DataFrame(
            {"as_of": as_of, "pd": d["pd"].to_numpy("float64"), "grade": d["grade"].astype(TEXT)}
        )
    grades = np.asarray(scorer.policy.grades, dtype=object)
    pd_, grade = scorer.pd_and_grade(rows.reset_index(drop=True))
    return pd.DataFrame({"as_of": as_of, "pd": pd_, "grade": pd.array(grades[grade], dtype=TEXT)})


def join_snapshots(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Each customer's decision now beside their PD, grade and limit at the previous
    snapshot (missing for customers new since then)."""
    prev = before[["customer_id", "pd", "grade", "credit_limit"]].rename(
        columns={
            "pd": "previous_pd",
            "grade": "previous_grade",
            "credit_limit": "previous_credit_limit",
        }
    )
    cols = ["customer_id", "as_of", "pd", "grade", "credit_limit", "limit_policy"]
    return now[cols].merge(prev, on="customer_id", how="left", validate="one_to_one")


def warning_signals(
    now: pd.DataFrame,
    joined: pd.DataFrame,
    loans: pd.DataFrame | None,
    repayments: pd.DataFrame | None,
    *,
    as_of: date,
    grades: Sequence[str],
) -> pd.DataFrame:
    """The signals early-warning rules can name: the model features, pd, previous_pd,
    pd_ratio, grade_change and days_to_next_due (missing without loans and repayments)."""
    signals = now.drop(columns=["as_of"]).merge(
        joined.drop(columns=["as_of"]), on="customer_id", how="right", validate="one_to_one"
    )
    signals["pd_ratio"] = signals["pd"] / signals["previous_pd"]
    signals["grade_change"] = ew.grade_change(signals["previous_grade"], signals["grade"], grades)
    if loans is None or repayments is None:
        signals["days_to_next_due"] = np.nan
        return signals
    due = days_to_next_due(loans, repayments, as_of=as_of)
    return signals.merge(due, left_on="customer_id", right_index=True, how="left")


def alert_table(joined: pd.DataFrame, fired: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per customer with a warning, most severe first, then by customer_id: the
    level, rules, actions, and the previous and new credit limit (0 where frozen)."""
    table = pd.concat([joined.reset_index(drop=True), fired.reset_index(drop=True)], axis=1)
    table = table[table["level"] != ""].copy()
    table["new_credit_limit"] = ew.new_limits(table["credit_limit"], table["actions"])
    table["as_of"] = pd.Timestamp(as_of)
    order = {lvl.value: i for i, lvl in enumerate(reversed(sw.LEVELS))}
    table = table.assign(_o=table["level"].map(order)).sort_values(["_o", "customer_id"])
    cols = [
        "customer_id",
        "as_of",
        "level",
        "rules",
        "actions",
        "previous_credit_limit",
        "new_credit_limit",
        "pd",
        "previous_pd",
        "grade",
        "previous_grade",
    ]
    return table[cols].rename(columns={"actions": "action"}).reset_index(drop=True)


def _times_fired(fired_rules: pd.Series, name: str) -> int:
    return int(fired_rules.str.split(",").map(lambda names: name in names).sum())


def _alert_summary(counts: Mapping[str, int], alerts: pd.DataFrame, customers: int) -> AlertSummary:
    total = int(sum(counts.values()))
    return AlertSummary(
        light=counts[sw.Level.LIGHT],
        medium=counts[sw.Level.MEDIUM],
        severe=counts[sw.Level.SEVERE],
        total=total,
        share=float(total / max(customers, 1)),
        frozen_limits=int(alerts["action"].str.contains(sw.FREEZE).sum()),
    )


def _last_known(monthly: pd.DataFrame) -> LastKnownRate | None:
    if monthly.empty:
        return None
    last = monthly.iloc[-1]
    return LastKnownRate(
        as_of=str(pd.Timestamp(last["as_of"]).date()),
        observed_rate=float(last["observed_rate"]),
        mean_pd=float(last["mean_pd"]),
        observed_over_predicted=float(last["observed_over_predicted"]),
    )


def reference_population(
    rows: pd.DataFrame,
    scorer: Scorer,
    *,
    span: tuple[pd.Timestamp, pd.Timestamp],
    rows_in_span: int,
) -> ReferencePopulation:
    """The reference population: labelled snapshots with as_of in ``span`` (``rows``, all
    of them or a sample of the ``rows_in_span``) with the scorer's PDs (the PD-only path).

    Raises:
        MonitoringError: the span holds no labelled snapshots.
    """
    lo, hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    if rows.empty:
        raise MonitoringError(
            f"monitor.reference {lo.date()}..{hi.date()} holds no labelled snapshots; choose "
            "dates inside the train, calibration or test periods"
        )
    pd_, _ = scorer.pd_and_grade(rows.reset_index(drop=True))
    return ReferencePopulation(
        rows=rows,
        pd=pd_,
        as_of_from=str(lo.date()),
        as_of_to=str(hi.date()),
        rows_in_span=rows_in_span,
    )
