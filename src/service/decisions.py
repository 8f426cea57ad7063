"""The decision service without its HTTP layer: a decision for a customer of the history
(or for a history sent with the request) at a date, and events that update the history
and fire early warnings at once.

A decision is what the batch ``score`` stage gives the same customer: the customer's
feature row by the batch definitions (:mod:`creditrisk.service.online`), cast to the
exported champion's signature and scored by its own predict (loaded with MLflow), the
active limit freezes, recourse for a declined or limited decision, and a record appended
to the decision log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from creditrisk.contract import LABEL_COLUMNS, TABLES
from creditrisk.features.settings import FeatureSettings
from creditrisk.governance.decision_log import LoggingScorer
from creditrisk.governance.pseudonym import pseudonymise
from creditrisk.models.inputs import conform_inputs, signature_dtypes
from creditrisk.models.pyfunc import scorer_artifacts, scorer_lineage
from creditrisk.models.recourse import Lever, WithRecourse, levers
from creditrisk.models.scorer import Scorer
from creditrisk.monitoring import warnings as ew
from creditrisk.monitoring.actions import ActionStore, FrozenLimits
from creditrisk.monitoring.report import alert_table, join_snapshots, score_rows, warning_signals
from creditrisk.schemas.rules import usable_rules
from creditrisk.schemas.warnings import WarningRule
from creditrisk.service.events import EVENT_TABLES, EventStore, contract_columns, event_keys
from creditrisk.service.online import OnlineFeatures, Session
from creditrisk.validation.errors import TableValidationError
from creditrisk.validation.suite import validate_table

log = logging.getLogger(__name__)

HISTORY_TABLES = ("customers", "transactions", "loans", "repayments")


class UnknownCustomerError(LookupError):
    """The customer is neither in the history nor in the event store."""


class NoDecisionError(ValueError):
    """The customer has no feature row at the date (created later, or already in default)."""


@dataclass(frozen=True)
class RowProblem:
    """A posted row that fails a rule of the raw contract."""

    table: str
    row: int
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "reasons": self.reasons}


class RowsRejectedError(ValueError):
    """Posted rows fail the contract's rules; nothing was stored."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__(f"{len(problems)} row(s) fail the raw contract's rules")
        self.problems = list(problems)


@dataclass(frozen=True)
class ServiceSettings:
    """What the service reads and writes, and the rules it applies."""

    scorer: Path
    history: Path
    events: Path
    actions_url: str
    decision_log: Path
    population: Path  # the feature table; recourse grids come from its latest snapshot
    data_end: date
    features: FeatureSettings
    warning_rules: Sequence[WarningRule]
    previous_months: int
    reasons: int
    key: bytes
    owners: Mapping[str, str] = field(default_factory=dict)
    # feature sessions per worker process: requests beyond wait for one (the work is CPU
    # bound; more threads than cores only contend)
    sessions: int = 2


class DecisionService:
    """Decisions and events over one history file, one event store and one action store.
    Thread-safe: each call takes a feature session of its own from the pool."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        pseudonymise(pd.Series(["check"]), settings.key)  # a key too short fails now, not later
        self.pyfunc = mlflow.pyfunc.load_model(str(settings.scorer))
        self.schema = self.pyfunc.metadata.get_input_schema()
        python_model = self.pyfunc.unwrap_python_model()
        self.scorer: Scorer = python_model.scorer
        # The loaded model's own predict, after the inputs are cast to its signature here
        # (conform_inputs): MLflow's per-column input check would cost more than scoring.
        self.model = _Direct(python_model)
        self.lineage = scorer_lineage(settings.scorer)
        self.model_version = self.lineage.get("model_version", "unversioned")
        self.inputs = [c.name for c in self.schema.inputs if c.name != "customer_id"]
        self.dtypes = signature_dtypes(self.schema)
        dictionary = json.loads(Path(scorer_artifacts(settings.scorer)["dictionary"]).read_text())
        self.levers: list[Lever] = levers(
            self.scorer, dictionary, population(settings.population, self.scorer, dictionary)
        )
        self.online = OnlineFeatures(
            settings.history, settings.features, sessions=settings.sessions
        )
        self.events = EventStore(settings.events)
        self.actions = ActionStore(settings.actions_url)
        self._validation_lock = threading.Lock()
        self._context: Any = None
        self.online.warm(self.end_date_for(self.default_as_of()))
        with self.online.session() as s:
            # a posted row may carry the contract's columns and the export's own ones
            # (static customer columns, a purchase's category)
            self.columns = {
                t: sorted(set(contract_columns(t)) | set(s.columns.get(t, [])))
                for t in HISTORY_TABLES
            }

    # -- dates ---------------------------------------------------------------------------

    def data_end(self) -> date:
        """The history's end: the export's ``data.end_date``, or the latest event's date."""
        latest = self.events.latest_date()
        return max(self.settings.data_end, latest) if latest else self.settings.data_end

    def default_as_of(self) -> date:
        """The default decision date: the day after the history's end."""
        return self.data_end() + timedelta(days=1)

    def end_date_for(self, as_of: date) -> date:
        """The data's end a decision at ``as_of`` sees: the export's, or the day before
        ``as_of`` when events carry the history past it."""
        return max(self.settings.data_end, as_of - timedelta(days=1))

    # -- decisions -----------------------------------------------------------------------

    def decide(self, customer_id: str, as_of: date | None = None) -> dict[str, Any]:
        """The decision for a customer of the history or the event store.

        Raises:
            UnknownCustomerError: neither holds the customer.
            NoDecisionError: the customer has no feature row at ``as_of``.
        """
        at = as_of or self.default_as_of()
        cid = str(customer_id)
        events = self.events.rows(customer_id=cid)
        with self.online.session() as s:
            if not s.customer_exists(cid):
                raise UnknownCustomerError(cid)
            s.load(cid, events)
            rows = s.features([at], self.end_date_for(at), self.dtypes)
        return self._decision(rows, cid, at)

    def decide_history(
        self, history: Mapping[str, Sequence[Mapping[str, Any]]], as_of: date | None = None
    ) -> dict[str, Any]:
        """The decision for a history sent with the request (``customers`` holds one row).

        Raises:
            RowsRejectedError: a row fails the contract's rules.
            NoDecisionError: the customer has no feature row at ``as_of``.
        """
        at = as_of or self.default_as_of()
        frames = self._validated(history, end=at - timedelta(days=1), parents={})
        cid = str(frames["customers"]["customer_id"].iloc[0])
        with self.online.session() as s:
            s.load(None, frames)
            rows = s.features([at], self.end_date_for(at), self.dtypes)
        return self._decision(rows, cid, at)

    def _decision(self, rows: pd.DataFrame, customer_id: str, at: date) -> dict[str, Any]:
        if rows.empty:
            raise NoDecisionError(
                f"customer {customer_id} has no decision at {at}: created on or after that "
                f"date, or already in default (an installment {self._threshold()} days past due)"
            )
        inputs = conform_inputs(rows, self.schema).drop(columns=list(LABEL_COLUMNS))
        frozen = FrozenLimits(self.model, self.actions.active_freezes(at, customers=[customer_id]))
        model = LoggingScorer(
            WithRecourse(frozen, self.scorer, self.levers),
            log=self.settings.decision_log,
            key=self.settings.key,
            lineage=self.lineage,
            features=self.inputs,
            reasons=self.settings.reasons,
        )
        decision = {str(k): v for k, v in model.predict(inputs).iloc[0].items()}
        return _plain({"as_of": at.isoformat(), **decision})

    def _threshold(self) -> int:
        return self.settings.features.dpd_threshold_days

    # -- events --------------------------------------------------------------------------

    def post_events(self, payload: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        """Validate, store and act on posted events: the early-warning rules are evaluated
        for every customer the events touch, at the default decision date.

        Raises:
            RowsRejectedError: a row fails the contract's rules (nothing is stored).
        """
        today = pd.Timestamp.now(tz="UTC").date()
        with self.online.session() as s:
            parents = self._event_parents(s, payload)
            frames = self._validated(payload, end=today, parents=parents)
            customers = self._customers_of(frames, parents)
            affected = sorted({c for t in frames for c in customers[t]})
            held = self._held_keys(s, affected)
            known = {
                t: event_keys(t, f).isin(held.get(t, set())).to_numpy() for t, f in frames.items()
            }
        fresh = {t: f[~known[t]].reset_index(drop=True) for t, f in frames.items()}
        fresh_customers = {t: customers[t][~known[t]].reset_index(drop=True) for t in frames}
        appended = self.events.append(fresh, fresh_customers)
        alerts = self._warnings(affected)
        return {
            "request_id": appended.request_id,
            "stored": appended.stored,
            "duplicates": {t: appended.duplicates.get(t, 0) + int(known[t].sum()) for t in frames},
            "as_of": self.default_as_of().isoformat(),
            "alerts": alerts,
        }

    def _event_parents(
        self, s: Session, payload: Mapping[str, Sequence[Mapping[str, Any]]]
    ) -> dict[str, pd.DataFrame]:
        """The customers and loans the posted rows refer to, from the history and the
        event store (a loan posted in the same request is added when it passes)."""
        ids = {
            str(r.get("customer_id"))
            for t in ("transactions", "loans")
            for r in payload.get(t, []) or []
            if r.get("customer_id") is not None
        }
        loan_ids = sorted(
            {str(r.get("loan_id")) for r in payload.get("repayments", []) or [] if r.get("loan_id")}
        )
        loans = s.loans_of(loan_ids)
        by_event = self.events.customer_of_loans(loan_ids)
        stored_loans = [
            self.events.rows(customer_id=c).get("loans", pd.DataFrame())
            for c in sorted(set(by_event.values()))
        ]
        event_loans = [f[f["loan_id"].isin(loan_ids)] for f in stored_loans if len(f)]
        loans = pd.concat([loans, *event_loans], ignore_index=True) if event_loans else loans
        ids |= set(loans["customer_id"].astype(str)) if len(loans) else set()
        return {"customers": s.customers_of(sorted(ids)), "loans": loans}

    def _customers_of(
        self, frames: Mapping[str, pd.DataFrame], parents: Mapping[str, pd.DataFrame]
    ) -> dict[str, pd.Series]:
        out = {}
        for table, frame in frames.items():
            if "customer_id" in frame.columns:
                out[table] = frame["customer_id"].astype(str)
            else:
                loans = parents["loans"]
                if "loans" in frames:
                    loans = pd.concat([loans, frames["loans"]], ignore_index=True)
                owner = dict(
                    zip(loans["loan_id"].astype(str), loans["customer_id"].astype(str), strict=True)
                )
                out[table] = frame["loan_id"].astype(str).map(owner)
        return out

    def _held_keys(self, s: Session, customers: Sequence[str]) -> dict[str, set[str]]:
        """The keys of the rows the history (the export) holds for ``customers``, per
        event table: one lookup per customer."""
        held: dict[str, set[str]] = {t: set() for t in EVENT_TABLES if t in s.tables}
        for cid in customers:
            s.load(cid, {})
            for table, keys in held.items():
                rows = s.con.execute(f"SELECT * FROM main.{table}").df()
                keys |= set(event_keys(table, rows))
        return held

    def _warnings(self, customers: Sequence[str]) -> list[dict[str, Any]]:
        """Early warnings for ``customers`` at the default decision date, recorded in the
        action store like the monitor's (the alerts that fired are returned)."""
        if not customers:
            return []
        at = self.default_as_of()
        previous = (pd.Timestamp(at) - pd.DateOffset(months=self.settings.previous_months)).date()
        now_rows, before_rows, loans, repayments = [], [], [], []
        with self.online.session() as s:
            for cid in customers:
                s.load(cid, self.events.rows(customer_id=cid))
                rows = s.features([previous, at], self.end_date_for(at))
                when = pd.to_datetime(rows["as_of"]).dt.date
                now_rows.append(rows[when == at])
                before_rows.append(rows[when == previous])
                if "loans" in s.tables:
                    loans.append(s.con.execute("SELECT * FROM main.loans").df())
                if "repayments" in s.tables:
                    repayments.append(s.con.execute("SELECT * FROM main.repayments").df())
        now = pd.concat(now_rows, ignore_index=True)
        if now.empty:
            return []
        before = pd.concat(before_rows, ignore_index=True)
        joined = join_snapshots(score_rows(self.scorer, now), score_rows(self.scorer, before))
        signals = warning_signals(
            now,
            joined,
            pd.concat(loans, ignore_index=True) if loans else None,
            pd.concat(repayments, ignore_index=True) if repayments else None,
            as_of=at,
            grades=list(self.scorer.policy.grades),
        )
        kept, _ = usable_rules(self.settings.warning_rules, signals.columns)
        fired = ew.evaluate_warnings(signals, kept)
        alerts = alert_table(joined, fired, at)
        if alerts.empty:
            return []
        self.actions.record(
            alerts, as_of=at, owners=self.settings.owners, model_version=self.model_version
        )
        freezes = self.actions.active_freezes(at, customers=list(customers))
        action_of = dict(zip(freezes["customer_id"], freezes["action_id"], strict=True))
        out = []
        for r in alerts.to_dict("records"):
            item = _plain({str(k): v for k, v in r.items()})
            item["as_of"] = at.isoformat()
            item["freeze_action_id"] = action_of.get(str(r["customer_id"]))
            out.append(item)
        return out

    # -- validation ----------------------------------------------------------------------

    def _validated(
        self,
        payload: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        end: date,
        parents: Mapping[str, pd.DataFrame],
    ) -> dict[str, pd.DataFrame]:
        """Posted rows through the validate stage's Great Expectations rules, parents
        first; every failing row is reported (and nothing is kept) when any fails."""
        problems: list[RowProblem] = []
        kept: dict[str, pd.DataFrame] = dict(parents)
        out: dict[str, pd.DataFrame] = {}
        with self._validation_lock:
            context = self._gx()
            for table in (t for t in HISTORY_TABLES if payload.get(t)):
                raw = _frame(table, payload[table])
                unknown = sorted(set(raw.columns) - set(self.columns[table]))
                if unknown:
                    problems += [
                        RowProblem(
                            table,
                            i,
                            [f"{c}: not a column of the contract or the export" for c in unknown],
                        )
                        for i in range(len(raw))
                    ]
                    continue
                merged_parents = dict(kept)
                if table == "repayments" and "loans" in out:
                    merged_parents["loans"] = pd.concat(
                        [kept.get("loans", pd.DataFrame()), out["loans"]], ignore_index=True
                    )
                if table != "customers" and "customers" in out:
                    merged_parents["customers"] = pd.concat(
                        [kept.get("customers", pd.DataFrame()), out["customers"]],
                        ignore_index=True,
                    )
                for name, key in (("customers", "customer_id"), ("loans", "loan_id")):
                    if name in merged_parents and len(merged_parents[name]):
                        merged_parents[name] = merged_parents[name].drop_duplicates(
                            key, keep="last"
                        )
                try:
                    result = validate_table(
                        context,
                        raw,
                        TABLES[table],
                        parents=_with_defaults(merged_parents),
                        end_date=end,
                        max_quarantine_share=1.0,
                    )
                except TableValidationError as exc:
                    problems.append(RowProblem(table, -1, [str(exc)]))
                    continue
                for r in result.quarantined.to_dict("records"):
                    problems.append(
                        RowProblem(
                            table, int(r["source_row"]), str(r["quarantine_reason"]).split("; ")
                        )
                    )
                out[table] = result.kept
        if problems:
            raise RowsRejectedError(problems)
        return out

    def _gx(self) -> Any:
        if self._context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.enable_analytics(False)
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._context = context
        return self._context

    def close(self) -> None:
        self.online.close()
        self.actions.close()


class _Direct:
    """The exported python model's predict without MLflow's input enforcement."""

    def __init__(self, python_model: Any) -> None:
        self.python_model = python_model

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        out: pd.DataFrame = self.python_model.predict(None, model_input)
        return out


POPULATION_ROWS = 50_000


def population(
    features: Path, scorer: Scorer, dictionary: Mapping[str, Mapping[str, object]]
) -> pd.DataFrame:
    """The actionable features at the feature table's latest snapshot (a seeded sample of
    at most :data:`POPULATION_ROWS`): the values recourse may move a feature to."""
    wanted = [f for f in scorer.spec.features if dictionary.get(f, {}).get("actionable")]
    dates = pd.read_parquet(features, columns=["as_of"])["as_of"]
    if dates.empty:
        return pd.DataFrame(columns=wanted)
    rows = pd.read_parquet(features, columns=wanted, filters=[("as_of", "==", dates.max())])
    return rows.sample(POPULATION_ROWS, random_state=0) if len(rows) > POPULATION_ROWS else rows


def _frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for column in TABLES[table].columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def _with_defaults(parents: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = dict(parents)
    out.setdefault("customers", pd.DataFrame({"customer_id": pd.Series(dtype="str")}))
    if "loans" not in out or out["loans"].empty:
        out["loans"] = pd.DataFrame(
            {
                "loan_id": pd.Series(dtype="str"),
                "opened_at": pd.Series(dtype="datetime64[us]"),
                "n_installments": pd.Series(dtype="Int64"),
            }
        )
    return out


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready values: numbers as numbers, missing as null, dates as text, recourse
    changes as an object."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
            out[key] = None
        elif isinstance(value, pd.Timestamp):
            out[key] = value.date().isoformat()
        elif key == "recourse_changes" and isinstance(value, str):
            out[key] = json.loads(value)
        else:
            try:
                out[key] = None if pd.isna(value) else value
            except (TypeError, ValueError):
                out[key] = value
    return out


__all__ = [
    "EVENT_TABLES",
    "DecisionService",
    "NoDecisionError",
    "RowProblem",
    "RowsRejectedError",
    "ServiceSettings",
    "UnknownCustomerError",
]
