"""The decision log: one append-only record per scored customer.

Each batch becomes a new Parquet file under ``<log>/decision_date=YYYY-MM-DD/`` (Hive
partitioning by the date it was logged); files are created, never rewritten. A record holds
the customer's keyed pseudonym (never the raw id), a hash of the input feature row, the
model's name, version, alias, MLflow run and the hash of its training data, and the
decision: PD, score, grade, limit, the limit policy, the rating rule that fired and the
reason codes with their texts. :func:`describe` prints one record back in plain words.

This module writes and reads files on purpose: it is the log.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from creditrisk.atomic import atomic_path
from creditrisk.governance.pseudonym import pseudonymise

LINEAGE_KEYS = ("model_name", "model_version", "model_alias", "mlflow_run_id", "training_data")


def input_hashes(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """SHA-256 of each row's model inputs (features in model order, as canonical JSON).

    Column order and extra columns do not matter; 1 and 1.0 hash alike; numbers count to
    12 significant digits; missing values (None, NaN, NaT) hash alike.
    """
    # One conversion of the feature block, not one per column: a column lookup costs more
    # than hashing a one-row batch.
    values = frame.loc[:, list(features)].to_numpy(dtype=object)
    out = []
    for i in range(len(frame)):
        row = [_canonical(v) for v in values[i]]
        text = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
        out.append(hashlib.sha256(text.encode("utf-8")).hexdigest())
    return out


def _canonical(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        x = float(value)
        # 12 significant digits: a parallel sum may differ in the last bits between runs
        # on the same data, and that must not make the same input hash differently.
        return None if math.isnan(x) else format(x, ".12g")
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def decision_records(
    inputs: pd.DataFrame,
    decisions: pd.DataFrame,
    *,
    features: Sequence[str],
    lineage: Mapping[str, str],
    key: bytes,
    reasons: int,
    logged_at: datetime | None = None,
) -> pd.DataFrame:
    """The log records of one scored batch (``decisions`` is the scorer's output for
    ``inputs``, row for row)."""
    if len(inputs) != len(decisions):
        raise ValueError(f"{len(inputs)} input rows but {len(decisions)} decisions")
    when = logged_at or datetime.now(UTC)
    batch = uuid.uuid4().hex
    codes = [decisions[f"reason_{i}"].to_numpy(dtype=object) for i in range(1, reasons + 1)]
    texts = [decisions[f"reason_text_{i}"].to_numpy(dtype=object) for i in range(1, reasons + 1)]
    as_of = (
        pd.to_datetime(inputs["as_of"]).dt.date.astype(str).to_numpy()
        if "as_of" in inputs.columns
        else np.full(len(inputs), "")
    )
    return pd.DataFrame(
        {
            "decision_id": [f"{batch}-{i}" for i in range(len(inputs))],
            "batch_id": batch,
            "logged_at": when.isoformat(timespec="seconds"),
            "as_of": as_of,
            "customer_pseudonym": pseudonymise(inputs["customer_id"], key),
            "input_hash": input_hashes(inputs, features),
            **{k: str(lineage.get(k, "")) for k in LINEAGE_KEYS},
            "pd": decisions["pd"].to_numpy(dtype="float64"),
            "score": decisions["score"].to_numpy(dtype="float64"),
            "grade": decisions["grade"].astype(str).to_numpy(),
            "credit_limit": decisions["credit_limit"].to_numpy(dtype="float64"),
            "limit_policy": decisions["limit_policy"].astype(str).to_numpy(),
            "model_limit": decisions["model_limit"].to_numpy(dtype="float64"),
            "formula_limit": decisions["formula_limit"].to_numpy(dtype="float64"),
            "rating_rule": decisions["rating_rule"].fillna("").astype(str).to_numpy(),
            "limit_reason": _optional_text(decisions, "limit_reason"),
            "recourse_target_grade": _optional_text(decisions, "recourse_target_grade"),
            "recourse_changes": _optional_text(decisions, "recourse_changes"),
            "reasons": [[c[i] for c in codes if c[i] is not None] for i in range(len(inputs))],
            "reason_texts": [[t[i] for t in texts if t[i] is not None] for i in range(len(inputs))],
        }
    )


def _optional_text(decisions: pd.DataFrame, column: str) -> np.ndarray:
    """A text column of the decisions, "" where absent or missing."""
    if column not in decisions.columns:
        return np.full(len(decisions), "", dtype=object)
    return (
        decisions[column].astype(object).where(decisions[column].notna(), "").astype(str).to_numpy()
    )


def append(log: Path, records: pd.DataFrame) -> Path | None:
    """Write a batch as a new file in its date partition (never overwriting one)."""
    if records.empty:
        return None
    day = str(records["logged_at"].iloc[0])[:10]
    folder = log / f"decision_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{records['batch_id'].iloc[0]}.parquet"
    if path.exists():
        raise FileExistsError(f"decision log batch {path} exists; a batch is never rewritten")
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(records, preserve_index=False), tmp)
    return path


def find(log: Path, pseudonym: str, *, on: date | None = None) -> pd.DataFrame:
    """Every logged decision about one customer (optionally on one logging date), oldest
    first."""
    if not log.exists():
        raise FileNotFoundError(f"no decision log at {log}")
    dataset = ds.dataset(
        str(log), format="parquet", partitioning="hive", exclude_invalid_files=True
    )
    condition = ds.field("customer_pseudonym") == pseudonym
    if on is not None:
        condition = condition & (ds.field("decision_date") == on.isoformat())
    table: pd.DataFrame = dataset.to_table(filter=condition).to_pandas()
    return table.sort_values(["logged_at", "decision_id"]).reset_index(drop=True)


def _batches(log: Path) -> list[Path]:
    return sorted(p for p in log.glob("decision_date=*/*.parquet") if not p.name.startswith("."))


def erase(log: Path, pseudonym: str) -> int:
    """Remove every record about one customer (by pseudonym); returns how many.

    The only rewrite of a batch file the log allows: a file holding the customer is
    written again without those rows (deleted when nothing is left); every other file is
    left untouched, byte for byte."""
    removed = 0
    for path in _batches(log) if log.exists() else []:
        table = pq.read_table(path)
        hit = pc.equal(table["customer_pseudonym"], pseudonym)
        n = int(pc.sum(hit).as_py() or 0)
        if not n:
            continue
        kept = table.filter(pc.invert(hit))
        if kept.num_rows:
            with atomic_path(path) as tmp:
                pq.write_table(kept, tmp)
        else:
            path.unlink()
        removed += n
    return removed


def apply_retention(log: Path, *, before: date) -> int:
    """Delete the batch files logged before ``before``; returns the records removed."""
    removed = 0
    for path in _batches(log) if log.exists() else []:
        day = date.fromisoformat(path.parent.name.split("=", 1)[1])
        if day < before:
            removed += pq.read_metadata(path).num_rows
            path.unlink()
    for folder in log.glob("decision_date=*") if log.exists() else []:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def _items(value: Any) -> list[Any]:
    return [] if value is None else list(value)


def describe(record: Mapping[str, Any]) -> str:
    """One decision in plain words, with its lineage."""
    reasons = [str(t) for t in _items(record.get("reason_texts"))]
    codes = [str(c) for c in _items(record.get("reasons"))]
    lines = [
        f"Decision {record['decision_id']} logged {record['logged_at']} for customer "
        f"{record['customer_pseudonym']} (pseudonym), snapshot {record['as_of']}:",
        f"  probability of default {record['pd']:.2%}, score {record['score']:.0f}, "
        f"grade {record['grade']}"
        + (f" (rating rule '{record['rating_rule']}' applied)" if record["rating_rule"] else ""),
        f"  credit limit {record['credit_limit']:,.0f}, set by {record['limit_policy']} "
        f"(model limit {record['model_limit']:,.0f}, formula limit "
        f"{record['formula_limit']:,.0f})",
    ]
    if record.get("limit_reason"):
        lines.append(f"  limit: {record['limit_reason']}")
    if reasons:
        lines.append("  main reasons the risk is higher:")
        pairs = zip(reasons, codes, strict=True)
        lines += [f"    {i}. {t} [{c}]" for i, (t, c) in enumerate(pairs, 1)]
    else:
        lines.append("  no feature raised the risk above the average customer")
    if record.get("recourse_changes"):
        changes = json.loads(str(record["recourse_changes"]))
        what = ", ".join(f"{k} to {v:g}" if isinstance(v, int | float) else f"{k} to {v}"
                         for k, v in changes.items())  # fmt: skip
        lines.append(f"  what would reach grade {record['recourse_target_grade']}: {what}")
    lines += [
        "  lineage:",
        f"    model {record['model_version']} (registered as {record['model_name']}, alias "
        f"@{record['model_alias']} when scored)",
        f"    MLflow run {record['mlflow_run_id']}",
        f"    training data (dvc.lock md5 of data/split) {record['training_data'] or 'unknown'}",
        f"    input features sha256 {record['input_hash']}",
    ]
    return "\n".join(lines)


class DecisionModel(Protocol):
    """What :class:`LoggingScorer` wraps: the loaded pyfunc scorer (or the scorer itself)."""

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame: ...


class LoggingScorer:
    """A scorer whose every batch of decisions is appended to the decision log.

    Logging is an explicit choice of the caller, who wraps the scorer; the exported model
    itself never logs. ``lineage`` is the exported folder's lineage
    (:func:`creditrisk.models.pyfunc.scorer_lineage`); ``features`` the model's inputs.
    The model sees only ``customer_id`` and the features; other input columns (such as
    ``as_of``, which the log records) are not passed on. Rows without a ``customer_id``
    cannot be logged and are only scored.
    """

    def __init__(
        self,
        model: DecisionModel,
        *,
        log: Path,
        key: bytes,
        lineage: Mapping[str, str],
        features: Sequence[str],
        reasons: int,
    ) -> None:
        self.model = model
        self.log = log
        self.key = key
        self.lineage = dict(lineage)
        self.features = list(features)
        self.reasons = reasons
        self.logged = 0

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The wrapped model's decisions; the batch is logged before they are returned."""
        wanted = ["customer_id", *self.features]
        decisions = self.model.predict(model_input[[c for c in wanted if c in model_input]])
        if len(model_input) and "customer_id" in model_input.columns:
            records = decision_records(
                model_input,
                decisions,
                features=self.features,
                lineage=self.lineage,
                key=self.key,
                reasons=self.reasons,
            )
            append(self.log, records)
            self.logged += len(records)
        return decisions
