"""The exported scorer on Spark: decisions for every row of a Spark DataFrame, computed on
the executors by ``mlflow.pyfunc.spark_udf`` (the same pyfunc model a downstream system
loads), and brought back as the contract's frame.

The input columns are cast to the types the scorer's signature declares, as
:func:`creditrisk.models.inputs.conform_inputs` does on one machine, and the output types
are those of the scorer run in process (text as pandas' string type), so a Spark run and
a local run of the same rows give equal frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import Model

from creditrisk.models.scorer import TEXT

# A signature's column type -> Spark SQL type.
SPARK_TYPES = {
    "long": "bigint",
    "integer": "int",
    "double": "double",
    "float": "float",
    "string": "string",
    "boolean": "boolean",
    "datetime": "timestamp",
}
KEY_PREFIX = "__key_"
LOST_MISSING = ("nan", "None")  # a missing text after spark_udf's cast (see _contract_types)


def _kind(column: Any) -> str:
    return str(column.type).rsplit(".", 1)[-1]  # "long" or "DataType.long"


def spark_decisions(
    frame: Any, scorer: Path, *, keys: Sequence[str] = ("customer_id",), reasons: bool = True
) -> pd.DataFrame:
    """The scorer's decisions for every row of the Spark DataFrame ``frame`` (feature
    rows; a signature input it lacks is null), with ``keys`` (columns of ``frame``) in
    front of the contract's columns, in no particular row order.

    ``reasons=False``: the decisions without reason codes, from the raw margin (the
    pyfunc model's ``reasons`` parameter).

    Raises:
        ValueError: a key is not a column of ``frame``.
    """
    from pyspark.sql import functions as sf

    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"spark_decisions: key column(s) {missing} are not in the frame")
    signature = Model.load(str(scorer)).signature
    if signature is None or signature.outputs is None:
        raise ValueError(f"{scorer}: the exported scorer has no signature")
    inputs, outputs = signature.inputs.inputs, signature.outputs.inputs
    names = [c.name for c in inputs]
    typed = [
        (sf.col(c.name) if c.name in frame.columns else sf.lit(None))
        .cast(SPARK_TYPES[_kind(c)])
        .alias(c.name)
        for c in inputs
    ]
    projected = frame.select(*[sf.col(k).alias(KEY_PREFIX + k) for k in keys], *typed)
    result = ", ".join(f"`{c.name}`: {SPARK_TYPES[_kind(c)]}" for c in outputs)
    udf = mlflow.pyfunc.spark_udf(
        frame.sparkSession,
        str(scorer),
        result_type=f"struct<{result}>",
        env_manager="local",
        params={"reasons": reasons},
    )
    scored = projected.select(
        *[sf.col(KEY_PREFIX + k).alias(k) for k in keys if k not in {c.name for c in outputs}],
        udf(*names).alias("_decision"),
    ).select("*", "_decision.*")
    out = scored.drop("_decision").toPandas()
    return _contract_types(out, outputs)


def _contract_types(frame: pd.DataFrame, outputs: Sequence[Any]) -> pd.DataFrame:
    """Each output column with the type the in-process scorer gives it.

    spark_udf casts a struct's text fields with ``astype(str)`` whenever a batch holds
    any value, which turns a missing text (no second reason, no rating rule) into the
    word "nan" (or "None"). The scorer never writes those words (its texts are feature
    names, grades and the policy's texts), so they are made missing again."""
    for c in outputs:
        kind = _kind(c)
        if kind == "string":
            text = frame[c.name].astype(TEXT)
            frame[c.name] = text.mask(text.isin(LOST_MISSING))
        elif kind == "double":
            frame[c.name] = frame[c.name].astype("float64")
    return frame
