"""Explanation figures: global importance, the SHAP beeswarm, dependence plots of the
top features, and the reason codes of declined or limited customers."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from creditrisk.models.explain_report import Explained


def explain_figures(
    e: Explained, *, plot_rows: int, dependence_top: int, seed: int
) -> dict[str, Figure]:
    """Every figure of the explain stage, by file stem; ``plot_rows`` rows (a seeded
    sample) are drawn in the beeswarm and dependence plots."""
    import shap

    rng = np.random.default_rng(seed)
    n = len(e.matrix)
    rows = np.sort(rng.choice(n, size=min(n, plot_rows), replace=False))
    shown = pd.DataFrame(e.matrix[rows], columns=list(e.explanation.features))
    values = e.explanation.values[rows]
    figures: dict[str, Figure] = {"importance": _importance_figure(e.importance)}

    plt.figure()  # shap draws on the current figure
    shap.summary_plot(values, shown, max_display=20, show=False, plot_size=(8, 8))
    fig = plt.gcf()
    fig.suptitle("SHAP values per feature, test period (each dot is a customer)", y=1.0)
    figures["beeswarm"] = fig
    for name in e.importance["feature"].head(dependence_top):
        fig, ax = plt.subplots(figsize=(6, 4))
        shap.dependence_plot(name, values, shown, interaction_index=None, ax=ax, show=False)
        ax.set_title(f"{name}: value against its contribution to the log-odds")
        figures[f"dependence_{name}"] = fig
    figures["reason_frequency"] = _reason_figure(e.frequency)
    return figures


def _importance_figure(importance: pd.DataFrame, top: int = 20) -> Figure:
    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(head) + 1.2))
    ax.barh(head["feature"], head["mean_abs_shap"], color="#3b6ea8")
    ax.set(xlabel="mean |SHAP value| (log-odds)", title="Global importance, test period")
    fig.tight_layout()
    return fig


def _reason_figure(frequency: pd.DataFrame, top: int = 12) -> Figure:
    part = frequency[frequency["outcome"] == "declined_or_limited"].head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(part), 1) + 1.4))
    ax.barh(part["reason_text"], part["share"], color="#a83b3b")
    customers = int(part["customers"].iloc[0]) if len(part) else 0
    ax.set(
        xlabel="share of declined or limited customers with this reason",
        title=f"Reason codes of declined or limited customers (n = {customers:,})",
    )
    fig.tight_layout()
    return fig
