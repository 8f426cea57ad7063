"""Features of the raw history at given snapshot dates, for the stages that score
(score, monitor): the same Ibis expressions as the features stage, on the configured engine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY, TABLES
from creditrisk.features.build import build_features
from creditrisk.features.engine import connect
from creditrisk.features.labels import as_of_frame
from creditrisk.models.spark_scoring import spark_decisions
from pipelines.support.params import FeatureParams, Params
from pipelines.support.settings import feature_settings

log = logging.getLogger("pipelines.support.snapshot_features")


def connect_engine(p: FeatureParams) -> Any:
    """An Ibis connection to the engine named in the features section."""
    return connect(
        p.engine,
        duckdb_config=p.duckdb.model_dump(),
        spark_master=p.spark.master,
        spark_conf=p.spark.conf,
    )


@dataclass(frozen=True)
class Snapshot:
    """Feature rows at the snapshot dates, the customers in the data, and (engine spark,
    a scorer given) the scorer's decisions for the same rows, in the same order, computed
    on the executors (:func:`creditrisk.models.spark_scoring.spark_decisions`)."""

    features: pd.DataFrame
    customers: int
    decisions: pd.DataFrame | None = None


def snapshot_features(
    validated: Path, params: Params, as_of_dates: Sequence[date], *, horizon_months: int = 1
) -> tuple[pd.DataFrame, int]:
    """Feature rows at each date (customers created later or already in default at a date
    have no row for it) and the number of customers in the data. ``default`` and
    ``label_complete`` are the labels of a ``horizon_months`` window (derived from the
    repayments; pass ``labels.horizon_months`` where the labels are used)."""
    snap = scored_snapshot(validated, params, as_of_dates, horizon_months=horizon_months)
    return snap.features, snap.customers


def scored_snapshot(
    validated: Path,
    params: Params,
    as_of_dates: Sequence[date],
    *,
    horizon_months: int = 1,
    scorer: Path | None = None,
    reasons: bool = True,
) -> Snapshot:
    """:func:`snapshot_features`, and with ``features.engine: spark`` and a ``scorer``
    (an exported pyfunc folder) its decisions on the same rows, scored on Spark where
    the features were computed (``reasons=False``: without reason codes). On DuckDB the
    caller scores the rows itself (``decisions`` is None)."""
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
    n_customers = int(tables["customers"].count().to_pyarrow().as_py())
    if p.engine != "spark" or scorer is None:
        return Snapshot(plan.table.to_pandas(), n_customers)
    return _on_spark(con, plan.table, scorer, reasons=reasons, customers=n_customers)


def _on_spark(con: Any, table: Any, scorer: Path, *, reasons: bool, customers: int) -> Snapshot:
    """The feature rows computed once on Spark (kept there while they are scored), brought
    back with the types an Ibis read gives, and the scorer's decisions aligned to them."""
    from ibis.backends.pyspark.converter import PySparkPandasData

    con._run_pre_execute_hooks(table)  # registers the in-memory tables (as Ibis does)
    frame = con._session.sql(con.compile(table)).persist()
    try:
        features = table.__pandas_result__(
            PySparkPandasData.convert_table(frame.toPandas(), table.schema())
        )
        decisions = spark_decisions(frame, scorer, keys=SNAPSHOT_KEY, reasons=reasons)
    finally:
        frame.unpersist()
    log.info("%d feature rows computed and scored on Spark (spark_udf)", len(features))
    return Snapshot(features, customers, _aligned(decisions, features))


def _aligned(decisions: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """``decisions`` (keyed by customer_id and as_of) in the row order of ``features``,
    without the as_of column (the contract's columns, as the scorer returns them)."""
    order = features[list(SNAPSHOT_KEY)].reset_index(drop=True).reset_index()
    keyed = decisions.assign(as_of=pd.to_datetime(decisions["as_of"]))
    order["as_of"] = pd.to_datetime(order["as_of"])
    order["customer_id"] = order["customer_id"].astype(str)
    keyed["customer_id"] = keyed["customer_id"].astype(str)
    merged = order.merge(keyed, on=list(SNAPSHOT_KEY), how="left", validate="one_to_one")
    columns = [c for c in decisions.columns if c != "as_of"]
    out = merged.sort_values("index")[columns].reset_index(drop=True)
    for c in columns:  # the merge's key casts undone: the decisions' own types
        out[c] = out[c].astype(decisions[c].dtype)
    return out


class Decided:
    """Decisions already made (on Spark) served as a model: ``predict`` returns those of
    the input's customers, in the input's order, so the wrappers of the loaded pyfunc
    model (freezes, recourse, the decision log) apply to them unchanged."""

    def __init__(self, decisions: pd.DataFrame) -> None:
        ids = pd.Index(decisions["customer_id"].astype(str))
        if ids.has_duplicates:
            raise ValueError("Decided: one decision per customer is needed (one snapshot date)")
        self.decisions = decisions.reset_index(drop=True)
        self._ids = ids

    def predict(
        self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        ids = model_input["customer_id"].astype(str)
        rows = self._ids.get_indexer(pd.Index(ids))
        if (rows < 0).any():
            raise KeyError(f"no decision was made for customer(s) {list(ids[rows < 0][:5])}")
        return self.decisions.iloc[rows].set_axis(model_input.index)


def read_optional(validated: Path, table: str) -> pd.DataFrame | None:
    """A validated table, or None when the data has no such table."""
    path = validated / f"{table}.parquet"
    return pd.read_parquet(path) if path.exists() else None
