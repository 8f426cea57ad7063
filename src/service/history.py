"""The served history: the validated tables in one DuckDB file, sorted by customer, so
that one decision reads one customer's rows and never scans the history.

Each table is stored in customer order in row groups of :data:`ROW_GROUP_ROWS` rows, and
DuckDB keeps every row group's smallest and largest ``customer_id``: a lookup by customer
skips every row group but the one or two that can hold the customer (a clustered index;
DuckDB's ART index is not used by such a scan, so none is built). The lookup's cost
depends on the row group's size, not on the history's.

The file is derived: :func:`build_history` rebuilds it when the validated tables changed
(their content hash is kept inside it) and leaves it alone otherwise. Repayments carry
their loan's ``customer_id`` (as ``_customer_id``) so that they are found by customer too.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

SERVED_TABLES = ("customers", "transactions", "loans", "repayments")
"""The contract tables a decision reads (outcomes are labels, never an input)."""
CUSTOMER_COLUMN = {
    "customers": "customer_id",
    "transactions": "customer_id",
    "loans": "customer_id",
    "repayments": "_customer_id",
}
"""The column each served table is indexed by."""
ROW_GROUP_ROWS = 4096
ORDER = {
    "customers": "customer_id",
    "transactions": "customer_id, ts, transaction_id",
    "loans": "customer_id, opened_at, loan_id",
    "repayments": "_customer_id, loan_id, installment_no, due_date, paid_date",
}


class HistoryError(ValueError):
    """The validated tables cannot be served (none there, or unreadable)."""


@dataclass(frozen=True)
class HistoryInfo:
    """What was built: where, from which tables, and their row counts."""

    path: Path
    fingerprint: str
    rows: dict[str, int]
    rebuilt: bool


def fingerprint(validated: Path) -> str:
    """A hash of the validated tables' names and bytes."""
    digest = hashlib.sha256()
    for table in SERVED_TABLES:
        path = validated / f"{table}.parquet"
        if not path.exists():
            continue
        digest.update(table.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_history(validated: Path, path: Path) -> HistoryInfo:
    """The history file for the validated tables: reused when its fingerprint matches,
    else written anew (to a temporary file, then renamed over the old one).

    Raises:
        HistoryError: the validated folder has no customers table.
    """
    if not (validated / "customers.parquet").exists():
        raise HistoryError(
            f"no validated customers table in {validated}: run the pipeline (`dvc repro`) "
            "before serving"
        )
    wanted = fingerprint(validated)
    if path.exists():
        try:
            con = duckdb.connect(str(path), read_only=True)
            try:
                found = con.execute("SELECT fingerprint FROM served_meta").fetchall()[0]
                rows = _counts(con)
            finally:
                con.close()
            if found and found[0] == wanted:
                return HistoryInfo(path, wanted, rows, rebuilt=False)
        except duckdb.Error:
            pass  # an unreadable or older file is rebuilt
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(tmp)} AS served (ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
    con.execute("USE served")
    try:
        present = [t for t in SERVED_TABLES if (validated / f"{t}.parquet").exists()]
        for table in present:
            source = str(validated / f"{table}.parquet").replace("'", "''")
            if table == "repayments":
                select = (
                    f"SELECT l.customer_id AS _customer_id, r.* FROM read_parquet('{source}') r "
                    "JOIN loans l ON l.loan_id = r.loan_id"
                )
            else:
                select = f"SELECT * FROM read_parquet('{source}')"
            con.execute(f"CREATE TABLE {table} AS {select} ORDER BY {ORDER[table]}")
            log.info("history: %s stored in customer order", table)
        con.execute("CREATE TABLE served_meta AS SELECT ? AS fingerprint", [wanted])
        rows = _counts(con)
    finally:
        con.close()
    tmp.replace(path)
    return HistoryInfo(path, wanted, rows, rebuilt=True)


def sql_literal(value: object) -> str:
    """``value`` as a SQL string literal (a file name, a customer id): quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    out = {}
    for table in SERVED_TABLES:
        if table in names:
            out[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    return out
