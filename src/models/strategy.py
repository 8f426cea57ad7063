"""What a credit team decides with: cut-offs, grades and the information in each feature.

- :func:`cutoff_table`: for a grid of PD cut-offs on the test period, the approval rate,
  the observed bad rate among the approved (Wilson 95%), the limit granted and the
  expected loss PD x LGD x limit (limits from the policy's model limit without its own
  cut-off, so every cut-off is judged with the same limits);
- :func:`grade_table`: the same by final grade after the rating rules, formula and model
  limits side by side;
- :func:`information_values`: every feature's information value with its optimal binning
  and event-rate trend, beside the dictionary's declared direction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.governance.monotonicity import scorecard_trend
from creditrisk.models.metrics import wilson_interval
from creditrisk.models.policy import Policy, credit_limits
from creditrisk.models.scorer import Scorer
from creditrisk.models.screening import screen_features

CUTOFFS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20, 0.30, 0.50, 1.0)


def uncut_limits(policy: Policy, decisions: pd.DataFrame, income: np.ndarray) -> pd.DataFrame:
    """Model and formula limits of each decision with the model limit's PD cut-off lifted
    (the grade and PD as decided)."""
    uncut = dataclasses.replace(
        policy, model_limits=dataclasses.replace(policy.model_limits, pd_cutoff=1.0)
    )
    grade_idx = decisions["grade"].map({g: i for i, g in enumerate(policy.grades)}).to_numpy()
    limits = credit_limits(uncut, decisions["pd"].to_numpy("float64"), grade_idx, income)
    return pd.DataFrame(
        {"model_limit": limits["model_limit"], "formula_limit": limits["formula_limit"]},
        index=decisions.index,
    )


def _bad(y: np.ndarray) -> tuple[float, float, float]:
    n, bad = len(y), int(y.sum())
    if not n:
        return float("nan"), float("nan"), float("nan")
    lo, hi = wilson_interval(bad, n)
    return bad / n, lo, hi


def cutoff_table(
    pd_: np.ndarray,
    y: np.ndarray,
    limit: np.ndarray,
    *,
    lgd: float,
    policy_cutoff: float,
    cutoffs: Sequence[float] = CUTOFFS,
) -> pd.DataFrame:
    """One row per cut-off (approve PD <= cut-off), the policy's own cut-off included."""
    grid = sorted({*cutoffs, policy_cutoff})
    rows = []
    for c in grid:
        ok = pd_ <= c
        rate, lo, hi = _bad(y[ok])
        granted = float(limit[ok].sum())
        expected = float((pd_[ok] * lgd * limit[ok]).sum())
        rows.append(
            {
                "pd_cutoff": c,
                "policy_cutoff": bool(np.isclose(c, policy_cutoff)),
                "approved": int(ok.sum()),
                "approval_rate": float(ok.mean()) if len(ok) else float("nan"),
                "bad_rate": rate,
                "bad_rate_ci_low": lo,
                "bad_rate_ci_high": hi,
                "total_limit": granted,
                "expected_loss": expected,
                "expected_loss_rate": expected / granted if granted else float("nan"),
                "observed_loss": float((y[ok] * lgd * limit[ok]).sum()),
            }
        )
    return pd.DataFrame(rows)


def grade_table(
    decisions: pd.DataFrame,
    y: np.ndarray,
    limits: pd.DataFrame,
    *,
    grades: Sequence[str],
    lgd: float,
    in_force: str,
) -> pd.DataFrame:
    """By final grade (every grade listed, S included): count, share, mean PD, observed
    bad rate (Wilson 95%), and per limit kind: mean limit, exposure and expected loss."""
    rows = []
    pd_ = decisions["pd"].to_numpy("float64")
    for g in grades:
        hit = (decisions["grade"] == g).to_numpy()
        rate, lo, hi = _bad(y[hit])
        row: dict[str, Any] = {
            "grade": g,
            "count": int(hit.sum()),
            "share": float(hit.mean()) if len(hit) else float("nan"),
            "mean_pd": float(pd_[hit].mean()) if hit.any() else float("nan"),
            "observed_bad_rate": rate,
            "bad_rate_ci_low": lo,
            "bad_rate_ci_high": hi,
        }
        for kind in ("model", "formula"):
            lim = limits[f"{kind}_limit"].to_numpy("float64")[hit]
            row[f"{kind}_mean_limit"] = float(lim.mean()) if hit.any() else float("nan")
            row[f"{kind}_exposure"] = float(lim.sum())
            row[f"{kind}_expected_loss"] = float((pd_[hit] * lgd * lim).sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["in_force"] = in_force
    return out


def information_values(
    frame: pd.DataFrame,
    y: np.ndarray,
    dictionary: Mapping[str, Mapping[str, Any]],
    features: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    max_n_bins: int = 6,
) -> pd.DataFrame:
    """Information value of every feature with its optimal monotone binning (optbinning),
    the event-rate trend the binning found and the dictionary's declared direction; a
    declared direction the trend contradicts is flagged. A feature the screening finds
    unbinnable on these rows (null or one value everywhere, or known on one class only)
    gets IV 0, no bins and the screening's reason in ``note``."""
    from optbinning import OptimalBinning

    screening = screen_features(frame, features, y)
    unbinnable = dict(
        screening.table.loc[screening.table["reason"].ne(""), ["feature", "reason"]].values
    )
    rows = []
    for name in features:
        kind = "categorical" if name in categorical else "numerical"
        declared = int(dictionary.get(name, {}).get("direction", 0) or 0)
        if name in unbinnable:
            rows.append(
                {
                    "feature": name,
                    "iv": 0.0,
                    "n_bins": 0,
                    "trend": "none" if kind == "numerical" else "categorical",
                    "declared_direction": declared,
                    "disagrees": False,
                    "bins": json.dumps({"splits": [], "event_rates": []}),
                    "note": unbinnable[name],
                }
            )
            continue
        x = frame[name]
        x = x.astype(object).where(x.notna(), None) if kind == "categorical" else x.astype(float)
        binning = OptimalBinning(
            name=name,
            dtype=kind,
            monotonic_trend="auto_asc_desc" if kind == "numerical" else None,
            max_n_bins=max_n_bins,
            min_prebin_size=0.02,
        )
        binning.fit(x.to_numpy(), y)
        table = binning.binning_table.build()
        body = table[~table.index.isin(["Totals"])]
        counted = body[body["Count"] > 0]
        event_rates = [float(v) for v in counted["Event rate"]]
        trend = (
            scorecard_trend(event_rates[: len(binning.splits) + 1]) if kind == "numerical" else 0
        )
        rows.append(
            {
                "feature": name,
                "iv": float(binning.binning_table.iv),
                "n_bins": int(len(binning.splits) + 1),
                "trend": {1: "increasing", -1: "decreasing", 0: "none"}[trend]
                if kind == "numerical"
                else "categorical",
                "declared_direction": declared,
                "disagrees": bool(declared and trend and declared != trend),
                "bins": json.dumps(
                    {
                        "splits": [
                            s if isinstance(s, str) else float(s)
                            for s in np.ravel(binning.splits).tolist()
                        ]
                        if kind == "numerical"
                        else [list(map(str, s)) for s in binning.splits],
                        "event_rates": event_rates,
                    }
                ),
                "note": "",
            }
        )
    return pd.DataFrame(rows).sort_values("iv", ascending=False).reset_index(drop=True)


def decision_tables(
    model: Scorer, test: pd.DataFrame | Iterable[pd.DataFrame], *, cutoffs: Sequence[float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cut-off table and the final-grade table of a scorer's decisions on a labelled
    period, given whole or as batches of its rows (the tables are the same either way: only
    each row's PD, grade, limits and label are kept between batches). Its income column,
    when present, caps the limits."""
    parts = [
        _decided(model, batch) for batch in ([test] if isinstance(test, pd.DataFrame) else test)
    ]
    if not parts:
        raise ValueError("decision_tables: no batch of the labelled period was given")
    decided = pd.concat(parts, ignore_index=True)
    y = decided["default"].to_numpy("float64")
    limits = decided[["model_limit", "formula_limit"]]
    m = model.policy.model_limits
    in_force = model.policy.limit_in_force.value
    table = cutoff_table(
        decided["pd"].to_numpy("float64"),
        y,
        limits[f"{in_force}_limit"].to_numpy("float64"),
        lgd=m.lgd,
        policy_cutoff=m.pd_cutoff,
        cutoffs=tuple(cutoffs),
    )
    grades = grade_table(
        decided, y, limits, grades=model.policy.grades, lgd=m.lgd, in_force=in_force
    )
    return table, grades


def _decided(model: Scorer, rows: pd.DataFrame) -> pd.DataFrame:
    """PD, grade, uncut limits and label of each row (no reasons)."""
    decisions = model.score(rows, reasons=False)
    income_col = model.policy.income_column
    income = (
        pd.to_numeric(rows[income_col], errors="coerce").to_numpy("float64")
        if income_col in rows.columns
        else np.full(len(rows), np.nan)
    )
    limits = uncut_limits(model.policy, decisions, income)
    return pd.DataFrame(
        {
            "pd": decisions["pd"].to_numpy("float64"),
            "grade": decisions["grade"].to_numpy(),
            "model_limit": limits["model_limit"].to_numpy("float64"),
            "formula_limit": limits["formula_limit"].to_numpy("float64"),
            "default": rows["default"].to_numpy("float64"),
        }
    )
