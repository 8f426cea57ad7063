"""The generator's own default probability per (customer, as_of): the oracle.

For a customer at ``as_of`` (the first day of a month), the oracle knows everything the
generator knows then: hidden creditworthiness, last month's regime, the installments
already scheduled, whether distress has begun, and the macro-stress calendar. It does not
know future draws. It integrates over them exactly, by a forward recursion over the hidden
state (regime x months of scheduled installments left), following the same monthly order
and the same hazards as :mod:`creditrisk.synthetic.dynamics`.

The label it predicts is the pipeline's: the first installment not fully paid within
``dpd_threshold_days`` of its due date defines a default event on due date + threshold,
and a sample (customer, as_of) is 1 when that event falls in (as_of, as_of + horizon].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditrisk.synthetic import behaviour as b
from creditrisk.synthetic.dynamics import NEVER, Paths
from creditrisk.synthetic.events import Purchases
from creditrisk.synthetic.population import Calendar, Population


def oracle_pd(
    pop: Population,
    paths: Paths,
    purchases: Purchases,
    calendar: Calendar,
    *,
    dpd_threshold_days: int,
    horizon_months: int,
) -> pd.DataFrame:
    """True default probability for every labelable (customer, as_of).

    A month is labelable when its whole horizon lies within the data. Customers created
    on or after ``as_of`` and customers already in default at ``as_of`` get no row.

    Returns:
        Frame with customer_id, as_of, true_pd.
    """
    n, t_months = len(pop), calendar.n_months
    first_month = calendar.month_start[0].astype("datetime64[M]")
    # Day number of the default event if onset happens in month m (installment due that month).
    due_day = (first_month + np.arange(t_months)).astype("datetime64[D]").astype(np.int64)
    event_day = due_day[None, :] + (pop.billing_day[:, None] - 1) + dpd_threshold_days
    remaining = _scheduled_months_left(len(pop), purchases, t_months)
    onset_event = np.where(
        paths.onset_month < NEVER,
        event_day[np.arange(n), np.minimum(paths.onset_month, t_months - 1)],
        np.iinfo(np.int64).max,
    )
    has_exposure_at_onset = (paths.onset_month < NEVER) & (
        remaining[np.arange(n), np.minimum(paths.onset_month, t_months - 1)] >= 1
    )
    onset_event = np.where(has_exposure_at_onset, onset_event, np.iinfo(np.int64).max)

    frames = []
    for t in range(1, t_months):
        as_of = (first_month + t).astype("datetime64[D]")
        window_end = (first_month + t + horizon_months).astype("datetime64[D]")
        if window_end > calendar.end + 1:
            break
        a, w = as_of.astype(np.int64), window_end.astype(np.int64)
        exists = pop.join_month < t
        defaulted = onset_event <= a
        started = paths.onset_month < t
        pd_known = ((onset_event > a) & (onset_event <= w)).astype(float)
        pd_chain = _forward(pop, paths, calendar, remaining, event_day, t, w, horizon_months)
        true_pd = np.where(started, pd_known, pd_chain)
        keep = exists & ~defaulted
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": pop.customer_id[keep].astype(str),
                    "as_of": np.full(int(keep.sum()), as_of).astype("datetime64[us]"),
                    "true_pd": true_pd[keep],
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=str),
                "as_of": pd.Series(dtype="datetime64[us]"),
                "true_pd": pd.Series(dtype=float),
            }
        )
    return pd.concat(frames, ignore_index=True)


def _scheduled_months_left(n: int, p: Purchases, t_months: int) -> np.ndarray:
    """(n, T): months from m on with an installment due, from loans opened before m."""
    last_due = np.full((n, t_months), -1, dtype=np.int64)
    f = p.financed
    np.maximum.at(last_due, (p.customer[f], p.month[f]), p.month[f] + p.term[f])
    # Loans opened before month m: cumulative max over earlier months.
    before = np.maximum.accumulate(last_due, axis=1)
    before = np.concatenate([np.full((n, 1), -1), before[:, :-1]], axis=1)
    m = np.arange(t_months)[None, :]
    return np.maximum(before - m + 1, 0)


def _forward(
    pop: Population,
    paths: Paths,
    calendar: Calendar,
    remaining: np.ndarray,
    event_day: np.ndarray,
    t: int,
    window_end: int,
    horizon_months: int,
) -> np.ndarray:
    """P(default event in window) for customers alive at month t, by forward recursion."""
    n, t_months = len(pop), calendar.n_months
    k = pop.term_cdf.shape[1]
    state = np.zeros((n, 2, k))
    r0 = paths.regime[:, t - 1]
    r_idx = np.clip(remaining[:, t], 0, k - 1)
    state[np.arange(n), r0, r_idx] = 1.0
    share = b.financeable_share(pop.amount_mu) * pop.fin
    total = np.zeros(n)
    for m in range(t, min(t + horizon_months, t_months)):
        stress = calendar.stress[m]
        up = b.strain_up(pop.z, stress, pop.sens)[:, None]
        down = b.strain_down(stress, pop.sens)[:, None]
        calm = state[:, 0] * (1 - up) + state[:, 1] * down
        strained = state[:, 0] * up + state[:, 1] * (1 - down)
        in_window = (event_day[:, m] <= window_end)[:, None]
        new_state = np.empty_like(state)
        for r, mass in ((0, calm), (1, strained)):
            h = b.onset_hazard(pop.z, pop.log_income_rel, r, stress, pop.sens)[:, None]
            total += (mass[:, 1:] * h * in_window).sum(axis=1)
            survive = mass * (1 - h)
            mu = b.purchase_rate(pop.lam, calendar.season[m], r) * share
            new_state[:, r] = _advance_schedule(survive, mu, pop.term_cdf)
        state = new_state
    return total


def _advance_schedule(mass: np.ndarray, mu: np.ndarray, term_cdf: np.ndarray) -> np.ndarray:
    """Months-left distribution after one month with Poisson(mu) new loans.

    With R months left now, next month has max(R - 1, terms of new loans) left. New loan
    counts are Poisson, so P(max new term <= x) = exp(-mu * (1 - P(term <= x))).
    """
    shifted = np.zeros_like(mass)
    shifted[:, 0] = mass[:, 0] + mass[:, 1]
    shifted[:, 1:-1] = mass[:, 2:]
    cdf_new = np.exp(-mu[:, None] * (1.0 - term_cdf))
    joint = np.cumsum(shifted, axis=1) * cdf_new
    return np.diff(joint, axis=1, prepend=0.0)
