"""Synthetic raw history in the raw input contract, chunk by chunk.

Customers are simulated in fixed-size chunks, each with its own random stream derived
from the seed, so the output depends only on the seed and the size (never on memory or
the number of workers), and the benchmark size streams to disk in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from creditrisk.synthetic.dynamics import simulate_paths
from creditrisk.synthetic.events import (
    draw_purchases,
    loans_frame,
    repayments_frame,
    transactions_frame,
)
from creditrisk.synthetic.population import (
    StressPeriod,
    customers_frame,
    draw_population,
    make_calendar,
)
from creditrisk.synthetic.truth import oracle_pd

CHUNK_SIZE = 10_000  # customers per chunk; part of the output's definition, not a tuning knob


@dataclass(frozen=True)
class Chunk:
    """One chunk of generated tables; ``truth`` is the oracle, never part of the raw data."""

    index: int
    customers: pd.DataFrame
    transactions: pd.DataFrame
    loans: pd.DataFrame
    repayments: pd.DataFrame
    truth: pd.DataFrame

    def raw_tables(self) -> dict[str, pd.DataFrame]:
        return {
            "customers": self.customers,
            "transactions": self.transactions,
            "loans": self.loans,
            "repayments": self.repayments,
        }


def n_chunks(n_customers: int) -> int:
    """How many chunks :func:`generate` yields for ``n_customers``."""
    return -(-n_customers // CHUNK_SIZE)


def generate(
    *,
    n_customers: int,
    start: date,
    end: date,
    stress: StressPeriod,
    seed: int,
    dpd_threshold_days: int,
    horizon_months: int,
) -> Iterator[Chunk]:
    """Yield the synthetic history chunk by chunk.

    Args:
        n_customers: customers in total.
        start: first simulated month (customers may have been created before it).
        end: the data's end (extraction date); events after it are not observed.
        stress: the macro-stress period.
        seed: root seed; the same seed and arguments give the same content.
        dpd_threshold_days: days past due that make an unpaid installment a default event.
        horizon_months: label horizon for the oracle probability.

    Raises:
        ValueError: ``n_customers`` is not positive or the dates are out of order.
    """
    if n_customers <= 0:
        raise ValueError(f"n_customers must be positive, got {n_customers}")
    calendar = make_calendar(start, end, stress)
    root = np.random.SeedSequence(seed)
    for i, child in enumerate(root.spawn(n_chunks(n_customers))):
        rng = np.random.default_rng(child)
        first = i * CHUNK_SIZE
        size = min(CHUNK_SIZE, n_customers - first)
        pop = draw_population(size, first, calendar, stress, rng)
        paths = simulate_paths(pop, calendar, rng)
        purchases = draw_purchases(pop, paths, calendar, rng)
        loans = loans_frame(pop, purchases, id_prefix=f"L{i:04d}-")
        yield Chunk(
            index=i,
            customers=customers_frame(pop),
            transactions=transactions_frame(pop, purchases, id_prefix=f"T{i:04d}-"),
            loans=loans,
            repayments=repayments_frame(pop, paths, calendar, loans, purchases, rng),
            truth=oracle_pd(
                pop,
                paths,
                purchases,
                calendar,
                dpd_threshold_days=dpd_threshold_days,
                horizon_months=horizon_months,
            ),
        )
