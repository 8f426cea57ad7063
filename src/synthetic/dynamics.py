"""Month-by-month hidden state: strain regime, distress onset and purchase counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creditrisk.synthetic import behaviour as b
from creditrisk.synthetic.population import Calendar, Population

NEVER = np.iinfo(np.int32).max  # onset month of a customer who never enters distress


@dataclass(frozen=True)
class Paths:
    """Realised hidden paths of one chunk.

    Attributes:
        regime: (n, T) int8, 1 where the customer is strained in that month.
        onset_month: (n,) month index of distress onset, ``NEVER`` if none.
        purchases: (n, T) purchase counts.
    """

    regime: np.ndarray
    onset_month: np.ndarray
    purchases: np.ndarray


def simulate_paths(pop: Population, calendar: Calendar, rng: np.random.Generator) -> Paths:
    """Run the regime chain, distress onsets and purchase counts over the calendar.

    Order within a month (the oracle follows the same order): regime update, onset draw,
    then purchases. A customer exists from ``join_month``; the chain starts there from its
    stationary law and events start the month after.
    """
    n, t_months = len(pop), calendar.n_months
    regime = np.zeros((n, t_months), dtype=np.int8)
    purchases = np.zeros((n, t_months), dtype=np.int32)
    onset_month = np.full(n, NEVER, dtype=np.int32)
    r_prev = np.zeros(n, dtype=np.int8)
    for m in range(t_months):
        stress = calendar.stress[m]
        up = b.strain_up(pop.z, stress, pop.sens)
        down = b.strain_down(stress, pop.sens)
        u = rng.random(n)
        r_next = np.where(r_prev == 1, u >= down, u < up).astype(np.int8)
        at_join = pop.join_month == m
        stationary = up / (up + down)
        r_next = np.where(at_join, (rng.random(n) < stationary).astype(np.int8), r_next)
        exists = pop.join_month <= m
        r_next = np.where(exists, r_next, 0).astype(np.int8)
        regime[:, m] = r_next
        r_prev = r_next

        active = pop.join_month < m
        alive = onset_month == NEVER
        h = b.onset_hazard(pop.z, pop.log_income_rel, r_next, stress, pop.sens)
        onset_now = active & alive & (rng.random(n) < h)
        onset_month[onset_now] = m
        in_distress = onset_month <= m

        rate = b.purchase_rate(pop.lam, calendar.season[m], r_next)
        rate = np.where(in_distress, pop.lam * calendar.season[m] * b.DISTRESS_PURCHASE, rate)
        purchases[:, m] = np.where(active, rng.poisson(rate), 0)
    return Paths(regime=regime, onset_month=onset_month, purchases=purchases)
