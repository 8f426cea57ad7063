"""Features of one customer at a few dates, by the batch stage's own definitions.

The feature expression of :func:`creditrisk.features.build.build_features` is compiled
once to SQL over five small tables (the customer's rows of each history table and the
snapshot dates) and prepared on a DuckDB connection; a decision fills those tables with
one customer's rows (read from the indexed history file, the event store or the request)
and executes the prepared statement. No second implementation of any feature exists.

The statement runs with DuckDB's optimizer off: on a few dozen rows, optimizing the
hundreds of operators of the feature query costs several times more than running them,
and the optimizer never changes a result. The history lookups run with it on, so that
they use the customer index.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd

from creditrisk.features.build import build_features
from creditrisk.features.labels import as_of_frame
from creditrisk.features.settings import FeatureSettings
from creditrisk.service.events import KEY_COLUMNS
from creditrisk.service.history import CUSTOMER_COLUMN, SERVED_TABLES, sql_literal

DATES = "snapshot_dates"
LABEL_HORIZON_MONTHS = 1  # labels are computed and dropped: a decision has no label


class Session:
    """One DuckDB connection with the history attached, its request tables and the
    prepared feature statements (one per end date). Not shared between threads."""

    def __init__(self, history: Path, settings: FeatureSettings, sql_for: SqlCache) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")
        self.con.execute(f"ATTACH {sql_literal(history)} AS hist (READ_ONLY)")
        names = {
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'hist'"
            ).fetchall()
        }
        self.tables = [t for t in SERVED_TABLES if t in names]
        self.columns: dict[str, list[str]] = {}
        for table in self.tables:
            self.con.execute(
                f"CREATE TABLE main.{table} AS SELECT * EXCLUDE (_customer_id) FROM hist.{table} "
                "LIMIT 0"
                if table == "repayments"
                else f"CREATE TABLE main.{table} AS SELECT * FROM hist.{table} LIMIT 0"
            )
            info = self.con.execute(f"DESCRIBE main.{table}").fetchall()
            self.columns[table] = [r[0] for r in info]
        frame = as_of_frame([date(2000, 1, 1)], horizon_months=LABEL_HORIZON_MONTHS)
        self.con.register("_dates", frame)
        self.con.execute(f"CREATE TABLE main.{DATES} AS SELECT * FROM _dates LIMIT 0")
        self.con.unregister("_dates")
        self.settings = settings
        self.sql_for = sql_for
        self.prepared: set[str] = set()

    def statement(self, end_date: date) -> str:
        name = f"features_{end_date:%Y%m%d}"
        if name not in self.prepared:
            sql = self.sql_for(self, end_date)
            self.con.execute("PRAGMA disable_optimizer")
            try:
                self.con.execute(f"PREPARE {name} AS {sql}")
            finally:
                self.con.execute("PRAGMA enable_optimizer")
            self.prepared.add(name)
        return name

    def load(
        self,
        customer_id: str | None,
        extra: Mapping[str, pd.DataFrame],
    ) -> None:
        """The request tables: the customer's rows of the history (none when
        ``customer_id`` is None) plus ``extra`` rows (events or a posted history) whose key
        the history does not hold."""
        # One script for every table: a statement per call costs more than the copy.
        script = []
        for table in self.tables:
            script.append(f"DELETE FROM main.{table};")
            if customer_id is not None:
                cols = ", ".join(f'"{c}"' for c in self.columns[table])
                script.append(
                    f"INSERT INTO main.{table} SELECT {cols} FROM hist.{table} "
                    f"WHERE {CUSTOMER_COLUMN[table]} = {sql_literal(customer_id)};"
                )
        self.con.execute("\n".join(script))
        for table in self.tables:
            rows = extra.get(table)
            if rows is not None and len(rows):
                self._insert(table, rows)

    def _insert(self, table: str, rows: pd.DataFrame) -> None:
        frame = rows.copy()
        for column in self.columns[table]:
            if column not in frame.columns:
                frame[column] = None
        frame = frame[self.columns[table]]
        self.con.register("_extra", frame)
        try:
            key = KEY_COLUMNS.get(table)
            where = (
                f" WHERE NOT EXISTS (SELECT 1 FROM main.{table} t WHERE "
                + " AND ".join(f't."{k}" IS NOT DISTINCT FROM e."{k}"' for k in key)
                + ")"
                if key
                else ""
            )
            select = ", ".join(f"e.{c}" for c in _quoted(self.columns[table]))
            self.con.execute(f"INSERT INTO main.{table} SELECT {select} FROM _extra e{where}")
        finally:
            self.con.unregister("_extra")

    def features(
        self,
        as_of_dates: Sequence[date],
        end_date: date,
        dtypes: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """The feature rows of the loaded customer at each date (none at a date before the
        customer was created, or when already in default). ``dtypes`` (column -> "int64" or
        "float64", the scorer's signature) are applied while the frame is built; an integer
        column with a null stays as it is."""
        name = self.statement(end_date)
        frame = as_of_frame(list(as_of_dates), horizon_months=LABEL_HORIZON_MONTHS)
        values = ", ".join(
            f"(TIMESTAMP '{a:%Y-%m-%d %H:%M:%S}', TIMESTAMP '{w:%Y-%m-%d %H:%M:%S}')"
            for a, w in zip(frame["as_of"], frame["window_end"], strict=True)
        )
        self.con.execute(f"DELETE FROM main.{DATES}; INSERT INTO main.{DATES} VALUES {values}")
        self.con.execute("PRAGMA disable_optimizer")
        try:
            arrays = self.con.execute(f"EXECUTE {name}").fetchnumpy()
        finally:
            self.con.execute("PRAGMA enable_optimizer")
        # fetchnumpy and one frame from plain arrays: several times faster than a
        # DataFrame conversion of a one-row result of 130 columns.
        out = pd.DataFrame(
            {
                k: _column(
                    np.asarray(v) if not isinstance(v, np.ndarray) else v, (dtypes or {}).get(k)
                )
                for k, v in arrays.items()
            }
        )
        return out.sort_values(["as_of", "customer_id"]).reset_index(drop=True)

    def customer_exists(self, customer_id: str) -> bool:
        # fetchall, never fetchone: a result not read to its end blocks the connection's
        # next statement
        rows = self.con.execute(
            "SELECT count(*) FROM hist.customers WHERE customer_id = ?", [customer_id]
        ).fetchall()
        return bool(rows and rows[0][0])

    def loans_of(self, loan_ids: Sequence[str]) -> pd.DataFrame:
        """History loans by id (for the event checks: a repayment's loan and customer)."""
        if "loans" not in self.tables or not loan_ids:
            return pd.DataFrame(columns=self.columns.get("loans", ["loan_id", "customer_id"]))
        self.con.register("_ids", pd.DataFrame({"loan_id": list(loan_ids)}))
        try:
            return self.con.execute("SELECT l.* FROM hist.loans l JOIN _ids USING (loan_id)").df()
        finally:
            self.con.unregister("_ids")

    def customers_of(self, customer_ids: Sequence[str]) -> pd.DataFrame:
        self.con.register("_ids", pd.DataFrame({"customer_id": list(customer_ids)}))
        try:
            return self.con.execute(
                "SELECT c.* FROM hist.customers c JOIN _ids USING (customer_id)"
            ).df()
        finally:
            self.con.unregister("_ids")

    def close(self) -> None:
        self.con.close()


def _column(values: np.ndarray, dtype: str | None) -> Any:
    """A result column as pandas takes it: nulls (a masked array) as NaN, <NA> or None."""
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        data = values.data
        if not mask.any():
            values = data
        elif data.dtype.kind == "f" or dtype == "float64":
            return np.where(mask, np.nan, data.astype("float64"))
        elif data.dtype.kind in "iu":
            return pd.arrays.IntegerArray(data.astype("int64"), mask)
        elif data.dtype.kind == "b":
            return pd.arrays.BooleanArray(data, mask)
        else:
            out = data.astype(object)
            out[mask] = None
            return out
    if dtype == "float64" and values.dtype != np.float64:
        return values.astype("float64")
    if dtype == "int64" and values.dtype.kind == "f" and not np.isnan(values).any():
        return values.astype("int64")
    return values


def _quoted(columns: Sequence[str]) -> list[str]:
    return [f'"{c}"' for c in columns]


class SqlCache:
    """The compiled feature SQL per end date, shared by the sessions of a process."""

    def __init__(self) -> None:
        self._sql: dict[date, str] = {}
        self._lock = threading.Lock()

    def __call__(self, session: Session, end_date: date) -> str:
        with self._lock:
            if end_date not in self._sql:
                con = ibis.duckdb.from_connection(session.con)
                tables = {t: con.table(t, database="main") for t in session.tables}
                plan = build_features(
                    tables,
                    as_of_dates=con.table(DATES, database="main"),
                    settings=replace(session.settings, end_date=end_date),
                )
                self._sql[end_date] = ibis.to_sql(plan.rows, dialect="duckdb")
            return self._sql[end_date]


class OnlineFeatures:
    """A pool of sessions over one history file: ``with features.session() as s``."""

    def __init__(self, history: Path, settings: FeatureSettings, *, sessions: int = 2) -> None:
        self.history = history
        self.settings = settings
        self.sql = SqlCache()
        self._pool: queue.Queue[Session] = queue.Queue()
        self._made = 0
        self._limit = sessions
        self._lock = threading.Lock()

    def warm(self, end_date: date) -> None:
        """Open every session of the pool and prepare the statement for ``end_date`` in
        each now, so that no request pays for it."""
        made = []
        with self._lock:
            while self._made < self._limit:
                self._made += 1
                made.append(Session(self.history, self.settings, self.sql))
        for s in made:
            s.statement(end_date)
            self._pool.put(s)

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            s = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self._limit
                if make:
                    self._made += 1
            s = Session(self.history, self.settings, self.sql) if make else self._pool.get()
        try:
            yield s
        finally:
            self._pool.put(s)

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get_nowait().close()
