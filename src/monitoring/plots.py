"""Monitoring figures (matplotlib): feature drift, grade migration, default rate by month
and early warnings by level."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from creditrisk.monitoring.report import Monitoring


def monitoring_figures(m: Monitoring) -> dict[str, Figure]:
    """Every figure of the monitor stage, by file stem."""
    return {
        "psi": _psi_figure(m),
        "migration": _migration_figure(m),
        "drift_and_alerts": _drift_and_alerts_figure(m),
    }


def _psi_figure(m: Monitoring) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 5))
    top = m.stability.head(15).iloc[::-1]
    ax.barh(top["variable"], top["psi"], color="#3b6ea8")
    for x, style in ((0.1, ":"), (0.25, "--")):
        ax.axvline(x, color="red", linestyle=style)
    ax.set(
        xlabel="PSI against the training population", title=f"Score PSI {m.report.psi.score:.3f}"
    )
    fig.tight_layout()
    return fig


def _migration_figure(m: Monitoring) -> Figure:
    matrix = m.migration
    fig, ax = plt.subplots(figsize=(6, 5))
    share = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    counts_grid = matrix.to_numpy(dtype="int64")
    for i, j in zip(*np.nonzero(counts_grid), strict=True):
        ax.text(j, i, str(counts_grid[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(share.columns)), share.columns)
    ax.set_yticks(range(len(share.index)), share.index)
    ax.set(xlabel="grade now", ylabel="grade at the previous snapshot", title="Grade migration")
    fig.tight_layout()
    return fig


def _drift_and_alerts_figure(m: Monitoring) -> Figure:
    monthly, a = m.monthly, m.report.alerts
    counts = {"light": a.light, "medium": a.medium, "severe": a.severe}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if len(monthly):
        axes[0].plot(monthly["as_of"], monthly["mean_pd"], label="mean predicted PD")
        axes[0].plot(monthly["as_of"], monthly["observed_rate"], label="observed default rate")
        axes[0].legend()
    axes[0].set(title="Default rate by snapshot month (outcomes known)", xlabel="as_of")
    axes[0].tick_params(axis="x", labelrotation=45)
    axes[1].bar(list(counts), list(counts.values()), color=["#e0c040", "#e08030", "#c03030"])
    axes[1].set(title="Early warnings by level", ylabel="customers")
    fig.tight_layout()
    return fig


def backtest_figure(by_month: pd.DataFrame, by_grade: pd.DataFrame, title: str) -> Figure:
    """Predicted against observed default rate (Wilson 95%) of the matured cohorts, by
    snapshot month and by grade."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, table, key in ((axes[0], by_month, "as_of"), (axes[1], by_grade, "grade")):
        if len(table):
            x = np.arange(len(table))
            err = np.vstack(
                [
                    table["observed_rate"] - table["observed_ci_low"],
                    table["observed_ci_high"] - table["observed_rate"],
                ]
            )
            ax.errorbar(x, table["observed_rate"], yerr=err, fmt="o", label="observed (95%)")
            ax.plot(x, table["mean_pd"], "s--", label="predicted (mean PD)")
            ax.set_xticks(x, [str(v)[:10] for v in table[key]], rotation=45)
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no matured cohort since training", ha="center", va="center")
        ax.set(xlabel=key, ylabel="default rate")
    axes[0].set_title(title)
    axes[1].set_title("by grade")
    fig.tight_layout()
    return fig
