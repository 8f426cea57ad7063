"""Stage explain: SHAP explanations of the exported scorer's model on the test period.

Writes under ``reports/explain/``: global importance (mean |SHAP|) as a table and a plot, a
beeswarm summary, dependence plots of the top features, how often each reason code appears
among declined or limited customers, and ``summary.json`` with the additivity check
(contributions + expected value = margin). The scored test decisions go to
``data/explain/decisions.parquet`` for the model card, and recourse for the declined or
limited ones (the smallest change in actionable features reaching a better grade, each
checked through the exported pyfunc model) to ``data/explain/recourse.parquet``.
Everything is logged to the MLflow run of this pipeline run.

Usage: python -m pipelines.explain --scorer data/candidate --split data/split
           --dictionary data/features/dictionary.json --models data/models
           --out reports/explain --decisions data/explain
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import mlflow.pyfunc
import pandas as pd
from matplotlib.figure import Figure

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.models.explain import decision_outcome
from creditrisk.models.explain_plots import explain_figures
from creditrisk.models.explain_report import ExplainSummary, explain_test_period, explained_rows
from creditrisk.models.inputs import conform_inputs
from creditrisk.models.pyfunc import load_scorer_folder
from creditrisk.models.recourse import find_recourse, lever_features, levers, verify_recourse
from creditrisk.models.scorer import Scorer
from pipelines.support import tracking
from pipelines.support.artifacts import (
    ExplainReports,
    ModelsDir,
    SplitDir,
    decisions_file,
    read_json,
    recourse_file,
)
from pipelines.support.files import iter_frames, read_rows, reset_dir, write_json, write_table
from pipelines.support.params import load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.explain")
BATCH_ROWS = 250_000  # test rows scored at a time


def main(
    scorer: Path, split: Path, dictionary: Path, models: Path, out: Path, decisions: Path
) -> None:
    e = load_params().explain
    period = SplitDir(split).period("test")
    keys = pd.read_parquet(period, columns=list(SNAPSHOT_KEY))
    model, entries = load_scorer_folder(scorer), read_json(dictionary)
    log.info("explaining up to %d of %d test rows with shap.TreeExplainer", e.max_rows, len(keys))
    result = explain_test_period(
        read_rows(period, explained_rows(len(keys), max_rows=e.max_rows, seed=e.seed)),
        (frame for _, frame in iter_frames(period, BATCH_ROWS)),
        model,
        entries,
        tolerance=e.additivity_tolerance,
    )
    reset_dir(out)
    target = ExplainReports(out)
    result.importance.to_csv(target.importance, index=False)
    result.frequency.to_csv(target.reason_frequency, index=False)
    figures = explain_figures(
        result, plot_rows=e.plot_rows, dependence_top=e.dependence_top, seed=e.seed
    )
    _save(figures, out)
    summary = result.summary
    reset_dir(decisions)
    write_table(result.decisions, decisions_file(decisions))
    recourse, searched, declined = _recourse(
        scorer,
        model,
        (period, keys),
        result.decisions,
        entries,
        max_rows=e.recourse_rows,
        seed=e.seed,
    )
    write_table(recourse, recourse_file(decisions))
    summary = dataclasses.replace(
        summary,
        recourse_declined_or_limited=declined,
        recourse_searched=searched,
        recourse_found=len(recourse),
    )
    write_json(summary.to_dict(), target.summary)
    _track(models, out, e.model_dump(), summary)
    log.info(
        "top features: %s; additivity error %.2e log-odds",
        ", ".join(summary.top_features[:5]),
        summary.additivity_max_error,
    )


def _track(models: Path, out: Path, settings: dict[str, Any], summary: ExplainSummary) -> None:
    with tracking.resume_run(ModelsDir(models).run_file):
        tracking.log_settings(tracking.flatten("explain", settings))
        tracking.log_numeric_metrics(
            {
                "explain.additivity_max_error": summary.additivity_max_error,
                "explain.pred_contrib_max_difference": summary.pred_contrib_max_difference,
            }
        )
        mlflow.log_artifacts(str(out), artifact_path="reports/explain")


def _recourse(
    scorer: Path,
    model: Scorer,
    test: tuple[Path, pd.DataFrame],
    decisions: pd.DataFrame,
    dictionary: dict[str, Any],
    *,
    max_rows: int,
    seed: int,
) -> tuple[pd.DataFrame, int, int]:
    """Recourse for the test decisions that were declined or limited (a seeded sample of
    ``max_rows`` of them beyond that), checked by scoring the changed rows through the
    exported pyfunc model; with the number searched and the number declined or limited.
    ``test``: the period's file and keys; the grids come from its actionable columns,
    and only the searched rows are read whole.

    Raises:
        RecourseError: a change did not reach its target grade through the pyfunc model.
    """
    period, keys = test
    outcome = decision_outcome(decisions["credit_limit"], decisions["limit_policy"])
    chosen = decisions.loc[(outcome != "approved").to_numpy(), list(SNAPSHOT_KEY)]
    declined = len(chosen)
    if declined > max_rows:
        chosen = chosen.sample(n=max_rows, random_state=seed).sort_index()
    wanted = keys.merge(chosen.assign(_wanted=True), on=list(SNAPSHOT_KEY), how="left")
    rows = read_rows(period, wanted["_wanted"].notna().to_numpy())
    reference = pd.read_parquet(period, columns=lever_features(model, dictionary))
    found = find_recourse(model, rows, levers(model, dictionary, reference))
    pyfunc = mlflow.pyfunc.load_model(str(scorer))
    schema = pyfunc.metadata.get_input_schema()
    inputs = [c.name for c in schema.inputs]
    verify_recourse(
        lambda frame: pyfunc.predict(conform_inputs(frame[inputs], schema)),
        rows,
        found,
        model.policy,
    )
    log.info(
        "recourse for %d of %d declined or limited test decisions searched (of %d), each "
        "checked through the pyfunc model", len(found), len(rows), declined,
    )  # fmt: skip
    return found, len(rows), declined


def _save(figures: dict[str, Figure], out: Path) -> None:
    for name, fig in figures.items():
        fig.savefig(ExplainReports(out).figure(name), dpi=110, bbox_inches="tight")
        plt.close(fig)


if __name__ == "__main__":
    cli(main)
