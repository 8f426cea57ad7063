"""Features of the raw history at given snapshot dates, for the stages that score
(score, monitor): the same Ibis expressions as the features stage, on the configured engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from creditrisk.contract import TABLES
from creditrisk.features.build import build_features
from creditrisk.features.engine import connect
from creditrisk.features.labels import as_of_frame
from pipelines.support.params import FeatureParams, Params
from pipelines.support.settings import feature_settings


def connect_engine(p: FeatureParams) -> Any:
    """An Ibis connection to the engine named in the features section."""
    return connect(
        p.engine,
        duckdb_config=p.duckdb.model_dump(),
        spark_master=p.spark.master,
        spark_conf=p.spark.conf,
    )


def snapshot_features(
    validated: Path, params: Params, as_of_dates: Sequence[date], *, horizon_months: int = 1
) -> tuple[pd.DataFrame, int]:
    """Feature rows at each date (customers created later or already in default at a date
    have no row for it) and the number of customers in the data. ``default`` and
    ``label_complete`` are the labels of a ``horizon_months`` window (derived from the
    repayments; pass ``labels.horizon_months`` where the labels are used)."""
    p = params.features
    con = connect_engine(p)
    # Labels are not needed to score: outcomes, when present, do not set the snapshot.
    present = [t for t in TABLES if t != "outcomes" and (validated / f"{t}.parquet").exists()]
    tables = {t: con.read_parquet(str(validated / f"{t}.parquet")) for t in present}
    plan = build_features(
        tables,
        as_of_dates=ibis.memtable(as_of_frame(list(as_of_dates), horizon_months=horizon_months)),
        settings=feature_settings(params),
    )
    features = plan.table.to_pandas()
    n_customers = int(tables["customers"].count().to_pyarrow().as_py())
    return features, n_customers


def read_optional(validated: Path, table: str) -> pd.DataFrame | None:
    """A validated table, or None when the data has no such table."""
    path = validated / f"{table}.parquet"
    return pd.read_parquet(path) if path.exists() else None
