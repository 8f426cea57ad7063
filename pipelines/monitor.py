"""Stage monitor: the served champion on the newest snapshot and on matured cohorts,
graded early warnings kept in the action store, and retraining triggers.

Scores the snapshot at ``monitor.as_of`` (default: the day after the data's end) and the
one ``monitor.previous_months`` before it with the champion (``data/scorer``), then:

- PSI of the score and of every feature (CSI) against the reference population (the
  train period, scored by the champion);
- a backtest: the champion on every monthly cohort whose label window has ended since the
  last snapshot it was trained on, predicted against observed default rate and AUC per
  month and per grade;
- the grade migration matrix between the two snapshots;
- early-warning rules from params: per customer the highest level that fired, the rules,
  the actions, and the previous and new credit limit (0 where the limit is frozen);
- the action store (``--actions``, :mod:`creditrisk.monitoring.actions`): the alerts and
  freezes appended (a date already recorded adds nothing), freezes lifted by the cure
  rule, records past the retention period removed;
- retraining triggers (score PSI, observed / predicted, AUC drop against the champion's
  test AUC): ``retrain`` in ``reports/monitor.json`` says whether one fired.

Outputs: ``reports/monitor/`` (``metrics.json``, tables, plots),
``data/alerts/alerts.parquet`` (this date's alerts) and the metrics in
``reports/monitor.json``. The folders are replaced only when the whole run succeeds.

Usage: python -m pipelines.monitor --validated data/validated --scorer data/scorer
           --split data/split --predictions data/predictions --actions data/actions
           --reports reports/monitor --alerts data/alerts --metrics reports/monitor.json
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from creditrisk.features.split import SPLITS
from creditrisk.models.pyfunc import load_scorer_folder, scorer_lineage
from creditrisk.models.scorer import Scorer
from creditrisk.monitoring.actions import ActionStore
from creditrisk.monitoring.backtest import Backtest, backtest, matured_cohorts
from creditrisk.monitoring.plots import backtest_figure, monitoring_figures
from creditrisk.monitoring.report import (
    Monitoring,
    ReferencePopulation,
    StoreSummary,
    completed,
    monitor_snapshot,
    pd_rows,
    reference_population,
)
from creditrisk.schemas.rules import usable_rules
from creditrisk.schemas.warnings import CureRule
from pipelines.support import samples
from pipelines.support.action_store import owners, store_url
from pipelines.support.artifacts import SplitDir, alerts_file, predictions_file
from pipelines.support.files import atomic_dirs, write_json
from pipelines.support.params import Params, load_params
from pipelines.support.snapshot_features import read_optional, scored_snapshot
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.monitor")


def main(
    validated: Path,
    scorer: Path,
    split: Path,
    predictions: Path,
    actions: Path,
    reports: Path,
    alerts: Path,
    metrics: Path,
) -> None:
    params = load_params()
    m = params.monitor
    as_of = m.as_of or params.data.end_date + timedelta(days=1)
    previous = (pd.Timestamp(as_of) - pd.DateOffset(months=m.previous_months)).date()
    # On Spark the snapshots are scored where their features were computed.
    snap = scored_snapshot(validated, params, [previous, as_of], scorer=scorer, reasons=False)
    when = pd.to_datetime(snap.features["as_of"]).dt.date.to_numpy()
    now, before = when == as_of, when == previous
    champion = load_scorer_folder(scorer)
    log.info("scoring the snapshots at %s and %s with %s", as_of, previous, champion.model_version)
    d = snap.decisions
    result = monitor_snapshot(
        snap.features[now],
        snap.features[before],
        decided=None if d is None else (d[now], d[before]),
        scorer=champion,
        reference=_reference(
            SplitDir(split), champion, m.reference, max_rows=m.reference_rows, seed=m.seed
        ),
        predictions=pd.read_parquet(predictions_file(predictions)),
        loans=read_optional(validated, "loans"),
        repayments=read_optional(validated, "repayments"),
        rules=m.rules,
        as_of=as_of,
        previous=previous,
        psi_bins=m.psi_bins,
    )
    tables = _backtest(validated, scorer, champion, params, as_of, SplitDir(split))
    store = ActionStore(store_url(actions, m.store_url))
    final = _write(result, tables, store, params, validated, (reports, alerts, metrics))
    _log_summary(final)


def _test_end(split: SplitDir) -> str:
    as_of = pd.read_parquet(split.period("test"), columns=["as_of"])["as_of"].max()
    return str(pd.Timestamp(as_of).date())


def _reference(
    split: SplitDir,
    champion: Scorer,
    span: tuple[date, date] | None,
    *,
    max_rows: int,
    seed: int,
) -> ReferencePopulation:
    """The reference population (the train period by default; else the labelled snapshots
    with as_of in ``span``), a hash sample beyond ``max_rows``, with the champion's PDs."""
    if span is None:
        as_of = pd.read_parquet(split.period("train"), columns=["as_of"])["as_of"]
        lo, hi, names = as_of.min(), as_of.max(), ["train"]
    else:
        lo, hi, names = pd.Timestamp(span[0]), pd.Timestamp(span[1]), list(SPLITS)
    rows, total = samples.read_span(split, names, (lo, hi), max_rows=max_rows, seed=seed)
    if len(rows) < total:
        log.info("reference population: %d of %d snapshots (hash sample)", len(rows), total)
    return reference_population(rows, champion, span=(lo, hi), rows_in_span=total)


def _backtest(
    validated: Path, scorer: Path, champion: Scorer, params: Params, as_of: date, split: SplitDir
) -> Backtest:
    """The champion on every cohort matured since the last snapshot it was trained on
    (its lineage says; else the last as_of of this split's test period)."""
    lineage = scorer_lineage(scorer)
    through = date.fromisoformat(lineage.get("labelled_through") or _test_end(split))
    cohorts = matured_cohorts(
        through,
        end_date=params.data.end_date,
        horizon_months=params.labels.horizon_months,
        until=as_of,
    )
    rows, decided = pd.DataFrame(), None
    if cohorts and (validated / "repayments.parquet").exists():
        h = params.labels.horizon_months
        snap = scored_snapshot(
            validated, params, cohorts, horizon_months=h, scorer=scorer, reasons=False
        )
        complete = snap.features["label_complete"].astype(bool).to_numpy()
        rows = snap.features[complete].reset_index(drop=True)
        decided = None if snap.decisions is None else snap.decisions[complete]
    scored = pd_rows(champion, rows, decided=decided)
    scored["default"] = rows["default"].to_numpy() if len(rows) else []
    test_auc = lineage.get("test_auc")
    result = backtest(
        scored,
        labelled_through=through,
        test_auc=float(test_auc) if test_auc else None,
        grades=list(champion.policy.grades),
    )
    s = result.summary
    log.info(
        "backtest: %d matured cohort(s) since %s, %d snapshots, %d defaults",
        s.cohorts,
        through,
        s.rows,
        s.defaults,
    )
    return result


def _record(
    store: ActionStore, result: Monitoring, params: Params, validated: Path
) -> StoreSummary:
    """Alerts and freezes appended, cures applied, old records removed."""
    m, as_of = params.monitor, date.fromisoformat(result.report.as_of)
    try:
        owner_of = owners(validated, m.owner_column)
        added, already, frozen = store.record(
            result.alerts, as_of=as_of, owners=owner_of, model_version=result.report.model_version
        )
        cure = _usable_cure(m.cure, result.signals.columns)
        cured = [] if cure is None else store.apply_cures(result.signals, cure, as_of=as_of)
        removed = store.apply_retention(as_of - timedelta(days=params.retention.actions_days))
        active = store.active_freezes(as_of)
    finally:
        store.close()
    return StoreSummary(
        alerts_new=added,
        alerts_already_recorded=already,
        freezes_new=frozen,
        freezes_lifted_by_cure=len(cured),
        freezes_active=len(active),
        owner_column=m.owner_column,
        retention_removed=removed,
    )


def _usable_cure(cure: CureRule | None, columns: pd.Index) -> CureRule | None:
    if cure is None:
        return None
    kept, skipped = usable_rules([cure], columns)
    if skipped:
        log.warning("cure rule %s left out: it uses signals this data does not have", skipped)
    return kept[0] if kept else None


def _write(
    result: Monitoring,
    tables: Backtest,
    store: ActionStore,
    params: Params,
    validated: Path,
    outputs: tuple[Path, Path, Path],
) -> Monitoring:
    """Tables and figures first, then the action store, then the report: a run that fails
    before the end leaves the previous outputs and the store as they were."""
    reports, alerts, metrics = outputs
    with atomic_dirs(reports, alerts) as (rep, al):
        result.stability.to_csv(rep / "csi.csv", index=False)
        result.monthly.to_csv(rep / "default_rate.csv", index=False)
        result.migration.to_csv(rep / "migration.csv")
        tables.by_month.to_csv(rep / "backtest_by_month.csv", index=False)
        tables.by_grade.to_csv(rep / "backtest_by_grade.csv", index=False)
        figures = monitoring_figures(result)
        figures["backtest"] = backtest_figure(
            tables.by_month, tables.by_grade, f"Cohorts matured by {result.report.as_of}"
        )
        for name, fig in figures.items():
            fig.savefig(rep / f"{name}.png", dpi=110)
            plt.close(fig)
        result.alerts.to_parquet(alerts_file(al), index=False)
        stored = _record(store, result, params, validated)
        final = completed(result, tables, stored, params.monitor.triggers)
        write_json(final.report.to_dict(), rep / "metrics.json")  # beside the tables
    write_json(final.report.to_dict(), metrics)
    return final


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
    if r.store is not None:
        s = r.store
        log.info(
            "action store: %d new alert(s) (%d already recorded), %d new freeze(s), %d lifted "
            "by the cure rule, %d active",
            s.alerts_new,
            s.alerts_already_recorded,
            s.freezes_new,
            s.freezes_lifted_by_cure,
            s.freezes_active,
        )
    for t in r.triggers:
        if t.fired:
            log.warning(
                "retraining trigger %s fired: %s (threshold %s)", t.name, t.text, t.threshold
            )


if __name__ == "__main__":
    cli(main)
