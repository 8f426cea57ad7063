"""Observable events drawn from the hidden paths: purchases, installment loans, payments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditrisk.synthetic import behaviour as b
from creditrisk.synthetic.dynamics import Paths
from creditrisk.synthetic.population import Calendar, Population

DAY = np.timedelta64(1, "D")
PARTIAL_SETTLE_CAP_DAYS = 85  # late remainders settle before the default threshold
MAX_LATE_DAYS = 80  # a late payer not in distress pays within this many days


@dataclass(frozen=True)
class Purchases:
    """One row per purchase, sorted by customer then time, with loan bookkeeping."""

    customer: np.ndarray  # index into the population chunk
    month: np.ndarray
    ts: np.ndarray  # datetime64[s]
    amount: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    financed: np.ndarray  # bool
    term: np.ndarray  # installments when financed, else 0


def draw_purchases(
    pop: Population, paths: Paths, calendar: Calendar, rng: np.random.Generator
) -> Purchases:
    """Expand monthly purchase counts into timed, priced purchases and loan decisions."""
    counts = paths.purchases.ravel()
    n_months = calendar.n_months
    customer = np.repeat(np.repeat(np.arange(len(pop)), n_months), counts)
    month = np.repeat(np.tile(np.arange(n_months), len(pop)), counts)
    k = len(customer)

    month_start = calendar.month_start.astype("datetime64[s]")
    next_start = np.append(calendar.month_start[1:], calendar.month_start[-1] + 31)
    month_end = np.minimum(next_start, calendar.end + 1).astype("datetime64[s]")
    span = (month_end - month_start).astype(np.int64)
    offset = (rng.random(k) * span[month]).astype(np.int64)
    ts = month_start[month] + offset.astype("timedelta64[s]")

    amount = np.round(np.exp(pop.amount_mu[customer] + b.AMOUNT_SIGMA * rng.standard_normal(k)), 2)
    amount = np.maximum(amount, 1.0)
    cum_pref = np.cumsum(pop.category_pref, axis=1)[customer]
    category = (rng.random(k)[:, None] > cum_pref).sum(axis=1).clip(0, len(b.CATEGORIES) - 1)
    channel = np.where(rng.random(k) < pop.p_online[customer], "online", "store")

    alive = month < paths.onset_month[customer]
    financed = alive & (amount >= b.MIN_FINANCED) & (rng.random(k) < pop.fin[customer])
    cum_term = np.cumsum(pop.term_p, axis=1)[customer]
    term_idx = (rng.random(k)[:, None] > cum_term).sum(axis=1).clip(0, len(b.TERMS) - 1)
    term = np.where(financed, np.asarray(b.TERMS)[term_idx], 0)

    order = np.lexsort((ts, customer))
    return Purchases(
        customer=customer[order],
        month=month[order],
        ts=ts[order],
        amount=amount[order],
        category=category[order],
        channel=channel[order],
        financed=financed[order],
        term=term[order],
    )


def transactions_frame(pop: Population, p: Purchases, id_prefix: str) -> pd.DataFrame:
    """The exported ``transactions`` table."""
    return pd.DataFrame(
        {
            "transaction_id": _ids(id_prefix, len(p.customer)),
            "customer_id": pop.customer_id[p.customer].astype(str),
            "ts": p.ts.astype("datetime64[us]"),
            "amount": p.amount,
            "category": np.asarray(b.CATEGORIES)[p.category],
            "channel": p.channel.astype(str),
        }
    )


def loans_frame(pop: Population, p: Purchases, id_prefix: str) -> pd.DataFrame:
    """The exported ``loans`` table: one installment plan per financed purchase."""
    f = p.financed
    return pd.DataFrame(
        {
            "loan_id": _ids(id_prefix, int(f.sum())),
            "customer_id": pop.customer_id[p.customer[f]].astype(str),
            "opened_at": p.ts[f].astype("datetime64[us]"),
            "principal": p.amount[f],
            "n_installments": p.term[f].astype("int64"),
            "category": np.asarray(b.CATEGORIES)[p.category[f]],
            "apr": np.full(int(f.sum()), b.APR),
        }
    )


def repayments_frame(
    pop: Population,
    paths: Paths,
    calendar: Calendar,
    loans: pd.DataFrame,
    p: Purchases,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The exported ``repayments`` table: one row per payment event of every installment.

    Installments due after the data end, or paid only after it, show a null ``paid_date``:
    the export cannot know the future. A partial payment followed by a late remainder gives
    two rows for one installment.
    """
    cust = p.customer[p.financed]
    open_month = p.month[p.financed]
    terms = loans["n_installments"].to_numpy()
    loan_idx = np.repeat(np.arange(len(loans)), terms)
    inst_no = _ranges(terms)
    c = cust[loan_idx]
    due_month = open_month[loan_idx] + inst_no
    first_month = calendar.month_start[0].astype("datetime64[M]")
    due_date = (first_month + due_month).astype("datetime64[D]") + (pop.billing_day[c] - 1) * DAY
    principal = loans["principal"].to_numpy()[loan_idx]
    amount_due = np.round(principal * (1 + b.APR * terms[loan_idx] / 12) / terms[loan_idx], 2)
    opened_day = loans["opened_at"].to_numpy().astype("datetime64[D]")[loan_idx]

    pay = _draw_payments(pop, paths, calendar, c, due_month, due_date, amount_due, rng)
    paid1 = np.maximum(pay.date1, opened_day)
    known1 = paid1 <= calendar.end
    known2 = pay.has2 & known1 & (pay.date2 <= calendar.end)
    first = pd.DataFrame(
        {
            "loan_id": loans["loan_id"].to_numpy()[loan_idx],
            "installment_no": inst_no.astype("int64"),
            "due_date": due_date.astype("datetime64[us]"),
            "amount_due": amount_due,
            "paid_date": np.where(known1, paid1, np.datetime64("NaT")).astype("datetime64[us]"),
            "amount_paid": np.where(known1, pay.amount1, np.nan),
        }
    )
    second = first.loc[known2].copy()
    second["paid_date"] = pay.date2[known2].astype("datetime64[us]")
    second["amount_paid"] = pay.amount2[known2]
    out: pd.DataFrame = pd.concat([first, second], ignore_index=True)
    return out.sort_values(["loan_id", "installment_no", "paid_date"], kind="stable").reset_index(
        drop=True
    )


@dataclass(frozen=True)
class _Payments:
    date1: np.ndarray  # datetime64[D]; NaT when nothing is ever paid
    amount1: np.ndarray
    has2: np.ndarray
    date2: np.ndarray
    amount2: np.ndarray


def _draw_payments(
    pop: Population,
    paths: Paths,
    calendar: Calendar,
    c: np.ndarray,
    due_month: np.ndarray,
    due_date: np.ndarray,
    amount_due: np.ndarray,
    rng: np.random.Generator,
) -> _Payments:
    k = len(c)
    t_months = calendar.n_months
    in_grid = due_month < t_months
    m = np.minimum(due_month, t_months - 1)
    regime = np.where(in_grid, paths.regime[c, m], 0)
    stress = calendar.stress[m]
    distress = due_month >= paths.onset_month[c]

    late = rng.random(k) < b.late_probability(pop.z[c], regime, stress, pop.sens[c])
    late_days = 1 + np.minimum(rng.exponential(7.0 + 18.0 * regime), MAX_LATE_DAYS - 1)
    early_days = rng.integers(0, 6, size=k)
    delay = np.where(late, late_days.astype(np.int64), -early_days)
    date1 = due_date + delay * DAY
    partial = rng.random(k) < b.partial_probability(pop.z[c], regime)
    frac = rng.uniform(0.3, 0.9, size=k)
    amount1 = np.where(partial, np.round(frac * amount_due, 2), amount_due)
    date2 = np.minimum(
        date1 + rng.integers(7, 41, size=k) * DAY, due_date + PARTIAL_SETTLE_CAP_DAYS * DAY
    )
    amount2 = np.round(amount_due - amount1, 2)

    # In distress: nothing is paid, or a token part that never settles the installment.
    token = rng.random(k) < 0.25
    token_date = due_date + rng.integers(0, 31, size=k) * DAY
    token_amount = np.round(rng.uniform(0.1, 0.4, size=k) * amount_due, 2)
    date1 = np.where(distress, np.where(token, token_date, np.datetime64("NaT")), date1)
    amount1 = np.where(distress, np.where(token, token_amount, np.nan), amount1)
    has2 = partial & ~distress
    return _Payments(date1=date1, amount1=amount1, has2=has2, date2=date2, amount2=amount2)


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """1..n for each n in ``lengths``, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.asarray(np.arange(total) - starts + 1, dtype="int64")


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(n).astype(str))
