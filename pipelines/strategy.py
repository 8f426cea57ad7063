"""Stage strategy: the tables a credit team sets its policy with, and the checks of the
default definition.

- ``reports/strategy/cutoffs.csv``: approval rate, bad rate (Wilson 95%), limit granted
  and expected loss for a grid of PD cut-offs on the test period (the policy's marked);
- ``reports/strategy/grades.csv``: the same by final grade, formula and model limits side
  by side;
- ``reports/iv.csv``: information value and optimal binning of every available feature on
  the train period, beside the dictionary's direction (disagreements flagged);
- ``reports/vintage.csv`` and ``reports/roll_rates.csv``: cumulative 30+/60+/90+ rates by
  months on book per origination month, and month-to-month delinquency transitions;
- ``reports/strategy/summary.json``: the policy's cut-off in figures, the IV leaders and
  the default-definition check, for the model card; plots beside.

Usage: python -m pipelines.strategy --scorer data/candidate --split data/split
           --validated data/validated --dictionary data/features/dictionary.json
           --out reports/strategy --iv reports/iv.csv --vintage reports/vintage.csv
           --roll-rates reports/roll_rates.csv
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from creditrisk.models import strategy as st
from creditrisk.models.pyfunc import load_scorer_folder
from creditrisk.reports import portfolio
from creditrisk.reports.strategy_report import StrategySummary, strategy_figures, summarise
from pipelines.support import samples
from pipelines.support.artifacts import SplitDir, StrategyReports, read_json
from pipelines.support.files import iter_frames, reset_dir, write_json
from pipelines.support.params import Params, load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.strategy")
BATCH_ROWS = 250_000  # test rows decided at a time


def main(
    scorer: Path,
    split: Path,
    validated: Path,
    dictionary: Path,
    out: Path,
    iv: Path,
    vintage: Path,
    roll_rates: Path,
) -> None:
    params = load_params()
    model, periods = load_scorer_folder(scorer), SplitDir(split)
    cutoffs, grades = st.decision_tables(
        model,
        (frame for _, frame in iter_frames(periods.period("test"), BATCH_ROWS)),
        cutoffs=params.strategy.cutoffs,
    )
    ivs = _iv(periods, read_json(dictionary), params)
    end = params.data.end_date
    has_loans = (validated / "repayments.parquet").exists() and (
        validated / "loans.parquet"
    ).exists()
    vint = portfolio.vintage_curves(validated, end_date=end) if has_loans else pd.DataFrame()
    rolls = portfolio.roll_rates(validated, end_date=end) if has_loans else pd.DataFrame()
    summary = summarise(cutoffs, grades, ivs, vint, rolls, labels=params.labels.model_dump())
    _write(summary, cutoffs, grades, ivs, vint, rolls, (out, iv, vintage, roll_rates))
    log.info("%s", summary.headline)


def _iv(periods: SplitDir, dictionary: dict[str, Any], params: Params) -> pd.DataFrame:
    """Information values on the train period, a uniform hash sample of about
    ``strategy.iv_rows`` of it beyond that (only those rows are read)."""
    s = params.strategy
    n = samples.count(periods, "train")
    rows = samples.read_sample(periods, "train", share=s.iv_rows / max(n, 1), seed=s.seed)
    log.info("information value of every feature on %d of %d train-period rows", len(rows), n)
    features = [f for f, e in dictionary.items() if e.get("available") and f in rows.columns]
    categorical = [f for f in features if not pd.api.types.is_numeric_dtype(rows[f])]
    return st.information_values(
        rows, rows["default"].to_numpy("float64"), dictionary, features, categorical=categorical
    )


def _write(
    summary: StrategySummary,
    cutoffs: pd.DataFrame,
    grades: pd.DataFrame,
    ivs: pd.DataFrame,
    vint: pd.DataFrame,
    rolls: pd.DataFrame,
    paths: tuple[Path, Path, Path, Path],
) -> None:
    out, iv, vintage, roll_rates = paths
    reset_dir(out)
    target = StrategyReports(out)
    cutoffs.to_csv(target.cutoffs, index=False)
    grades.to_csv(target.grades, index=False)
    ivs.to_csv(iv, index=False)
    vint.to_csv(vintage, index=False)
    rolls.to_csv(roll_rates, index=False)
    for name, fig in strategy_figures(cutoffs, grades, vint, rolls).items():
        fig.savefig(target.figure(name), dpi=110, bbox_inches="tight")
        plt.close(fig)
    write_json(summary.to_dict(), target.summary)


if __name__ == "__main__":
    cli(main)
