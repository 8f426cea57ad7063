"""Discrimination, calibration and stability measures of a PD model, and their tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from creditrisk.models.policy import band_positions


def ks_statistic(y: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of defaults and
    non-defaults (0..1; higher score = riskier)."""
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def expected_calibration_error(y: np.ndarray, pd_: np.ndarray, *, bins: int) -> float:
    """Count-weighted mean |observed default rate - mean PD| over equal-count PD bins."""
    table = calibration_table(y, pd_, bins=bins)
    return float((table["count"] * (table["observed"] - table["predicted"]).abs()).sum() / len(y))


def calibration_table(y: np.ndarray, pd_: np.ndarray, *, bins: int) -> pd.DataFrame:
    """Per equal-count bin of predicted PD: count, mean predicted PD, observed default rate."""
    order = np.argsort(pd_, kind="stable")
    bin_of = np.empty(len(pd_), dtype=np.int64)
    bin_of[order] = np.arange(len(pd_)) * bins // max(len(pd_), 1)
    frame = pd.DataFrame({"bin": bin_of + 1, "y": y, "pd": pd_})
    out = frame.groupby("bin").agg(
        count=("y", "size"), predicted=("pd", "mean"), observed=("y", "mean")
    )
    return out.reset_index()


def classification_metrics(y: np.ndarray, pd_: np.ndarray, *, ece_bins: int) -> dict[str, float]:
    """AUC, Gini, KS (points 0..100), Brier score, log loss, ECE, mean PD, default rate."""
    y = np.asarray(y, dtype="float64")
    pd_ = np.asarray(pd_, dtype="float64")
    auc = float(roc_auc_score(y, pd_))
    return {
        "n": len(y),
        "default_rate": float(y.mean()),
        "mean_pd": float(pd_.mean()),
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": 100 * ks_statistic(y, pd_),
        "brier": float(brier_score_loss(y, pd_)),
        "log_loss": float(log_loss(y, np.clip(pd_, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "ece": expected_calibration_error(y, pd_, bins=ece_bins),
    }


def bootstrap_auc(
    y: np.ndarray, score: np.ndarray, *, n: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC (rows resampled with replacement; the
    resamples of :func:`bootstrap_auc_ks`)."""
    values, _ = bootstrap_auc_ks(y, score, n=n, seed=seed)
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def bootstrap_auc_ks(
    y: np.ndarray, score: np.ndarray, *, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and KS (points 0..100) of ``n`` bootstrap resamples of the rows, drawn from
    ``seed``; resamples with a single class are left out.

    Each resample's AUC is the Mann-Whitney statistic computed from resample counts over
    the rows sorted once by score (ties count one half), so a resample costs two
    ``bincount`` passes instead of a sort. Sums of whole and half counts are exact in
    float64, so each value is the exact AUC of the resample.
    """
    rng = np.random.default_rng(seed)
    y, score = np.asarray(y), np.asarray(score)
    if not len(y):
        return np.array([]), np.array([])
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    n_groups = int(group[-1]) + 1
    positive = (y[order] == 1).astype(np.int64)
    aucs, kss = [], []
    for _ in range(n):
        counts = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))[order]
        pos = counts * positive
        n_pos = int(pos.sum())
        n_neg = len(y) - n_pos
        if not 0 < n_pos < len(y):
            continue
        by_pos = np.bincount(group, weights=pos, minlength=n_groups)
        by_neg = np.bincount(group, weights=counts - pos, minlength=n_groups)
        below = np.cumsum(by_neg) - by_neg
        aucs.append(float(np.dot(by_pos, below + 0.5 * by_neg)) / (n_pos * n_neg))
        # KS: largest distance between the two cumulative shares, riskiest (highest) first
        above_pos = np.cumsum(by_pos[::-1]) / n_pos
        above_neg = np.cumsum(by_neg[::-1]) / n_neg
        kss.append(100 * float(np.max(above_pos - above_neg)))
    return np.asarray(aucs), np.asarray(kss)


def gains_table(y: np.ndarray, score: np.ndarray, *, groups: int = 10) -> pd.DataFrame:
    """Deciles from riskiest (1) to safest: count, defaults, default rate, cumulative share
    of all defaults captured, and lift over the overall default rate."""
    order = np.argsort(-np.asarray(score), kind="stable")
    decile = np.empty(len(order), dtype=np.int64)
    decile[order] = np.arange(len(order)) * groups // max(len(order), 1) + 1
    frame = pd.DataFrame({"decile": decile, "y": y})
    t = frame.groupby("decile").agg(count=("y", "size"), defaults=("y", "sum")).reset_index()
    t["default_rate"] = t["defaults"] / t["count"]
    total = max(float(t["defaults"].sum()), 1.0)
    t["cum_population"] = t["count"].cumsum() / t["count"].sum()
    t["cum_defaults_captured"] = t["defaults"].cumsum() / total
    overall = total / t["count"].sum()
    t["lift"] = t["default_rate"] / overall
    t["cum_lift"] = t["cum_defaults_captured"] / t["cum_population"]
    return t


def assign_grades(pd_: np.ndarray, *, bands: Sequence[tuple[str, float]]) -> np.ndarray:
    """Grade per PD: the first band (best to worst) whose ``max_pd`` is >= the PD (the PD
    band, before any rating rule; :func:`creditrisk.models.policy.band_positions`)."""
    names = np.array([g for g, _ in bands], dtype=object)
    grades: np.ndarray = names[band_positions(pd_, bands)]
    return grades


def pd_band_table(
    y: np.ndarray, pd_: np.ndarray, *, bands: Sequence[tuple[str, float]]
) -> pd.DataFrame:
    """Per PD band (the grade before rating rules; the final grades are
    :func:`creditrisk.models.strategy.grade_table`): PD range, count, share, mean PD,
    defaults and observed default rate."""
    grades = assign_grades(pd_, bands=bands)
    frame = pd.DataFrame({"grade": grades, "y": y, "pd": pd_})
    rows = []
    lower = 0.0
    for name, upper in bands:
        part = frame[frame["grade"] == name]
        rows.append(
            {
                "grade": name,
                "pd_from": lower,
                "pd_to": upper,
                "count": len(part),
                "share": len(part) / max(len(frame), 1),
                "mean_pd": float(part["pd"].mean()) if len(part) else None,
                "defaults": int(part["y"].sum()),
                "observed_rate": float(part["y"].mean()) if len(part) else None,
            }
        )
        lower = upper
    return pd.DataFrame(rows)


class PsiReference:
    """The bins of an expected distribution, computed once, to measure the population
    stability index of many actual distributions against it.

    Numbers are cut at the quantiles of ``expected``; text at its categories. Missing
    values are a bin of their own. Empty bins count as 0.0001 of the population.
    """

    def __init__(self, expected: pd.Series, *, bins: int) -> None:
        self.numeric = pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(
            expected
        )
        if self.numeric:
            ev = expected.to_numpy(dtype="float64", na_value=np.nan)
            # np.quantile of the non-missing values: what np.nanquantile computes, faster.
            known = ev[~np.isnan(ev)]
            cuts = np.linspace(0, 1, bins + 1)[1:-1]
            self.edges = np.unique(np.quantile(known, cuts)) if len(known) else np.array([])
            self.levels = pd.Index([])
        else:
            self.edges = np.array([])
            self.levels = pd.Index(expected.dropna().astype(str).unique())
        self.expected_counts = self.counts(expected)

    def counts(self, values: pd.Series) -> np.ndarray:
        """Values per bin (missing first); counts of parts add up to the whole's."""
        if self.numeric:
            v = values.to_numpy(dtype="float64", na_value=np.nan)
            idx = np.where(np.isnan(v), -1, np.searchsorted(self.edges, v, side="right"))
            size = len(self.edges) + 2
        else:
            idx = self.levels.get_indexer(pd.Index(values.astype("string").fillna("\0missing")))
            size = len(self.levels) + 1
        return np.bincount(idx + 1, minlength=size).astype(float)

    def psi(self, actual: pd.Series) -> float:
        """PSI of ``actual`` against the expected distribution."""
        return self.psi_of_counts(self.counts(actual))

    def psi_of_counts(self, a: np.ndarray) -> float:
        """PSI of a distribution given as :meth:`counts` (e.g. summed over parts)."""
        e = self.expected_counts
        e_share = np.maximum(e / max(e.sum(), 1), 1e-4)
        a_share = np.maximum(a / max(a.sum(), 1), 1e-4)
        return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi(expected: pd.Series, actual: pd.Series, *, bins: int) -> float:
    """Population stability index of ``actual`` against ``expected`` (see
    :class:`PsiReference`, which keeps the bins for repeated comparisons)."""
    return PsiReference(expected, bins=bins).psi(actual)


def score_points(
    pd_: np.ndarray, *, base_points: float, base_odds: float, pdo: float
) -> np.ndarray:
    """PDO-scaled points: ``base_points`` at odds (good:bad) ``base_odds``; each ``pdo``
    points double the odds. Higher points = lower PD."""
    p = np.clip(np.asarray(pd_, dtype="float64"), 1e-12, 1 - 1e-12)
    odds = (1 - p) / p
    return np.asarray(base_points + pdo / np.log(2) * np.log(odds / base_odds), dtype="float64")


def curve_points(y: np.ndarray, score: np.ndarray, *, max_points: int = 201) -> pd.DataFrame:
    """ROC and KS curves on a common grid of population shares (riskiest first)."""
    order = np.argsort(-np.asarray(score), kind="stable")
    ys = np.asarray(y, dtype="float64")[order]
    n, bad = len(ys), max(ys.sum(), 1.0)
    good = max(n - ys.sum(), 1.0)
    idx = np.unique(np.linspace(0, n, max_points).astype(np.int64))
    cum_bad = np.concatenate([[0.0], np.cumsum(ys)])[idx] / bad
    cum_good = np.concatenate([[0.0], np.cumsum(1 - ys)])[idx] / good
    return pd.DataFrame(
        {
            "population_share": idx / max(n, 1),
            "fpr": cum_good,
            "tpr": cum_bad,
            "ks_gap": cum_bad - cum_good,
        }
    )


def wilson_interval(defaults: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a default rate (95% for the default z); (nan, nan) for n=0."""
    if n == 0:
        return float("nan"), float("nan")
    p = defaults / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The interval holds p; at p = 0 or 1 rounding would otherwise leave it a hair outside.
    return float(min(p, max(0.0, centre - half))), float(max(p, min(1.0, centre + half)))


def calibration_by_group(y: np.ndarray, pd_: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Observed against predicted default rate per group (a grade, a decile), with the
    observed rate's 95% Wilson interval and whether the mean PD falls inside it."""
    frame = pd.DataFrame({"group": groups, "y": y, "pd": pd_})
    rows = []
    for g, part in frame.groupby("group", sort=True):
        n, k = len(part), int(part["y"].sum())
        lo, hi = wilson_interval(k, n)
        mean_pd = float(part["pd"].mean())
        rows.append(
            {
                "group": g,
                "n": n,
                "defaults": k,
                "mean_pd": mean_pd,
                "observed_rate": k / n,
                "ci_low": lo,
                "ci_high": hi,
                "pd_within_ci": bool(lo <= mean_pd <= hi),
            }
        )
    return pd.DataFrame(rows)


def decile_groups(pd_: np.ndarray, *, groups: int = 10) -> np.ndarray:
    """Decile (1 = lowest PD) of each row by rank (ties broken by order, so every decile
    holds the same number of rows, +-1)."""
    order = np.argsort(pd_, kind="stable")
    rank = np.empty(len(pd_), dtype=int)
    rank[order] = np.arange(len(pd_))
    return (rank * groups // max(len(pd_), 1)) + 1
