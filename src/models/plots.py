"""Evaluation figures (matplotlib): ROC, reliability, KS, gains, stability."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from creditrisk.models.evaluation import Evaluation


def roc_figure(curves: Mapping[str, pd.DataFrame], aucs: Mapping[str, float]) -> Figure:
    """ROC curves (from :func:`creditrisk.models.metrics.curve_points`) per model."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=f"{name} (AUC {aucs[name]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    ax.set(xlabel="false positive rate (non-defaults flagged)", ylabel="true positive rate")
    ax.set_title("ROC, out-of-time test period")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Reliability diagram: observed default rate against mean predicted PD per bin."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, t in tables.items():
        ax.plot(t["predicted"], t["observed"], marker="o", label=name)
        top = max(top, float(t["predicted"].max()), float(t["observed"].max()))
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    ax.set(xlabel="mean predicted PD", ylabel="observed default rate")
    ax.set_title("Calibration, out-of-time test period")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def ks_figure(curve: pd.DataFrame, ks: float) -> Figure:
    """Cumulative shares of defaults and non-defaults by population share, riskiest first."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve["population_share"], curve["tpr"], label="defaults")
    ax.plot(curve["population_share"], curve["fpr"], label="non-defaults")
    i = int(np.argmax(curve["ks_gap"].to_numpy()))
    x, low, high = (float(curve[c].iloc[i]) for c in ("population_share", "fpr", "tpr"))
    ax.vlines(x, low, high, color="black", linestyle="--")
    ax.set(xlabel="share of population (riskiest first)", ylabel="cumulative share")
    ax.set_title(f"KS = {ks:.1f} points, out-of-time test period")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def gains_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Cumulative share of defaults captured by decile, riskiest first."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, t in tables.items():
        ax.plot([0, *t["cum_population"]], [0, *t["cum_defaults_captured"]], marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    ax.set(xlabel="share of population (riskiest first)", ylabel="share of defaults captured")
    ax.set_title("Gains, out-of-time test period")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def psi_figure(table: pd.DataFrame, *, top: int = 20) -> Figure:
    """Horizontal bars of the largest PSI values, with the 0.1 and 0.25 alert lines."""
    t = table.sort_values("psi", ascending=True).tail(top)
    fig, ax = plt.subplots(figsize=(7, max(3, 0.3 * len(t) + 1)))
    ax.barh(t["variable"], t["psi"], color="tab:blue")
    for level, style in ((0.1, ":"), (0.25, "--")):
        ax.axvline(level, color="tab:red", linestyle=style, label=f"PSI {level}")
    ax.set(xlabel="PSI, test period against training period")
    ax.set_title("Population stability")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def psi_by_month_figure(table: pd.DataFrame, *, top: int = 12) -> Figure:
    """Score PSI per as_of month (line) and a heat map of the features with the largest
    PSI in any month, both against the training months."""
    wide = table.pivot(index="as_of", columns="variable", values="psi").sort_index()
    features = [c for c in wide.columns if c != "score"]
    worst = wide[features].max().sort_values(ascending=False).head(top).index.tolist()
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(10, 3 + 0.35 * len(worst)), height_ratios=[1, max(len(worst), 1) / 4]
    )
    months = [pd.Timestamp(m).strftime("%Y-%m") for m in wide.index]
    ax1.plot(months, wide["score"], marker="o", color="tab:blue")
    for level, style in ((0.1, ":"), (0.25, "--")):
        ax1.axhline(level, color="tab:red", linestyle=style)
    ax1.set(ylabel="score PSI", title="Stability by month against the training months")
    ax1.tick_params(axis="x", labelrotation=90, labelsize=7)
    if worst:
        image = ax2.imshow(wide[worst].T.to_numpy(), aspect="auto", cmap="Reds", vmin=0, vmax=0.5)
        ax2.set_yticks(range(len(worst)), worst, fontsize=8)
        ax2.set_xticks(range(len(months)), months, rotation=90, fontsize=7)
        fig.colorbar(image, ax=ax2, label="PSI")
    fig.tight_layout()
    return fig


def evaluation_figures(ev: Evaluation) -> dict[str, Figure]:
    """Every figure of the evaluate stage, by file stem."""
    c, r = ev.curves, ev.report
    aucs = {"lightgbm": r.test.auc, "challenger": r.challenger.test.auc}
    return {
        "roc": roc_figure({"lightgbm": c["roc_lightgbm"], "challenger": c["roc_challenger"]}, aucs),
        "calibration": calibration_figure(
            {"lightgbm": c["calibration"], "challenger": c["calibration_challenger"]}
        ),
        "ks": ks_figure(c["roc_lightgbm"], r.test.ks),
        "gains": gains_figure(
            {"lightgbm": ev.tables["gains_lightgbm"], "challenger": ev.tables["gains_challenger"]}
        ),
        "psi": psi_figure(ev.tables["psi"]),
        "psi_by_month": psi_by_month_figure(ev.tables["psi_by_month"]),
    }
