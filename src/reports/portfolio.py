"""Vintage curves and roll rates from the repayment history: how credit teams check a
default definition.

- :func:`vintage_curves`: per origination month of loans and month on book, the share of
  loans that have ever been 30+, 60+ and 90+ days past due by then (among the loans
  observed that long);
- :func:`roll_rates`: at every month start, each open loan's delinquency bucket (its
  oldest unpaid installment's days past due: current, 1-29, 30-59, 60-89, 90+), and the
  transitions from one month to the next;
- :func:`definition_check`: whether the label's threshold behaves like a default: the
  share of loans at the bucket below the threshold that roll into it the next month, the
  share at or beyond it that cure, and how much of the delinquency the vintages show by
  the label horizon.

Both run in DuckDB over the validated Parquet tables (no pandas copy of the history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

BUCKETS = ("current", "1-29", "30-59", "60-89", "90+")
THRESHOLDS = (30, 60, 90)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    return con


def vintage_curves(validated: Path, *, end_date: date, max_months: int = 36) -> pd.DataFrame:
    """Long table: cohort (origination month), months_on_book, loans observed that long,
    and the cumulative share ever 30+, 60+ and 90+ days past due."""
    loans, rep = validated / "loans.parquet", validated / "repayments.parquet"
    ever = ",\n".join(
        f"""min(CASE WHEN (r.paid_date IS NULL AND r.due_date + INTERVAL {t} DAY <= $end)
                   OR r.paid_date > r.due_date + INTERVAL {t} DAY
              THEN r.due_date + INTERVAL {t} DAY END) AS first_{t}"""
        for t in THRESHOLDS
    )
    rates = ",\n".join(
        f"avg(CASE WHEN first_{t} IS NOT NULL AND date_diff('month', cohort, first_{t}) "
        f"< m.mob THEN 1.0 ELSE 0.0 END) AS ever_{t}_plus"
        for t in THRESHOLDS
    )
    sql = f"""
    WITH firsts AS (
        SELECT l.loan_id, date_trunc('month', l.opened_at) AS cohort, {ever}
        FROM read_parquet('{loans}') l JOIN read_parquet('{rep}') r USING (loan_id)
        GROUP BY l.loan_id, cohort
    ), mobs AS (SELECT range AS mob FROM range(1, {max_months + 1}))
    SELECT cohort, m.mob AS months_on_book, count(*) AS loans, {rates}
    FROM firsts f, mobs m
    WHERE f.cohort + to_months(CAST(m.mob AS INTEGER)) <= $end
    GROUP BY cohort, m.mob
    ORDER BY cohort, m.mob
    """
    con = _connect()
    try:
        out = con.execute(sql, {"end": pd.Timestamp(end_date)}).df()
    finally:
        con.close()
    out["cohort"] = pd.to_datetime(out["cohort"]).dt.date
    return out


def _bucket_sql(dpd: str) -> str:
    return (
        f"CASE WHEN {dpd} <= 0 THEN 'current' WHEN {dpd} < 30 THEN '1-29' "
        f"WHEN {dpd} < 60 THEN '30-59' WHEN {dpd} < 90 THEN '60-89' ELSE '90+' END"
    )


def roll_rates(validated: Path, *, end_date: date) -> pd.DataFrame:
    """Transition matrix between delinquency buckets from one month start to the next:
    one row per (from, to) with the count and the share of the ``from`` bucket."""
    loans, rep = validated / "loans.parquet", validated / "repayments.parquet"
    sql = f"""
    WITH months AS (
        SELECT unnest(generate_series(
            date_trunc('month', (SELECT min(opened_at) FROM read_parquet('{loans}')))
                + INTERVAL 1 MONTH,
            CAST($end AS TIMESTAMP), INTERVAL 1 MONTH)) AS s
    ), span AS (
        SELECT loan_id, min(due_date) AS first_due, max(due_date) AS last_due,
               max(coalesce(paid_date, TIMESTAMP '9999-12-31')) AS last_paid
        FROM read_parquet('{rep}') GROUP BY loan_id
    ), open_loans AS (
        SELECT l.loan_id, m.s
        FROM read_parquet('{loans}') l JOIN span USING (loan_id), months m
        WHERE l.opened_at < m.s AND (m.s <= span.last_due OR m.s <= span.last_paid)
    ), status AS (
        SELECT o.loan_id, o.s,
               coalesce(max(CASE WHEN r.due_date < o.s
                                  AND (r.paid_date IS NULL OR r.paid_date >= o.s)
                            THEN date_diff('day', r.due_date, o.s) END), 0) AS dpd
        FROM open_loans o JOIN read_parquet('{rep}') r USING (loan_id)
        GROUP BY o.loan_id, o.s
    ), bucketed AS (
        SELECT loan_id, s, {_bucket_sql("dpd")} AS bucket FROM status
    )
    SELECT a.bucket AS from_bucket, b.bucket AS to_bucket, count(*) AS count
    FROM bucketed a JOIN bucketed b
      ON a.loan_id = b.loan_id AND b.s = a.s + INTERVAL 1 MONTH
    GROUP BY 1, 2
    """
    con = _connect()
    try:
        counts = con.execute(sql, {"end": pd.Timestamp(end_date)}).df()
    finally:
        con.close()
    grid = pd.MultiIndex.from_product([BUCKETS, BUCKETS], names=["from_bucket", "to_bucket"])
    table = counts.set_index(["from_bucket", "to_bucket"])["count"].reindex(grid, fill_value=0)
    out = table.reset_index()
    totals = out.groupby("from_bucket")["count"].transform("sum")
    out["share"] = (out["count"] / totals.where(totals > 0)).fillna(0.0)
    return out


@dataclass(frozen=True)
class DefinitionCheck:
    """Whether ``labels.dpd_threshold_days`` behaves like a default in this history."""

    threshold_days: int
    horizon_months: int
    roll_into_default: float | None  # share of the bucket below the threshold rolling in
    cure_from_default: float | None  # share at or beyond the threshold back to current
    vintage_share_by_horizon: float | None  # ever-threshold by horizon / by the longest mob
    consistent: bool
    statement: str


def definition_check(
    rolls: pd.DataFrame, vintage: pd.DataFrame, *, threshold_days: int, horizon_months: int
) -> DefinitionCheck:
    """Roll rates and vintages against the label's threshold (30, 60 or 90 days)."""
    order = list(BUCKETS)
    at = {30: "30-59", 60: "60-89", 90: "90+"}.get(threshold_days)
    if at is None:
        return DefinitionCheck(
            threshold_days, horizon_months, None, None, None, False,
            f"a threshold of {threshold_days} days is not a bucket edge (30, 60, 90): "
            "roll rates cannot judge it",
        )  # fmt: skip
    below = order[order.index(at) - 1]
    beyond = order[order.index(at) :]

    def share(frm: list[str], to: list[str]) -> float | None:
        part = rolls[rolls["from_bucket"].isin(frm)]
        total = part["count"].sum()
        return float(part.loc[part["to_bucket"].isin(to), "count"].sum() / total) if total else None

    roll = share([below], beyond)
    cure = share(beyond, ["current"])
    col = f"ever_{threshold_days}_plus"
    ratio, longest = None, 0
    if len(vintage):
        # the cohorts observed longest, so the comparison is within the same loans
        reach = vintage.groupby("cohort")["months_on_book"].max()
        longest = int(reach.max())
        full = vintage[vintage["cohort"].isin(reach[reach == longest].index)]
        by_mob = full.groupby("months_on_book")[col].mean()
        if longest > horizon_months and by_mob.loc[longest] > 0:
            ratio = float(by_mob.loc[horizon_months] / by_mob.loc[longest])
    consistent = roll is not None and cure is not None and roll >= 0.5 and cure <= 0.2
    text = (
        f"Of loans {below} days past due, {roll:.0%} reach {at} the next month"
        if roll is not None
        else f"No loan was {below} days past due"
    )
    text += (
        f"; of loans at {at} or worse, {cure:.0%} are current again the next month"
        if cure is not None
        else f"; no loan reached {at}"
    )
    if ratio is not None:
        text += (
            f". By {horizon_months} months on book the vintages show {ratio:.0%} of the "
            f"{threshold_days}+ rate the same loans reach by {longest} months"
        )
    text += (
        f". A {threshold_days}-day threshold is consistent with this history: loans that "
        "reach it rarely return."
        if consistent
        else f". A {threshold_days}-day threshold does not behave like a default here "
        "(a roll rate under 50% or a cure rate over 20%): review labels.dpd_threshold_days."
    )
    return DefinitionCheck(threshold_days, horizon_months, roll, cure, ratio, consistent, text)
