"""The served model on outcomes that matured after it was trained, and retraining triggers.

A cohort is the population of one monthly snapshot (``as_of``). The champion was trained
on cohorts labelled up to ``labelled_through``; every later cohort whose label window has
ended by the data's end is *matured*: its outcomes are known and the model never saw them.
:func:`backtest` scores nothing itself: it takes the champion's decisions on those
cohorts, with their labels, and compares predicted and observed default rates and AUC per
month and per grade. :func:`retraining_triggers` turns the figures into triggers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sklearn.metrics import roc_auc_score

from creditrisk.models.metrics import calibration_by_group
from creditrisk.schemas.warnings import TriggerSettings


def matured_cohorts(
    labelled_through: date, *, end_date: date, horizon_months: int, until: date
) -> list[date]:
    """First-of-month snapshot dates after ``labelled_through`` (up to ``until``) whose
    label window, ``horizon_months`` long, ends by ``end_date`` (the labels' own rule for
    a complete label)."""
    start = (pd.Timestamp(labelled_through) + pd.offsets.MonthBegin(1)).normalize()
    last_complete = pd.Timestamp(end_date)
    out = []
    month = start
    while month.date() <= until:
        if month + pd.DateOffset(months=horizon_months) <= last_complete:
            out.append(month.date())
        month = month + pd.DateOffset(months=1)
    return out


@dataclass(frozen=True)
class BacktestSummary:
    """All matured cohorts together, beside the champion's own test figure."""

    labelled_through: str
    cohorts: int
    first_as_of: str | None
    last_as_of: str | None
    rows: int
    defaults: int
    mean_pd: float | None
    observed_rate: float | None
    observed_over_predicted: float | None
    auc: float | None
    test_auc: float | None  # the champion's test AUC at training (model card)
    auc_drop: float | None  # test_auc minus auc


def _table(scored: pd.DataFrame, by: str) -> pd.DataFrame:
    columns = [by, "rows", "defaults", "mean_pd", "observed_rate", "observed_ci_low",
               "observed_ci_high", "observed_over_predicted", "auc"]  # fmt: skip
    if scored.empty:
        return pd.DataFrame(columns=columns)
    y, pd_ = scored["default"].to_numpy("float64"), scored["pd"].to_numpy("float64")
    table = calibration_by_group(y, pd_, scored[by].to_numpy()).rename(
        columns={
            "group": by,
            "n": "rows",
            "ci_low": "observed_ci_low",
            "ci_high": "observed_ci_high",
        }
    )
    table["observed_over_predicted"] = table["observed_rate"] / table["mean_pd"]
    aucs = {
        key: float(roc_auc_score(part["default"], part["pd"]))
        for key, part in scored.groupby(by, sort=True)
        if 0 < part["default"].sum() < len(part)
    }
    table["auc"] = table[by].map(aucs).astype("float64")
    return table[columns]


@dataclass(frozen=True)
class Backtest:
    """The tables per month and per grade, and the summary."""

    by_month: pd.DataFrame
    by_grade: pd.DataFrame
    summary: BacktestSummary


def backtest(
    scored: pd.DataFrame,
    *,
    labelled_through: date,
    test_auc: float | None,
    grades: Sequence[str],
) -> Backtest:
    """Per month and per grade: rows, defaults, mean PD, observed rate (Wilson 95%),
    observed / predicted, AUC; and the summary over all matured cohorts.

    ``scored`` holds the champion's decisions on matured cohorts: ``as_of``, ``default``
    (0/1), ``pd`` and ``grade``.
    """
    by_month = _table(scored, "as_of")
    by_grade = _table(scored, "grade")
    order = {g: i for i, g in enumerate(grades)}
    by_grade = by_grade.sort_values("grade", key=lambda s: s.map(order)).reset_index(drop=True)
    y = scored["default"].to_numpy(dtype="float64")
    defaults, n = int(y.sum()), len(y)
    auc = float(roc_auc_score(y, scored["pd"])) if 0 < defaults < n else None
    mean_pd = float(scored["pd"].mean()) if n else None
    when = pd.to_datetime(scored["as_of"]) if n else None
    summary = BacktestSummary(
        labelled_through=str(labelled_through),
        cohorts=int(scored["as_of"].nunique()),
        first_as_of=str(when.min().date()) if when is not None else None,
        last_as_of=str(when.max().date()) if when is not None else None,
        rows=n,
        defaults=defaults,
        mean_pd=mean_pd,
        observed_rate=defaults / n if n else None,
        observed_over_predicted=(defaults / n) / mean_pd if n and mean_pd else None,
        auc=auc,
        test_auc=test_auc,
        auc_drop=None if auc is None or test_auc is None else test_auc - auc,
    )
    return Backtest(by_month, by_grade, summary)


@dataclass(frozen=True)
class Trigger:
    """One retraining trigger: its value, the threshold and whether it fired."""

    name: str
    fired: bool
    value: float | None
    threshold: str
    text: str


def retraining_triggers(
    score_psi: float, summary: BacktestSummary | None, settings: TriggerSettings
) -> tuple[Trigger, ...]:
    """Every trigger, fired or not; a trigger without enough data says so and does not fire."""
    s = settings
    out = [
        Trigger(
            "score_psi",
            score_psi > s.max_score_psi,
            score_psi,
            f"> {s.max_score_psi:g}",
            f"score PSI against the reference population {score_psi:.3f}",
        )
    ]
    judged = summary is not None and summary.defaults >= s.min_defaults
    lo, hi = s.observed_over_predicted
    ratio = summary.observed_over_predicted if summary is not None else None
    if judged and ratio is not None and summary is not None:
        out.append(
            Trigger(
                "observed_over_predicted",
                not lo <= ratio <= hi,
                ratio,
                f"outside {lo:g}..{hi:g}",
                f"observed / predicted default rate {ratio:.2f} on {summary.cohorts} matured "
                f"cohort(s) ({summary.defaults} defaults)",
            )
        )
    else:
        out.append(_not_judged("observed_over_predicted", summary, s))
    drop = summary.auc_drop if summary is not None else None
    if judged and drop is not None and summary is not None:
        out.append(
            Trigger(
                "auc_drop",
                drop > s.max_auc_drop,
                drop,
                f"> {s.max_auc_drop:g}",
                f"AUC {summary.auc:.4f} on matured cohorts against {summary.test_auc:.4f} at "
                f"training (drop {drop:.4f})",
            )
        )
    else:
        out.append(_not_judged("auc_drop", summary, s))
    return tuple(out)


def _not_judged(name: str, summary: BacktestSummary | None, s: TriggerSettings) -> Trigger:
    defaults = 0 if summary is None else summary.defaults
    return Trigger(
        name,
        False,
        None,
        f"needs >= {s.min_defaults} defaults",
        f"not judged: {defaults} default(s) on matured cohorts since training",
    )
