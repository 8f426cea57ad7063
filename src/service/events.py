"""The event store: transactions, loans and repayments posted to the decision service
between two exports, kept so that later decisions and the next ``dvc repro`` see them.

An embedded SQLite file (``data/events/events.db``) in write-ahead-log mode, so that
several service workers append at once; each request's rows are written in one
transaction, all or none. Every row has a key (``transaction_id``; ``loan_id``; for a
repayment its loan, installment, due date, paid date and amount paid): a row whose key is
already stored is a duplicate and is not stored again, so a client that retries a request
counts nothing twice.

Events and exports: the next export is the lender's record. Ingest appends to it every
stored event that the export does not hold (by the same key) and that is dated on or
before the export's ``data.end_date``; an event dated later waits in the store for an
export that covers its date. So an event is never lost (it stays until an export holds
it) and never counted twice (the export's row wins).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from creditrisk.contract import TABLES
from creditrisk.validation.coerce import coerce_table

EVENT_TABLES = ("transactions", "loans", "repayments")
STORE_FILE = "events.db"
DATE_COLUMN = {"transactions": "ts", "loans": "opened_at", "repayments": "paid_date"}
"""The date an event happened on (a repayment row without a payment has none)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    event_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    event_date TEXT,
    row_json TEXT NOT NULL,
    request_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (table_name, event_key)
);
CREATE INDEX IF NOT EXISTS events_by_customer ON events (customer_id);
"""


def contract_columns(table: str) -> list[str]:
    """The columns an event row may have: the table's required and well-known optional
    columns."""
    return list(TABLES[table].typed_columns)


KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": TABLES["customers"].key,
    "transactions": TABLES["transactions"].key,
    "loans": TABLES["loans"].key,
    # repayments have no key in the contract (rows are payment events): a payment is the
    # same one when all of these agree
    "repayments": ("loan_id", "installment_no", "due_date", "paid_date", "amount_paid"),
}
"""The columns that identify a row of a history table, for events and posted histories."""


def event_keys(table: str, frame: pd.DataFrame) -> pd.Series:
    """Each row's key (:data:`KEY_COLUMNS`) as text; ``frame`` is typed."""
    if table != "repayments":
        (column,) = KEY_COLUMNS[table]
        return frame[column].astype(str)
    columns = [
        frame["loan_id"].astype(str).tolist(),
        [_text(v) for v in frame["installment_no"]],
        _day_text(frame["due_date"]).tolist(),
        _day_text(frame["paid_date"]).tolist(),
        [_text(v, amount=True) for v in frame["amount_paid"]],
    ]
    return pd.Series(["|".join(parts) for parts in zip(*columns, strict=True)], index=frame.index)


def _text(value: object, *, amount: bool = False) -> str:
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return ""
    return f"{float(value):.6f}" if amount else str(int(value))  # type: ignore[call-overload, arg-type]


def _day_text(values: pd.Series) -> pd.Series:
    days = pd.to_datetime(values)
    text = days.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    return text.where(days.notna(), "")


@dataclass(frozen=True)
class Appended:
    """Rows stored and rows already there, per table."""

    stored: dict[str, int]
    duplicates: dict[str, int]
    request_id: str


class EventStore:
    """The store in one SQLite file (created with its folder when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
        finally:
            con.close()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 60000")
        return con

    def append(
        self, frames: Mapping[str, pd.DataFrame], customers: Mapping[str, pd.Series]
    ) -> Appended:
        """Store typed, validated rows (``customers[table]``: each row's customer) in one
        transaction; rows whose key is stored already are counted as duplicates."""
        request_id = uuid.uuid4().hex
        now = datetime.now(UTC).isoformat(timespec="seconds")
        stored: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            for table, frame in frames.items():
                if frame.empty:
                    continue
                keys = event_keys(table, frame)
                rows = json.loads(
                    frame.to_json(orient="records", date_format="iso", date_unit="us")
                )
                day = _day_text(frame[DATE_COLUMN[table]])
                when = day.where(day != "", None)
                before = con.total_changes
                con.executemany(
                    "INSERT OR IGNORE INTO events (table_name, event_key, customer_id, "
                    "event_date, row_json, request_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (table, k, str(c), d, json.dumps(r), request_id, now)
                        for k, c, d, r in zip(keys, customers[table], when, rows, strict=True)
                    ],
                )
                stored[table] = con.total_changes - before
                duplicates[table] = len(frame) - stored[table]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
        return Appended(stored, duplicates, request_id)

    def rows(self, *, customer_id: str | None = None) -> dict[str, pd.DataFrame]:
        """Stored rows per table, typed by the contract (one customer's, or all)."""
        con = self._connect()
        try:
            query = "SELECT table_name, row_json FROM events"
            args: tuple[str, ...] = ()
            if customer_id is not None:
                query += " WHERE customer_id = ?"
                args = (str(customer_id),)
            found = con.execute(query + " ORDER BY event_id", args).fetchall()
        finally:
            con.close()
        by_table: dict[str, list[dict[str, object]]] = {}
        for table, row in found:
            by_table.setdefault(table, []).append(json.loads(row))
        return {t: typed_rows(t, rows) for t, rows in by_table.items()}

    def customer_of_loans(self, loan_ids: list[str]) -> dict[str, str]:
        """loan_id -> customer_id of loans posted as events."""
        if not loan_ids:
            return {}
        con = self._connect()
        try:
            marks = ",".join("?" * len(loan_ids))
            found = con.execute(
                "SELECT event_key, customer_id FROM events WHERE table_name = 'loans' "
                f"AND event_key IN ({marks})",
                loan_ids,
            ).fetchall()
        finally:
            con.close()
        return dict(found)

    def latest_date(self) -> date | None:
        """The date of the latest event that has one."""
        con = self._connect()
        try:
            row = con.execute("SELECT max(event_date) FROM events").fetchone()
        finally:
            con.close()
        return datetime.fromisoformat(row[0]).date() if row and row[0] else None

    def erase(self, customer_id: str) -> int:
        """Delete every stored event of one customer (an erasure request); rows removed."""
        con = self._connect()
        try:
            cur = con.execute("DELETE FROM events WHERE customer_id = ?", (str(customer_id),))
            return int(cur.rowcount)
        finally:
            con.close()

    def count(self) -> dict[str, int]:
        con = self._connect()
        try:
            found = con.execute(
                "SELECT table_name, count(*) FROM events GROUP BY table_name"
            ).fetchall()
        finally:
            con.close()
        return {t: int(n) for t, n in found}


def typed_rows(table: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    """Event rows (JSON values) as a frame of the contract's types, every contract column
    present (null where a row lacks an optional one), the export's own columns after."""
    spec = TABLES[table]
    frame = pd.DataFrame(rows)
    for column in spec.typed_columns:
        if column not in frame.columns:
            frame[column] = None
    typed = coerce_table(frame, spec, max_bad_share=1.0).frame  # timestamps as datetime64[us]
    extra = [c for c in typed.columns if c not in spec.typed_columns]
    return typed[[*spec.typed_columns, *extra]]


def for_export(
    store: EventStore | None, export: Mapping[str, pd.DataFrame], *, end_date: date
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """The stored events an export lacks, dated on or before its end, per table, and the
    counts: stored, already in the export, added, waiting (dated after the end)."""
    if store is None:
        return {}, {}
    stored = store.rows()
    additions: dict[str, pd.DataFrame] = {}
    report: dict[str, dict[str, int]] = {}
    end = pd.Timestamp(end_date) + pd.Timedelta(days=1)
    for table in EVENT_TABLES:
        events = stored.get(table)
        if events is None or events.empty:
            continue
        spec = TABLES[table]
        raw = export.get(table)
        known: set[str] = set()
        if raw is not None and len(raw):
            typed = coerce_table(raw, spec, max_bad_share=1.0).frame
            known = set(event_keys(table, typed))
        in_export = event_keys(table, events).isin(known).to_numpy()
        when = events[DATE_COLUMN[table]]
        waiting = (when.notna() & (when >= end)).to_numpy()
        add = ~in_export & ~waiting
        additions[table] = events[add].reset_index(drop=True)
        report[table] = {
            "stored": len(events),
            "already_in_export": int(in_export.sum()),
            "added": int(add.sum()),
            "waiting_after_end_date": int((~in_export & waiting).sum()),
        }
    return additions, report
