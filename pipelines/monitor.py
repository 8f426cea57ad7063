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
are replaced only when the whole run succeeds, so a failed run leaves the previous
outputs intact; the same inputs give the same alerts.

Usage: python -m pipelines.monitor --validated data/validated --scorer data/scorer
           --split data/split --predictions data/predictions
           --reports reports/monitor --alerts data/alerts --metrics reports/monitor.json
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from creditrisk.features.split import SPLITS
from creditrisk.models.pyfunc import load_scorer_folder
from creditrisk.monitoring.plots import monitoring_figures
from creditrisk.monitoring.report import (
    Monitoring,
    ReferencePopulation,
    monitor_snapshot,
    reference_population,
)
from pipelines.artifacts import SplitDir, alerts_file, predictions_file
from pipelines.common import atomic_dirs, write_json
from pipelines.params import load_params
from pipelines.snapshots import read_optional, snapshot_features
from pipelines.stage import cli

log = logging.getLogger("pipelines.monitor")


def main(
    validated: Path,
    scorer: Path,
    split: Path,
    predictions: Path,
    reports: Path,
    alerts: Path,
    metrics: Path,
) -> None:
    params = load_params()
    m = params.monitor
    as_of = m.as_of or params.data.end_date + timedelta(days=1)
    previous = (pd.Timestamp(as_of) - pd.DateOffset(months=m.previous_months)).date()
    features, _ = snapshot_features(validated, params, [previous, as_of])
    when = pd.to_datetime(features["as_of"]).dt.date
    log.info("scoring the snapshots at %s and %s", as_of, previous)
    preds = pd.read_parquet(predictions_file(predictions))
    result = monitor_snapshot(
        features[when == as_of],
        features[when == previous],
        scorer=load_scorer_folder(scorer),
        reference=_reference(SplitDir(split), preds, m.reference),
        predictions=preds,
        loans=read_optional(validated, "loans"),
        repayments=read_optional(validated, "repayments"),
        rules=m.rules,
        as_of=as_of,
        previous=previous,
        psi_bins=m.psi_bins,
    )
    _write(result, reports, alerts, metrics)
    _log_summary(result)


def _reference(
    split: SplitDir, preds: pd.DataFrame, span: tuple[date, date] | None
) -> ReferencePopulation:
    periods = split.read_all()
    return reference_population(
        pd.concat([periods[n] for n in SPLITS], ignore_index=True),
        preds,
        span=None if span is None else (pd.Timestamp(span[0]), pd.Timestamp(span[1])),
        train=periods["train"],
    )


def _write(result: Monitoring, reports: Path, alerts: Path, metrics: Path) -> None:
    with atomic_dirs(reports, alerts) as (rep, al):
        result.stability.to_csv(rep / "csi.csv", index=False)
        result.monthly.to_csv(rep / "default_rate.csv", index=False)
        result.migration.to_csv(rep / "migration.csv")
        write_json(result.report.to_dict(), rep / "metrics.json")  # beside the tables
        for name, fig in monitoring_figures(result).items():
            fig.savefig(rep / f"{name}.png", dpi=110)
            plt.close(fig)
        result.alerts.to_parquet(alerts_file(al), index=False)
    write_json(result.report.to_dict(), metrics)


def _log_summary(result: Monitoring) -> None:
    r = result.report
    if r.rules_skipped:
        log.warning(
            "early-warning rule(s) %s left out: they use signals this data does not have",
            list(r.rules_skipped),
        )
    log.info(
        "as of %s: %d customers, score PSI %.3f, %d feature(s) above 0.25; alerts light %d, "
        "medium %d, severe %d (%d limits frozen)",
        r.as_of,
        r.customers,
        r.psi.score,
        r.psi.features_above_0_25,
        r.alerts.light,
        r.alerts.medium,
        r.alerts.severe,
        r.alerts.frozen_limits,
    )


if __name__ == "__main__":
    cli(main)
