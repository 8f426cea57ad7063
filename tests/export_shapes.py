"""Small random exports that meet the raw contract, in the shapes real lenders' exports
have: for the property-based test of the whole pipeline (tests/test_export_shapes.py).

An :class:`ExportShape` says what the export holds; :func:`random_export` draws one with
a seed. Every export is valid contract data, nothing more is promised: short histories,
one installment per loan, statements, several payments per installment, absent tables,
an empty column, a category that only the latest customers have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

History = Literal["none", "one_installment", "installments", "statements"]
Outcomes = Literal["one_date", "date_per_customer", "derived"]

START = pd.Timestamp("2021-01-01")
END = date(2023, 12, 31)  # the extraction date of every export
AS_OF_START, AS_OF_END = date(2021, 7, 1), date(2023, 12, 1)


@dataclass(frozen=True)
class ExportShape:
    """What a random export holds.

    Attributes:
        customers: number of customers.
        history: none (customers and outcomes only), one installment per loan, several
            installments per loan, or monthly statements of a revolving account.
        payments_per_installment: at most this many payment rows per installment.
        transactions: whether a purchases table is exported.
        outcomes: labels at one date, at one date per customer, or derived from the
            repayments (no outcomes table).
        null_column: a customers column listed as a static feature, null on every row.
        late_category: a static category only the customers of the latest outcomes have.
    """

    customers: int = 120
    history: History = "installments"
    payments_per_installment: int = 1
    transactions: bool = True
    outcomes: Outcomes = "one_date"
    null_column: bool = False
    late_category: bool = False

    @property
    def valid(self) -> bool:
        """Derived labels need repayments."""
        return not (self.outcomes == "derived" and self.history == "none")


def random_export(shape: ExportShape, seed: int) -> dict[str, pd.DataFrame]:
    """The tables of a random export of ``shape`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = shape.customers
    ids = np.array([f"K{i:05d}" for i in range(n)])
    risk = rng.normal(size=n)  # the latent risk drives lateness and outcomes alike
    created = START + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "created_at": created,
            "income_monthly": np.round(np.exp(7.5 - 0.3 * risk + rng.normal(0, 0.3, n)), 2),
            "region": rng.choice(["north", "south", "west"], n),
            "gender": rng.choice(["f", "m"], n),
        }
    )
    if shape.null_column:
        customers["bureau_score"] = np.nan
    tables: dict[str, pd.DataFrame] = {"customers": customers}
    if shape.transactions:
        tables["transactions"] = _transactions(rng, ids, created, risk)
    if shape.history != "none":
        tables["loans"], tables["repayments"] = _loans(rng, shape, ids, created, risk)
    if shape.outcomes != "derived":
        tables["outcomes"] = _outcomes(rng, shape, ids, risk)
    if shape.late_category and "outcomes" in tables:
        latest = tables["outcomes"].groupby("customer_id")["as_of"].max()
        late = latest[latest >= latest.quantile(0.85)].index
        customers.loc[customers["customer_id"].isin(late), "region"] = "new_region"
    return tables


def _transactions(
    rng: np.random.Generator, ids: np.ndarray, created: pd.DatetimeIndex, risk: np.ndarray
) -> pd.DataFrame:
    counts = rng.poisson(np.exp(2.5 - 0.3 * risk))
    who = np.repeat(np.arange(len(ids)), counts)
    span = (pd.Timestamp(END) - created[who]).days.to_numpy()
    ts = created[who] + pd.to_timedelta(rng.random(len(who)) * span, unit="D")
    return pd.DataFrame(
        {
            "transaction_id": [f"T{i:07d}" for i in range(len(who))],
            "customer_id": ids[who],
            "ts": ts.floor("s"),
            "amount": np.round(rng.lognormal(3.5, 0.8, len(who)), 2),
            "category": rng.choice(["food", "home", "travel"], len(who)),
        }
    )


def _loans(
    rng: np.random.Generator,
    shape: ExportShape,
    ids: np.ndarray,
    created: pd.DatetimeIndex,
    risk: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    loans, rows = [], []
    end = pd.Timestamp(END)
    for i, cid in enumerate(ids):
        n_loans = 1 if shape.history == "statements" else int(rng.integers(1, 4))
        for k in range(n_loans):
            opened = created[i] + pd.Timedelta(days=int(rng.integers(0, 200)))
            terms = {"one_installment": 1, "statements": 24}.get(
                shape.history, int(rng.integers(3, 13))
            )
            principal = float(np.round(rng.uniform(200, 3000), 2))
            loan_id = f"L{cid}-{k}"
            loans.append((loan_id, cid, opened, principal, terms))
            stop = rng.random() < 1 / (1 + np.exp(-(risk[i] * 1.5 - 2.0)))  # stops paying
            stop_at = int(rng.integers(0, terms)) if stop else terms
            for no in range(1, terms + 1):
                due = opened + pd.DateOffset(months=no)
                if due > end + pd.DateOffset(months=2):
                    break
                due_amount = round(principal / terms, 2)
                row = {"loan_id": loan_id, "installment_no": no, "due_date": due}
                if shape.history == "statements":
                    balance = float(np.round(principal * rng.uniform(0.1, 1.0), 2))
                    due_amount = round(max(balance * 0.05, 10.0), 2)
                    row |= {
                        "statement_date": due - pd.Timedelta(days=20),
                        "statement_balance": balance,
                    }
                row["amount_due"] = due_amount
                late = int(rng.exponential(3 + 10 * max(risk[i], 0)))
                paid = due + pd.Timedelta(days=late - 2)
                if no > stop_at or paid > end:
                    rows.append({**row, "paid_date": pd.NaT, "amount_paid": np.nan})
                    continue
                parts = int(rng.integers(1, shape.payments_per_installment + 1))
                shares = rng.dirichlet(np.ones(parts))
                amounts = np.round(shares * due_amount, 2)
                amounts[-1] = round(due_amount - amounts[:-1].sum(), 2)
                for p, amount in enumerate(amounts):
                    when = paid + pd.Timedelta(days=p * 3)
                    if when > end:
                        break
                    rows.append({**row, "paid_date": when, "amount_paid": float(amount)})
    loan_frame = pd.DataFrame(
        loans, columns=["loan_id", "customer_id", "opened_at", "principal", "n_installments"]
    )
    return loan_frame, pd.DataFrame(rows)


def _outcomes(
    rng: np.random.Generator, shape: ExportShape, ids: np.ndarray, risk: np.ndarray
) -> pd.DataFrame:
    n = len(ids)
    default = (rng.random(n) < 1 / (1 + np.exp(-(risk * 1.2 - 1.0)))).astype(int)
    default[:3], default[3:6] = 1, 0  # both classes, whatever the draw
    if shape.outcomes == "one_date":
        as_of = pd.Series(pd.Timestamp(END) + pd.Timedelta(days=1), index=range(n))
    else:
        months = pd.date_range(AS_OF_START, AS_OF_END, freq="MS")
        as_of = pd.Series(months[rng.integers(0, len(months), n)])
    return pd.DataFrame({"customer_id": ids, "as_of": as_of.to_numpy(), "default": default})
