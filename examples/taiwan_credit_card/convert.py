"""Convert the Taiwan credit-card statements (one wide row per card holder) to the raw
contract: customers, loans (one revolving account each), repayments (one installment per
monthly statement), transactions (new charges per month) and outcomes.

Usage: python examples/taiwan_credit_card/convert.py --out build/taiwan-credit-card/export
           [--rows N] [--seed 7]

The mapping, month by month (April = month 0 ... September = month 5, the six months of
the export; the outcome is a default in October 2005, so every snapshot is 2005-10-01 and
nothing dated on or after it is known at as_of):

- ``PAY_*`` (status of month m): -2 nothing to pay, -1 paid in full, 0 minimum paid, k >= 1
  the payment is k months late. At the end of month m a status k >= 1 says the installments
  due in months m-k+1 .. m are unpaid. An installment is paid on its due date when no
  status says it is unpaid, else in the month after the last status that says so, on that
  month's due date (so about 30 days late per month of delay); still unpaid in September:
  unpaid at as_of (no payment date). Statuses older than April create installments due
  before April (their statement is unknown).
- ``BILL_AMT*`` (statement of month m): the ``statement_balance`` of the installment due
  on the 15th of month m+1, dated (``statement_date``) the last day of month m. The
  September statement falls due on 2005-10-15, after as_of: it is known (its statement date
  is before as_of) but not yet due.
- ``PAY_AMT*`` (paid in month m): the payment on the installment due in month m. The export
  has no minimum payment, so ``amount_due`` is what the status says was required: the
  amount paid when the status says it was paid on time, the statement balance (at least 1)
  when it was late; a late installment's own payment is a partial payment 10 days after
  its due date, the rest is paid when the delay ends.
- New charges of month m (statement m - statement m-1 + paid in m, when positive) are a
  transaction on the 20th of month m (from May: April has no previous statement).
- ``LIMIT_BAL`` is the customer's ``credit_line`` and the account's principal; the
  relationship start is unknown (every ``created_at`` is 2004-01-01). ``EDUCATION`` and
  ``MARRIAGE`` are static attributes; ``SEX`` and ``AGE`` are protected (fairness
  reports only).
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

SOURCE = Path(__file__).with_name("UCI_Credit_Card.csv.gz")
MONTHS = 6
FIRST_MONTH = pd.Timestamp("2005-04-01")
AS_OF = pd.Timestamp("2005-10-01")
CREATED_AT = pd.Timestamp("2004-01-01")
TEN_DAYS = pd.Timedelta(days=10)
# Column suffixes of month 0 (April) .. 5 (September): the export lists September first.
STATUS = ["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"]
BILL = [f"BILL_AMT{k}" for k in range(6, 0, -1)]
PAID = [f"PAY_AMT{k}" for k in range(6, 0, -1)]


@cache
def month_start(m: int) -> pd.Timestamp:
    """The first day of month ``m`` (0 = April 2005; negative before it)."""
    return FIRST_MONTH + pd.DateOffset(months=m)


@cache
def due_date(m: int) -> pd.Timestamp:
    return month_start(m) + pd.Timedelta(days=14)


@cache
def statement_date(m: int) -> pd.Timestamp:
    return month_start(m + 1) - pd.Timedelta(days=1)


def paid_month(j: int, status: np.ndarray) -> int | None:
    """The month installment ``j`` is paid in (``j`` itself: on time), None if unpaid."""
    late = [m for m in range(MONTHS) if status[m] >= 1 and m - status[m] + 1 <= j <= m]
    if not late:
        return j
    last = max(late)
    return None if last + 1 >= MONTHS else last + 1


def installments(cid: str, status: np.ndarray, bill: np.ndarray, paid: np.ndarray) -> list[dict]:
    """The repayment rows of one card holder (see the module docstring)."""
    first = min([0] + [m - int(status[m]) + 1 for m in range(MONTHS) if status[m] >= 1])
    rows: list[dict] = []
    for no, j in enumerate(range(first, MONTHS + 1), start=1):
        balance = float(bill[j - 1]) if 1 <= j <= MONTHS else np.nan
        paid_in_j = float(paid[j]) if 0 <= j < MONTHS else 0.0
        base = {
            "loan_id": cid,
            "installment_no": no,
            "due_date": due_date(j),
            "statement_date": statement_date(j - 1),
            "statement_balance": balance,
        }
        if j == MONTHS:  # the September statement, due after as_of
            due = max(balance, 0.0)
            rows.append({**base, "amount_due": due, "paid_date": pd.NaT, "amount_paid": np.nan})
            continue
        when = paid_month(j, status)
        if when == j:
            rows.append(
                {
                    **base,
                    "amount_due": max(paid_in_j, 0.0),
                    "paid_date": due_date(j),
                    "amount_paid": max(paid_in_j, 0.0),
                }
            )
            continue
        due = max(balance if balance == balance else 0.0, paid_in_j, 1.0)
        part = min(paid_in_j, due - 1.0) if j >= 0 else 0.0
        if part > 0:
            rows.append(
                {
                    **base,
                    "amount_due": due,
                    "paid_date": due_date(j) + TEN_DAYS,
                    "amount_paid": part,
                }
            )
        if when is not None:
            rows.append(
                {**base, "amount_due": due, "paid_date": due_date(when), "amount_paid": due - part}
            )
        elif part <= 0:
            rows.append({**base, "amount_due": due, "paid_date": pd.NaT, "amount_paid": np.nan})
    return rows


def convert(raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The raw contract tables of the export ``raw`` (the CSV's columns)."""
    ids = "TW" + raw["ID"].astype(str)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "created_at": CREATED_AT,
            "credit_line": raw["LIMIT_BAL"].astype(float),
            "education": raw["EDUCATION"].astype(str),
            "marriage": raw["MARRIAGE"].astype(str),
            "sex": raw["SEX"].map({1: "male", 2: "female"}),
            "age": raw["AGE"].astype(int),
        }
    )
    status = raw[STATUS].to_numpy(int)
    bill = raw[BILL].to_numpy(float)
    paid = raw[PAID].to_numpy(float)
    rows: list[dict] = []
    for i, cid in enumerate(ids):
        rows += installments(cid, status[i], bill[i], paid[i])
    repayments = pd.DataFrame(rows)
    n_inst = repayments.groupby("loan_id")["installment_no"].max()
    loans = pd.DataFrame(
        {
            "loan_id": ids,
            "customer_id": ids,
            "opened_at": CREATED_AT,
            "principal": raw["LIMIT_BAL"].astype(float),
            "n_installments": ids.map(n_inst).astype(int),
        }
    )
    charges = bill[:, 1:] - bill[:, :-1] + paid[:, 1:]
    who, month = np.nonzero(charges > 0)
    transactions = pd.DataFrame(
        {
            "transaction_id": [f"{ids.iloc[w]}-{m + 1}" for w, m in zip(who, month, strict=True)],
            "customer_id": ids.to_numpy()[who],
            "ts": [month_start(m + 1) + pd.Timedelta(days=19) for m in month],
            "amount": charges[who, month],
        }
    )
    outcomes = pd.DataFrame(
        {"customer_id": ids, "as_of": AS_OF, "default": raw["default.payment.next.month"]}
    )
    return {
        "customers": customers,
        "loans": loans,
        "repayments": repayments,
        "transactions": transactions,
        "outcomes": outcomes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--rows", type=int, default=None, help="a seeded sample of card holders")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    raw = pd.read_csv(a.source)
    if a.rows is not None and a.rows < len(raw):
        raw = raw.sample(n=a.rows, random_state=a.seed).sort_values("ID")
    a.out.mkdir(parents=True, exist_ok=True)
    for table, frame in convert(raw).items():
        frame.to_parquet(a.out / f"{table}.parquet", index=False)
        print(f"{table}: {len(frame):,} rows")


if __name__ == "__main__":
    main()
