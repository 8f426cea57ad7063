"""Customers with hidden creditworthiness, and the monthly calendar they live on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from creditrisk.synthetic import behaviour as b

PRE_EXISTING_SHARE = 0.35  # customers created before the simulation starts
DORMANT_SHARE = 0.12  # customers who rarely buy
MISSING_INCOME_SHARE = 0.06  # income not declared


@dataclass(frozen=True)
class StressPeriod:
    """A macro-stress period: months from ``start`` to ``end`` (inclusive) of ``intensity``.

    Customers in ``regions`` or ``segments`` feel it fully; others at a quarter strength.
    """

    start: date
    end: date
    intensity: float
    regions: tuple[str, ...]
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Calendar:
    """Month grid of the simulation.

    Attributes:
        month_start: first day of each simulated month, ``datetime64[D]``, length T.
        end: last day of data (the extraction date); no event after it is observed.
        season: purchase multiplier per month.
        stress: macro-stress intensity per month.
    """

    month_start: np.ndarray
    end: np.datetime64
    season: np.ndarray
    stress: np.ndarray

    @property
    def n_months(self) -> int:
        return len(self.month_start)


def make_calendar(start: date, end: date, stress: StressPeriod) -> Calendar:
    """Build the month grid from ``start``'s month to ``end``'s month.

    Raises:
        ValueError: ``end`` is not after ``start``.
    """
    if end <= start:
        raise ValueError(f"end date {end} must be after start date {start}")
    first = np.datetime64(start, "M")
    last = np.datetime64(end, "M")
    months = np.arange(first, last + 1, dtype="datetime64[M]")
    month_of_year = months.astype(int) % 12
    season = np.asarray(b.SEASON)[month_of_year]
    s0, s1 = np.datetime64(stress.start, "M"), np.datetime64(stress.end, "M")
    stress_level = np.where((months >= s0) & (months <= s1), stress.intensity, 0.0)
    return Calendar(
        month_start=months.astype("datetime64[D]"),
        end=np.datetime64(end, "D"),
        season=season,
        stress=stress_level,
    )


@dataclass(frozen=True)
class Population:
    """Static attributes of one chunk of customers; hidden ones are never exported."""

    customer_id: np.ndarray
    z: np.ndarray  # hidden creditworthiness
    income: np.ndarray  # true monthly income
    income_declared: np.ndarray  # what the customer table shows (NaN when not declared)
    log_income_rel: np.ndarray
    segment: np.ndarray  # index into behaviour.SEGMENTS
    region: np.ndarray  # index into behaviour.REGIONS
    gender: np.ndarray
    birth_year: np.ndarray
    created_at: np.ndarray  # datetime64[s]
    join_month: np.ndarray  # first simulated month the customer exists (may be 0)
    billing_day: np.ndarray  # day of month installments fall due
    lam: np.ndarray  # base purchases per month
    fin: np.ndarray  # probability a financeable purchase is financed
    amount_mu: np.ndarray  # log of the median purchase amount
    term_cdf: np.ndarray  # (n, max term + 1): P(term <= x)
    term_p: np.ndarray  # (n, len(TERMS))
    sens: np.ndarray  # sensitivity to macro stress
    p_online: np.ndarray
    category_pref: np.ndarray  # (n, len(CATEGORIES)) purchase category probabilities

    def __len__(self) -> int:
        return len(self.z)


def draw_population(
    n: int, first_index: int, calendar: Calendar, stress: StressPeriod, rng: np.random.Generator
) -> Population:
    """Draw ``n`` customers numbered from ``first_index``."""
    z = rng.standard_normal(n)
    segment = rng.choice(len(b.SEGMENTS), size=n, p=b.SEGMENT_P)
    region = rng.choice(len(b.REGIONS), size=n, p=b.REGION_P)
    gender = rng.choice(np.array(["F", "M"]), size=n)
    income = _draw_income(z, segment, rng)
    income_declared = np.where(rng.random(n) < MISSING_INCOME_SHARE, np.nan, income)
    age_lo = np.asarray([a[0] for a in b.SEGMENT_AGE])[segment]
    age_hi = np.asarray([a[1] for a in b.SEGMENT_AGE])[segment]
    start_year = calendar.month_start[0].astype("datetime64[Y]").astype(int) + 1970
    birth_year = start_year - rng.integers(age_lo, age_hi + 1)
    created_at, join_month = _draw_creation(n, calendar, rng)

    lam = rng.gamma(2.0, 1.0, size=n) * np.asarray(b.SEGMENT_PURCHASE)[segment]
    lam = np.where(rng.random(n) < DORMANT_SHARE, lam * 0.15, lam)
    fin = 1.0 / (1.0 + np.exp(1.3 + 0.45 * z - 0.5 * rng.standard_normal(n)))
    amount_mu = np.log(income * b.AMOUNT_SHARE) + 0.3 * rng.standard_normal(n)
    term_p = np.asarray(b.SEGMENT_TERM_P)[segment]
    term_cdf = _term_cdf(term_p)
    sensitive = np.isin(segment, [b.SEGMENTS.index(s) for s in stress.segments]) | np.isin(
        region, [b.REGIONS.index(r) for r in stress.regions]
    )
    young = (start_year - birth_year) < 35
    category_pref = rng.dirichlet(np.full(len(b.CATEGORIES), 0.8), size=n)
    ids = np.char.add("C", np.char.zfill(np.arange(first_index, first_index + n).astype(str), 7))
    return Population(
        customer_id=ids,
        z=z,
        income=income,
        income_declared=income_declared,
        log_income_rel=np.log(income / b.INCOME_REF),
        segment=segment,
        region=region,
        gender=gender,
        birth_year=birth_year,
        created_at=created_at,
        join_month=join_month,
        billing_day=rng.integers(1, 29, size=n),
        lam=lam,
        fin=fin,
        amount_mu=amount_mu,
        term_cdf=term_cdf,
        term_p=term_p,
        sens=np.where(sensitive, 1.0, b.LOW_SENSITIVITY),
        p_online=np.where(young, 0.6, 0.3),
        category_pref=category_pref,
    )


def _draw_income(z: np.ndarray, segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    median = np.asarray(b.SEGMENT_INCOME)[segment]
    sigma = np.asarray(b.SEGMENT_INCOME_SIGMA)[segment]
    # Income is correlated with creditworthiness, but far from a proxy for it.
    log_income = np.log(median) + sigma * (0.45 * z + 0.89 * rng.standard_normal(len(z)))
    return np.asarray(np.round(np.exp(log_income), -1).clip(200.0), dtype="float64")


def _draw_creation(
    n: int, calendar: Calendar, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Creation timestamps: some customers predate the data, the rest join month by month."""
    t_months = calendar.n_months
    start = calendar.month_start[0].astype("datetime64[s]")
    pre = rng.random(n) < PRE_EXISTING_SHARE
    # Joiners arrive over all but the last three months, so every customer has some history.
    join_month = np.where(pre, 0, rng.integers(0, max(t_months - 3, 1), size=n))
    month_start = calendar.month_start[join_month].astype("datetime64[s]")
    seconds_in_month = 28 * 86400
    created_joiners = month_start + rng.integers(0, seconds_in_month, size=n).astype(
        "timedelta64[s]"
    )
    created_pre = start - rng.integers(86400, 5 * 365 * 86400, size=n).astype("timedelta64[s]")
    created_at = np.where(pre, created_pre, created_joiners)
    return created_at, join_month


def _term_cdf(term_p: np.ndarray) -> np.ndarray:
    """P(term <= x) for x = 0..max term, per customer."""
    max_term = max(b.TERMS)
    pmf = np.zeros((len(term_p), max_term + 1))
    for j, term in enumerate(b.TERMS):
        pmf[:, term] = term_p[:, j]
    return np.cumsum(pmf, axis=1)


def customers_frame(pop: Population) -> pd.DataFrame:
    """The exported ``customers`` table (hidden attributes left out)."""
    return pd.DataFrame(
        {
            "customer_id": pop.customer_id.astype(str),
            "created_at": pop.created_at.astype("datetime64[us]"),
            "income_monthly": pop.income_declared,
            "region": np.asarray(b.REGIONS)[pop.region],
            "segment": np.asarray(b.SEGMENTS)[pop.segment],
            "birth_year": pop.birth_year.astype("int64"),
            "gender": pop.gender.astype(str),
        }
    )
