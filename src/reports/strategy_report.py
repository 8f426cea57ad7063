"""The strategy stage's summary (``reports/strategy/summary.json``) and figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import creditrisk.records as records
from creditrisk.reports.portfolio import BUCKETS, DefinitionCheck, definition_check


@dataclass(frozen=True)
class CutoffFigures:
    """The policy's own cut-off in figures (test period)."""

    pd_cutoff: float
    approval_rate: float
    bad_rate: float
    bad_rate_ci_low: float
    bad_rate_ci_high: float
    total_limit: float
    expected_loss: float


@dataclass(frozen=True)
class StrategySummary:
    policy: CutoffFigures
    approval_rate_monotone: bool
    features_with_iv: int
    iv_top: dict[str, float]
    iv_disagreements: tuple[str, ...]  # declared direction contradicted by the binning
    definition: DefinitionCheck | None = None

    @property
    def headline(self) -> str:
        p = self.policy
        return (
            f"policy cut-off PD {p.pd_cutoff:g}: approval {p.approval_rate:.1%}, bad rate "
            f"{p.bad_rate:.2%} ({p.bad_rate_ci_low:.2%}-{p.bad_rate_ci_high:.2%}); IV for "
            f"{self.features_with_iv} features, {len(self.iv_disagreements)} against their "
            "declared direction"
        )

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategySummary:
        return records.from_dict(cls, data)


def summarise(
    cutoffs: pd.DataFrame,
    grades: pd.DataFrame,
    ivs: pd.DataFrame,
    vintage: pd.DataFrame,
    rolls: pd.DataFrame,
    *,
    labels: Mapping[str, Any],
) -> StrategySummary:
    row = cutoffs[cutoffs["policy_cutoff"]].iloc[0]
    rates = cutoffs.sort_values("pd_cutoff")["approval_rate"].to_numpy()
    check = (
        definition_check(
            rolls,
            vintage,
            threshold_days=int(labels["dpd_threshold_days"]),
            horizon_months=int(labels["horizon_months"]),
        )
        if len(rolls)
        else None
    )
    return StrategySummary(
        policy=CutoffFigures(
            pd_cutoff=float(row["pd_cutoff"]),
            approval_rate=float(row["approval_rate"]),
            bad_rate=float(row["bad_rate"]),
            bad_rate_ci_low=float(row["bad_rate_ci_low"]),
            bad_rate_ci_high=float(row["bad_rate_ci_high"]),
            total_limit=float(row["total_limit"]),
            expected_loss=float(row["expected_loss"]),
        ),
        approval_rate_monotone=bool((np.diff(rates) >= 0).all()),
        features_with_iv=len(ivs),
        iv_top={str(r["feature"]): float(r["iv"]) for r in ivs.head(10).to_dict("records")},
        iv_disagreements=tuple(ivs.loc[ivs["disagrees"], "feature"].astype(str)),
        definition=check,
    )


def strategy_figures(
    cutoffs: pd.DataFrame, grades: pd.DataFrame, vintage: pd.DataFrame, rolls: pd.DataFrame
) -> dict[str, Figure]:
    figs = {"cutoffs": _cutoffs(cutoffs), "grades": _grades(grades)}
    if len(vintage):
        figs["vintage"] = _vintage(vintage)
    if len(rolls):
        figs["roll_rates"] = _rolls(rolls)
    return figs


def _cutoffs(c: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(c["pd_cutoff"], c["approval_rate"], "o-", label="approval rate")
    ax.set(xscale="log", xlabel="PD cut-off (approve at or below)", ylabel="approval rate")
    ax2 = ax.twinx()
    ax2.errorbar(
        c["pd_cutoff"],
        c["bad_rate"],
        yerr=[c["bad_rate"] - c["bad_rate_ci_low"], c["bad_rate_ci_high"] - c["bad_rate"]],
        fmt="s--",
        color="#c03030",
        label="bad rate among approved (95%)",
    )
    ax2.set_ylabel("bad rate")
    policy = c.loc[c["policy_cutoff"], "pd_cutoff"]
    for x in policy:
        ax.axvline(x, color="grey", linestyle=":", label=f"policy cut-off {x:g}")
    ax.legend(loc="center left")
    ax2.legend(loc="center right")
    ax.set_title("Approval and bad rate by PD cut-off (test period)")
    fig.tight_layout()
    return fig


def _grades(g: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(g))
    ax.bar(x - 0.2, g["model_exposure"], 0.4, label="model limits")
    ax.bar(x + 0.2, g["formula_exposure"], 0.4, label="formula limits")
    ax.set_xticks(x, g["grade"])
    ax.set(xlabel="final grade", ylabel="exposure (sum of limits)", title="Exposure by grade")
    ax.legend()
    fig.tight_layout()
    return fig


def _vintage(v: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    frame = v.assign(quarter=pd.to_datetime(v["cohort"]).dt.to_period("Q").astype(str))
    curves = frame.groupby(["quarter", "months_on_book"])["ever_90_plus"].mean().unstack(0)
    for q in curves.columns:
        ax.plot(curves.index, curves[q], label=q)
    ax.set(xlabel="months on book", ylabel="share ever 90+ days past due",
           title="Vintage curves by origination quarter")  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _rolls(r: pd.DataFrame) -> Figure:
    grid = r.pivot(index="from_bucket", columns="to_bucket", values="share").reindex(
        index=list(BUCKETS), columns=list(BUCKETS)
    )
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    values = grid.to_numpy(dtype="float64")
    ax.imshow(values, cmap="Reds", vmin=0, vmax=1)
    for i in range(len(BUCKETS)):
        for j in range(len(BUCKETS)):
            ax.text(j, i, f"{values[i, j]:.0%}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(BUCKETS)), BUCKETS)
    ax.set_yticks(range(len(BUCKETS)), BUCKETS)
    ax.set(xlabel="next month", ylabel="this month", title="Roll rates (days past due)")
    fig.tight_layout()
    return fig
