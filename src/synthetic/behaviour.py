"""The generator's behavioural model: the hazards and rates every other module draws from.

Each customer has a hidden creditworthiness ``z`` (standard normal) and, month by month, a
hidden regime ``r``: 0 calm, 1 strained (a two-state Markov chain). Strain makes a customer
pay late, pay partially and buy less; it also raises the hazard of *distress onset*, after
which the customer stops paying installments. Defaults are not drawn directly: they emerge
when an installment due after onset stays unpaid past the days-past-due threshold.

A macro-stress period raises the strain transition and the onset hazard for sensitive
customers (named regions and segments). The same functions drive the simulation and the
oracle probability, so the oracle is exact for the process that made the data.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr

SEGMENTS = ("salaried", "self_employed", "student", "retired")
SEGMENT_P = (0.6, 0.2, 0.12, 0.08)
SEGMENT_INCOME = (2800.0, 3200.0, 900.0, 1700.0)  # median monthly income, currency units
SEGMENT_INCOME_SIGMA = (0.35, 0.6, 0.3, 0.25)
SEGMENT_AGE = ((23, 64), (25, 66), (18, 27), (62, 82))  # age range at the start date
SEGMENT_PURCHASE = (1.0, 1.1, 1.25, 0.7)  # multiplies the purchase rate
# Installment terms (months) and their probabilities per segment; independent of amount.
TERMS = (3, 6, 12)
SEGMENT_TERM_P = ((0.35, 0.4, 0.25), (0.3, 0.35, 0.35), (0.5, 0.35, 0.15), (0.4, 0.4, 0.2))
REGIONS = ("north", "south", "east", "west", "central")
REGION_P = (0.22, 0.2, 0.18, 0.2, 0.2)
CATEGORIES = (
    "groceries",
    "electronics",
    "furniture",
    "fashion",
    "home_appliances",
    "travel",
    "health",
    "leisure",
)
# Purchase count multiplier by calendar month (Jan..Dec): winter lull, year-end peak.
SEASON = (0.85, 0.8, 0.95, 1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 1.05, 1.25, 1.5)

INCOME_REF = 2500.0
AMOUNT_SHARE = 0.035  # median purchase as a share of monthly income
AMOUNT_SIGMA = 0.8  # log-sd of purchase amounts around a customer's median
MIN_FINANCED = 150.0  # smallest purchase offered an installment plan
APR = 0.15
DISTRESS_PURCHASE = 0.1  # purchase rate multiplier once in distress (never financed)
STRAIN_PURCHASE = 0.45  # purchase rate reduction while strained

LOW_SENSITIVITY = 0.25  # stress effect on customers outside the named regions/segments


def strain_up(z: np.ndarray, stress: float | np.ndarray, sens: np.ndarray) -> np.ndarray:
    """Monthly probability that a calm customer becomes strained."""
    return np.asarray(expit(-3.5 - 0.8 * z + 1.6 * stress * sens), dtype="float64")


def strain_down(stress: float | np.ndarray, sens: np.ndarray) -> np.ndarray:
    """Monthly probability that a strained customer becomes calm; stress slows recovery."""
    return 0.22 - 0.08 * stress * sens


def onset_hazard(
    z: np.ndarray,
    log_income_rel: np.ndarray,
    regime: int | np.ndarray,
    stress: float | np.ndarray,
    sens: np.ndarray,
) -> np.ndarray:
    """Monthly probability of distress onset (the customer stops paying)."""
    return np.asarray(
        expit(-6.0 - 0.9 * z + 2.4 * regime + 0.9 * stress * sens - 0.5 * log_income_rel),
        dtype="float64",
    )


def purchase_rate(
    lam: np.ndarray, season: float | np.ndarray, regime: int | np.ndarray
) -> np.ndarray:
    """Expected purchases in a month for a customer not in distress."""
    return lam * season * (1.0 - STRAIN_PURCHASE * regime)


def financeable_share(amount_mu: np.ndarray) -> np.ndarray:
    """Share of a customer's purchases large enough to be financed (log-normal amounts)."""
    return np.asarray(
        1.0 - ndtr((np.log(MIN_FINANCED) - amount_mu) / AMOUNT_SIGMA), dtype="float64"
    )


def late_probability(
    z: np.ndarray, regime: np.ndarray, stress: np.ndarray, sens: np.ndarray
) -> np.ndarray:
    """Probability that an installment is paid after its due date (not in distress)."""
    return np.asarray(expit(-2.0 - 0.8 * z + 2.0 * regime + 0.6 * stress * sens), dtype="float64")


def partial_probability(z: np.ndarray, regime: np.ndarray) -> np.ndarray:
    """Probability that an installment is first paid only in part (not in distress)."""
    return np.asarray(expit(-3.2 - 0.5 * z + 1.6 * regime), dtype="float64")
