"""Connect an Ibis backend: embedded DuckDB, or a Spark session (local or cluster)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import ibis


def connect(
    engine: str,
    *,
    duckdb_config: Mapping[str, str | int] | None = None,
    spark_master: str = "local[2]",
    spark_conf: Mapping[str, str] | None = None,
) -> Any:
    """An Ibis backend for ``engine`` ('duckdb' or 'spark').

    Spark runs with the UTC session time zone, so that epoch seconds of naive timestamps
    match DuckDB's, and with workers started from this interpreter (PYSPARK_PYTHON),
    which has the project installed.

    Raises:
        ValueError: unknown engine.
    """
    if engine == "duckdb":
        return ibis.duckdb.connect(**dict(duckdb_config or {}))
    if engine == "spark":
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            SparkSession.builder.master(spark_master)
            .appName("creditrisk-features")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
        )
        for key, value in (spark_conf or {}).items():
            builder = builder.config(key, value)
        return ibis.pyspark.connect(builder.getOrCreate())
    raise ValueError(f"unknown features.engine '{engine}': use 'duckdb' or 'spark'")
