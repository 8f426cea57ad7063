"""Stage monitor: drift of the latest snapshot against training, and graded early warnings.

Scores the snapshot at ``monitor.as_of`` (default: the day after the data's end) and the
one ``monitor.previous_months`` before it with the champion scorer (``data/scorer``), then:

- PSI of the score and of every feature (CSI) against the training population;
- observed against predicted default rate per month where outcomes are known;
- the grade migration matrix between the two snapshots;
- early-warning rules from params: per customer the highest level that fired, the rules,
  the actions, and the previous and new credit limit (0 where the limit is frozen).

Outputs: ``reports/monitor/`` (``metrics.json``, tables, plots) and
``data/alerts/alerts.parquet``, and the metrics in ``reports/monitor.json``. The folders
are replaced only when the whole run succeeds, so a
failed run leaves the previous outputs intact; the same inputs give the same alerts.

Usage: python -m pipelines.monitor --validated data/validated --scorer data/scorer
           --split data/split --predictions data/predictions
           --reports reports/monitor --alerts data/alerts --metrics reports/monitor.json
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from creditrisk.models.policy import Condition
from creditrisk.models.pyfunc import load_scorer_folder
from creditrisk.models.scorer import Scorer
from creditrisk.monitoring import drift
from creditrisk.monitoring import warnings as ew
from creditrisk.monitoring.signals import days_to_next_due

from pipelines.common import setup_logging, write_json
from pipelines.params import MonitorParams, load_params
from pipelines.snapshots import snapshot_features

log = logging.getLogger("pipelines.monitor")


def main(
    validated: Path,
    scorer_dir: Path,
    split: Path,
    predictions: Path,
    reports: Path,
    alerts: Path,
    metrics_file: Path,
) -> None:
    params = load_params()
    m = params.monitor
    as_of = m.as_of or params.data.end_date + timedelta(days=1)
    previous = (pd.Timestamp(as_of) - pd.DateOffset(months=m.previous_months)).date()
    scorer = load_scorer_folder(scorer_dir)
    rules = _rules(m)

    features, _ = snapshot_features(validated, params, [previous, as_of])
    when = pd.to_datetime(features["as_of"]).dt.date
    now, before = features[when == as_of], features[when == previous]
    if now.empty:
        raise ValueError(
            f"no customer has a snapshot at monitor.as_of {as_of}: is it after the data's "
            "start, and are there customers not yet in default?"
        )
    log.info("scoring %d customers at %s and %d at %s", len(now), as_of, len(before), previous)
    scored_now = _score(scorer, now)
    scored_before = _score(scorer, before)

    preds = pd.read_parquet(predictions / "predictions.parquet")
    reference, reference_pd, span = _reference(split, preds, m)
    features_used = list(scorer.spec.features)
    stability = drift.stability_table(reference, now, features_used, bins=m.psi_bins)
    score_psi = drift.stability_table(
        pd.DataFrame({"pd": reference_pd}), scored_now[["pd"]], ["pd"], bins=m.psi_bins
    )["psi"].iloc[0]
    monthly = drift.default_rate_by_month(preds)
    grades = list(scorer.policy.grades)
    joined = _join(scored_now, scored_before)
    matrix = drift.migration_matrix(joined["previous_grade"], joined["grade"], grades)

    signals = _signals(now, joined, validated, as_of, grades)
    usable = [r for r in rules if all(c.feature in signals.columns for c in r.when)]
    skipped = [r.name for r in rules if r not in usable]
    if skipped:
        log.warning(
            "early-warning rule(s) %s left out: they use signals this data does not have",
            skipped,
        )
    rules = usable
    fired = ew.evaluate_warnings(signals, rules)
    table = _alerts(joined, fired, as_of)
    counts = ew.level_counts(table["level"])
    metrics = {
        "as_of": str(as_of),
        "previous_as_of": str(previous),
        "model_version": scorer.model_version,
        "customers": len(joined),
        "reference": {"as_of_from": span[0], "as_of_to": span[1], "rows": len(reference)},
        "psi": {
            "score": float(score_psi),
            "features_above_0_25": int((stability["psi"] > 0.25).sum()),
            "max_feature": float(stability["psi"].max()) if len(stability) else 0.0,
            "mean_feature": float(stability["psi"].mean()) if len(stability) else 0.0,
        },
        "mean_pd": float(scored_now["pd"].mean()),
        "migration": drift.migration_summary(matrix),
        "alerts": {
            **counts,
            "total": int(sum(counts.values())),
            "share": float(sum(counts.values()) / max(len(joined), 1)),
            "frozen_limits": int(table["action"].str.contains(ew.FREEZE).sum()),
        },
        "rules_fired": {
            r.name: int(fired["rules"].str.split(",").map(lambda x, n=r.name: n in x).sum())
            for r in rules
        },
        "default_rate_last_known": _last_known(monthly),
        "rules_skipped": skipped,
    }
    with _replace_dirs(reports, alerts) as (rep, al):
        stability.to_csv(rep / "csi.csv", index=False)
        monthly.to_csv(rep / "default_rate.csv", index=False)
        matrix.to_csv(rep / "migration.csv")
        write_json(metrics, rep / "metrics.json")  # a copy beside the tables and plots
        _plots(rep, stability, float(score_psi), monthly, matrix, counts)
        table.to_parquet(al / "alerts.parquet", index=False)
    write_json(metrics, metrics_file)
    log.info(
        "as of %s: score PSI %.3f, %d feature(s) above 0.25; alerts %s (%d limits frozen)",
        as_of,
        score_psi,
        metrics["psi"]["features_above_0_25"],
        counts,
        metrics["alerts"]["frozen_limits"],
    )


def _reference(
    split: Path, preds: pd.DataFrame, m: MonitorParams
) -> tuple[pd.DataFrame, np.ndarray, tuple[str, str]]:
    """Feature rows and PDs of the reference population (default: the train period)."""
    frames = [
        pd.read_parquet(split / f"{name}.parquet") for name in ("train", "calibration", "test")
    ]
    rows = pd.concat(frames, ignore_index=True)
    if m.reference is None:
        train = frames[0]
        lo, hi = train["as_of"].min(), train["as_of"].max()
    else:
        lo, hi = pd.Timestamp(m.reference[0]), pd.Timestamp(m.reference[1])
    rows = rows[(rows["as_of"] >= lo) & (rows["as_of"] <= hi)]
    pds = preds.loc[(preds["as_of"] >= lo) & (preds["as_of"] <= hi), "pd"].to_numpy()
    if rows.empty:
        raise ValueError(
            f"monitor.reference {lo.date()}..{hi.date()} holds no labelled snapshots; choose "
            "dates inside the train, calibration or test periods"
        )
    return rows, pds, (str(lo.date()), str(hi.date()))


def _rules(m: MonitorParams) -> list[ew.WarningRule]:
    return [
        ew.WarningRule(
            name=r.name,
            level=r.level,
            actions=tuple(r.actions),
            when=tuple(Condition(c.feature, c.op, c.value) for c in r.when),
        )
        for r in m.rules
    ]


def _score(scorer: Scorer, rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        empty = scorer.score(rows.head(0))
        return empty.assign(as_of=pd.Series(dtype="datetime64[us]"))
    out = scorer.score(rows.reset_index(drop=True))
    out["as_of"] = rows["as_of"].to_numpy()
    return out


def _join(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    prev = before[["customer_id", "pd", "grade", "credit_limit"]].rename(
        columns={
            "pd": "previous_pd",
            "grade": "previous_grade",
            "credit_limit": "previous_credit_limit",
        }
    )
    cols = ["customer_id", "as_of", "pd", "grade", "credit_limit", "limit_policy"]
    return now[cols].merge(prev, on="customer_id", how="left", validate="one_to_one")


def _signals(
    now: pd.DataFrame, joined: pd.DataFrame, validated: Path, as_of: date, grades: list[str]
) -> pd.DataFrame:
    signals = now.drop(columns=["as_of"]).merge(
        joined.drop(columns=["as_of"]), on="customer_id", how="right", validate="one_to_one"
    )
    signals["pd_ratio"] = signals["pd"] / signals["previous_pd"]
    signals["grade_change"] = ew.grade_change(signals["previous_grade"], signals["grade"], grades)
    if (validated / "repayments.parquet").exists() and (validated / "loans.parquet").exists():
        due = days_to_next_due(
            pd.read_parquet(validated / "loans.parquet"),
            pd.read_parquet(validated / "repayments.parquet"),
            as_of=as_of,
        )
        signals = signals.merge(due, left_on="customer_id", right_index=True, how="left")
    else:
        signals["days_to_next_due"] = np.nan
    return signals


def _alerts(joined: pd.DataFrame, fired: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per customer with a warning, most severe first, then by customer_id."""
    table = pd.concat([joined.reset_index(drop=True), fired.reset_index(drop=True)], axis=1)
    table = table[table["level"] != ""].copy()
    table["new_credit_limit"] = ew.new_limits(table["credit_limit"], table["actions"])
    table["as_of"] = pd.Timestamp(as_of)
    order = {lvl: i for i, lvl in enumerate(reversed(ew.LEVELS))}
    table = table.assign(_o=table["level"].map(order)).sort_values(["_o", "customer_id"])
    cols = [
        "customer_id",
        "as_of",
        "level",
        "rules",
        "actions",
        "previous_credit_limit",
        "new_credit_limit",
        "pd",
        "previous_pd",
        "grade",
        "previous_grade",
    ]
    return table[cols].rename(columns={"actions": "action"}).reset_index(drop=True)


def _last_known(monthly: pd.DataFrame) -> dict[str, Any]:
    if monthly.empty:
        return {}
    last = monthly.iloc[-1]
    return {
        "as_of": str(pd.Timestamp(last["as_of"]).date()),
        "observed_rate": float(last["observed_rate"]),
        "mean_pd": float(last["mean_pd"]),
        "observed_over_predicted": float(last["observed_over_predicted"]),
    }


@contextmanager
def _replace_dirs(*finals: Path) -> Iterator[tuple[Path, ...]]:
    """Yield empty sibling folders; they replace ``finals`` only if the block succeeds."""
    temps = []
    for final in finals:
        final.parent.mkdir(parents=True, exist_ok=True)
        temps.append(Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent)))
    try:
        yield tuple(temps)
    except BaseException:
        for t in temps:
            shutil.rmtree(t, ignore_errors=True)
        raise
    for final, tmp in zip(finals, temps, strict=True):
        old = final.with_name(f".{final.name}.old")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)


def _plots(
    out: Path,
    stability: pd.DataFrame,
    score_psi: float,
    monthly: pd.DataFrame,
    matrix: pd.DataFrame,
    counts: Mapping[str, int],
) -> None:
    fig, ax = plt.subplots(figsize=(7, 5))
    top = stability.head(15).iloc[::-1]
    ax.barh(top["variable"], top["psi"], color="#3b6ea8")
    for x, style in ((0.1, ":"), (0.25, "--")):
        ax.axvline(x, color="red", linestyle=style)
    ax.set(xlabel="PSI against the training population", title=f"Score PSI {score_psi:.3f}")
    fig.tight_layout()
    fig.savefig(out / "psi.png", dpi=110)

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
    fig.savefig(out / "migration.png", dpi=110)

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
    fig.savefig(out / "drift_and_alerts.png", dpi=110)
    plt.close("all")


if __name__ == "__main__":
    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("validated", "scorer", "split", "predictions", "reports", "alerts", "metrics"):
        ap.add_argument(f"--{flag}", type=Path, required=True)
    a = ap.parse_args()
    main(a.validated, a.scorer, a.split, a.predictions, a.reports, a.alerts, a.metrics)
