"""A lender-shaped export made from the synthetic history: the shape a real user brings.

The generator's history is cut at an extraction date (later events are unknown, later
payments show as unpaid), every date is moved into the past by a whole number of days, the
columns get a lender's own names, and an ``outcomes`` table gives one labelled snapshot per
customer, dated the day after the extraction date, as lenders export performance flags.
The labels come from the full history (what happened in the 12 months after the export),
computed by the pipeline's own label definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

# Contract column -> the lender's name for it, per table (the mapping a user writes in
# data.columns). Columns not listed keep their names.
LENDER_COLUMNS: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "cust_no",
        "created_at": "relationship_start",
        "income_monthly": "monthly_income",
        "birth_year": "year_of_birth",
    },
    "transactions": {
        "transaction_id": "txn_ref",
        "customer_id": "cust_no",
        "ts": "posted_at",
        "amount": "txn_amount",
    },
    "loans": {
        "loan_id": "account_no",
        "customer_id": "cust_no",
        "opened_at": "open_date",
        "principal": "credit_line",
        "n_installments": "term_months",
    },
    "repayments": {
        "loan_id": "account_no",
        "installment_no": "installment_seq",
        "due_date": "due_on",
        "amount_due": "bill_amount",
        "paid_date": "payment_date",
        "amount_paid": "payment_amount",
    },
    "outcomes": {"customer_id": "cust_no", "as_of": "snapshot_date", "default": "bad_flag"},
}

# The lender's file names (data.files).
LENDER_FILES = {
    "customers": "clients.csv",
    "transactions": "card_transactions.csv",
    "loans": "accounts.csv",
    "repayments": "statements.csv",
    "outcomes": "performance_flags.csv",
}

DATES = {
    "customers": ("created_at",),
    "transactions": ("ts",),
    "loans": ("opened_at",),
    "repayments": ("due_date", "paid_date"),
    "outcomes": ("as_of",),
}


def cut_at(raw: Mapping[str, pd.DataFrame], extraction: date) -> dict[str, pd.DataFrame]:
    """The history as known on ``extraction``: later customers, purchases and loans are
    absent; a payment made later is not yet made (one unpaid row for the installment)."""
    end = pd.Timestamp(extraction) + pd.Timedelta(days=1)
    customers = raw["customers"][raw["customers"]["created_at"] < end]
    transactions = raw["transactions"][raw["transactions"]["ts"] < end]
    loans = raw["loans"][raw["loans"]["opened_at"] < end]
    rep = raw["repayments"][raw["repayments"]["loan_id"].isin(loans["loan_id"])].copy()
    later = rep["paid_date"] >= end
    rep.loc[later, ["paid_date", "amount_paid"]] = None
    key = ["loan_id", "installment_no"]
    unpaid_row = rep["paid_date"].isna()
    has_payment = unpaid_row.groupby([rep[k] for k in key]).transform("min").eq(False)
    paid = rep[~unpaid_row]
    unpaid = rep[unpaid_row & ~has_payment].drop_duplicates(subset=key)  # one row each
    rep = pd.concat([paid, unpaid]).sort_values([*key, "paid_date"], kind="stable")
    return {
        "customers": customers.reset_index(drop=True),
        "transactions": transactions.reset_index(drop=True),
        "loans": loans.reset_index(drop=True),
        "repayments": rep.reset_index(drop=True),
    }


def lender_export(
    known: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    extraction: date,
    moved_to: date,
) -> dict[str, pd.DataFrame]:
    """The export: ``known`` (from :func:`cut_at`) plus ``labels`` (customer_id, default)
    as outcomes dated the day after ``extraction``, every date moved so that the
    extraction date becomes ``moved_to``, columns renamed to :data:`LENDER_COLUMNS`."""
    shift = pd.Timestamp(moved_to) - pd.Timestamp(extraction)
    outcomes = pd.DataFrame(
        {
            "customer_id": labels["customer_id"].to_numpy(),
            "as_of": pd.Timestamp(extraction) + pd.Timedelta(days=1),
            "default": labels["default"].astype("int64").to_numpy(),
        }
    )
    tables = {**known, "outcomes": outcomes}
    out = {}
    for name, frame in tables.items():
        moved = frame.copy()
        for column in DATES[name]:
            moved[column] = moved[column] + shift
        out[name] = moved.rename(columns=LENDER_COLUMNS[name])
    return out


EXTRACTION = date(2024, 11, 30)  # inside the generator's history, a year before its end
MOVED_TO = date(2005, 9, 30)  # where the export's dates end up: anywhere in the past


def build_lender_export(
    *, n_customers: int, seed: int, extraction: date = EXTRACTION, moved_to: date = MOVED_TO
) -> dict[str, pd.DataFrame]:
    """Generate a synthetic history to the end of 2025, label every customer performing
    on the day after ``extraction`` by what happened in the next 12 months (the
    pipeline's own label definition, 90 days past due), and export it as a lender would."""
    import ibis

    from creditrisk.features.build import build_features
    from creditrisk.features.labels import as_of_frame
    from creditrisk.features.settings import FeatureSettings
    from creditrisk.synthetic.generator import generate
    from creditrisk.synthetic.population import StressPeriod

    end = date(2025, 12, 31)
    chunks = list(
        generate(
            n_customers=n_customers,
            start=date(2021, 1, 1),
            end=end,
            stress=StressPeriod(date(2023, 4, 1), date(2023, 12, 31), 1.0, ("south",), ()),
            seed=seed,
            dpd_threshold_days=90,
            horizon_months=12,
        )
    )
    full = {
        name: pd.concat([c.raw_tables()[name] for c in chunks], ignore_index=True)
        for name in ("customers", "transactions", "loans", "repayments")
    }
    as_of = pd.Timestamp(extraction).date() + pd.Timedelta(days=1).to_pytimedelta()
    plan = build_features(
        {name: ibis.memtable(frame) for name, frame in full.items()},
        as_of_dates=ibis.memtable(as_of_frame([as_of], horizon_months=12)),
        settings=FeatureSettings(windows=(30,), dpd_threshold_days=90, end_date=end),
    )
    labelled = ibis.duckdb.connect().to_pandas(
        plan.table.select("customer_id", "default", "label_complete")
    )
    labels = labelled[labelled["label_complete"]][["customer_id", "default"]]
    return lender_export(cut_at(full, extraction), labels, extraction=extraction, moved_to=moved_to)
