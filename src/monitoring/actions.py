"""The action store: early-warning alerts and limit actions, kept across runs.

An embedded SQLite file under ``data/`` by default; the connection string is a setting
(``monitor.store.url``) and the tables are SQLAlchemy Core definitions, so the same code
runs on PostgreSQL (``postgresql+psycopg://...``, with that driver installed).

Tables (rows are appended, never updated; only erasure and retention delete):

- ``alerts``: one row per customer and monitored ``as_of`` with a warning: owner (the
  customer's account manager, when the customers table has the owner column), level,
  rules, actions, PD and grade, previous and new limit. It is the notification outbox.
- ``limit_actions``: one row per freeze (an alert whose actions freeze the limit).
- ``action_events``: what happened to an alert or an action later: ``lifted`` (by a cure
  rule or a person, with a reason, effective from a date) and ``sent`` (the
  notification system delivered the alert to its owner).
- ``erasures``: one row per erasure request carried out, without the customer's id.

An alert's or action's id is a hash of (as_of, customer_id), so re-running a monitoring
date adds nothing twice, with one exception: when a later evaluation of a date already
recorded (an event posted to the decision service, or a re-run with newer data or a new
champion) calls for a freeze and the customer has none at that date, the freeze is added,
tied to the alert already there: a graver warning is never dropped. A freeze is *active*
at a date when it was recorded at or before that date and no lift is effective at or
before it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditrisk.models.output import frozen_policy, is_frozen
from creditrisk.monitoring import warnings as ew
from creditrisk.schemas import warnings as sw
from creditrisk.schemas.warnings import CureRule

LIFTED = "lifted"
SENT = "sent"
BY_CURE = "cure_rule"
BY_PERSON = "person"

metadata = sa.MetaData()

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False, index=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("owner", sa.String(200)),
    sa.Column("level", sa.String(20), nullable=False),
    sa.Column("rules", sa.String(2000), nullable=False),
    sa.Column("actions", sa.String(2000), nullable=False),
    sa.Column("pd", sa.Float),
    sa.Column("previous_pd", sa.Float),
    sa.Column("grade", sa.String(20)),
    sa.Column("previous_grade", sa.String(20)),
    sa.Column("previous_limit", sa.Float),
    sa.Column("new_limit", sa.Float),
    sa.Column("model_version", sa.String(200)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("as_of", "customer_id", name="uq_alerts_as_of_customer"),
)

limit_actions = sa.Table(
    "limit_actions",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False, index=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("owner", sa.String(200)),
    sa.Column("rule", sa.String(2000), nullable=False),
    sa.Column("level", sa.String(20), nullable=False),
    sa.Column("actions", sa.String(2000), nullable=False),
    sa.Column("previous_limit", sa.Float),
    sa.Column("new_limit", sa.Float, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("as_of", "customer_id", name="uq_limit_actions_as_of_customer"),
)

action_events = sa.Table(
    "action_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),  # alert or action id
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # lifted | sent
    sa.Column("effective", sa.Date, nullable=False),
    sa.Column("by_kind", sa.String(20), nullable=False),  # cure_rule | person | notifier
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(2000), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("erasure_id", sa.String(64), primary_key=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(2000), nullable=False),
    sa.Column("removed", sa.String(4000), nullable=False),  # JSON: store -> rows removed
)


class ActionStoreError(ValueError):
    """A request the store cannot carry out (e.g. lifting a freeze that is not active)."""


def _id(as_of: date, customer_id: str, kind: str) -> str:
    text = f"{kind}|{as_of.isoformat()}|{customer_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ActionStore:
    """The store behind a SQLAlchemy URL; the tables are created when missing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------

    def record(
        self,
        table: pd.DataFrame,
        *,
        as_of: date,
        owners: Mapping[str, str] | None = None,
        model_version: str = "",
    ) -> tuple[int, int, int]:
        """Append the alerts of one monitoring date (the monitor's alert table) and a
        limit action for each alert that freezes the limit. Alerts already recorded for
        that date are left as they are. Returns (alerts added, alerts already there,
        freezes added)."""
        owners = owners or {}
        when = _now()
        with self.engine.begin() as con:
            known = {
                r.customer_id
                for r in con.execute(sa.select(alerts.c.customer_id).where(alerts.c.as_of == as_of))
            }
            frozen_at = {
                r.customer_id
                for r in con.execute(
                    sa.select(limit_actions.c.customer_id).where(limit_actions.c.as_of == as_of)
                )
            }
            rows, freezes = [], []
            for r in table.to_dict("records"):
                cid = str(r["customer_id"])
                alert_id = _id(as_of, cid, "alert")
                owner = owners.get(cid)
                if cid in known:
                    # Recorded already at this date; a later, graver warning of the same date
                    # (an event posted to the decision service) still freezes the limit.
                    if sw.FREEZE in str(r["action"]).split(",") and cid not in frozen_at:
                        freezes.append(_freeze(r, alert_id, as_of, cid, owner, when))
                    continue
                rows.append(
                    {
                        "alert_id": alert_id,
                        "as_of": as_of,
                        "customer_id": cid,
                        "owner": owner,
                        "level": str(r["level"]),
                        "rules": str(r["rules"]),
                        "actions": str(r["action"]),
                        "pd": _float(r.get("pd")),
                        "previous_pd": _float(r.get("previous_pd")),
                        "grade": _text(r.get("grade")),
                        "previous_grade": _text(r.get("previous_grade")),
                        "previous_limit": _float(r.get("previous_credit_limit")),
                        "new_limit": _float(r.get("new_credit_limit")),
                        "model_version": model_version,
                        "recorded_at": when,
                    }
                )
                if sw.FREEZE in str(r["action"]).split(","):
                    freezes.append(_freeze(r, alert_id, as_of, cid, owner, when))
            if rows:
                con.execute(alerts.insert(), rows)
            if freezes:
                con.execute(limit_actions.insert(), freezes)
        return len(rows), len(table) - len(rows), len(freezes)

    def lift(
        self,
        customer_id: str,
        *,
        by: str,
        reason: str,
        effective: date,
        by_kind: str = BY_PERSON,
    ) -> list[str]:
        """Lift every freeze of a customer active at ``effective``; returns their ids.

        Raises:
            ActionStoreError: no reason given, or the customer has no active freeze.
        """
        if not reason.strip():
            raise ActionStoreError("lifting a freeze needs a reason")
        active = self.active_freezes(effective)
        ids = active.loc[active["customer_id"] == str(customer_id), "action_id"].tolist()
        if not ids:
            raise ActionStoreError(
                f"customer {customer_id} has no active limit freeze at {effective}"
            )
        self._events([(i, str(customer_id)) for i in ids], LIFTED, effective, by_kind, by, reason)
        return ids

    def mark_sent(self, alert_ids: Sequence[str], *, by: str, effective: date) -> int:
        """Record that the notification system delivered these alerts; returns how many
        were newly marked (an alert already sent is not marked twice).

        Raises:
            ActionStoreError: an id is not an alert in the store.
        """
        with self.engine.connect() as con:
            found = {
                r.alert_id: r.customer_id
                for r in con.execute(
                    sa.select(alerts.c.alert_id, alerts.c.customer_id).where(
                        alerts.c.alert_id.in_(list(alert_ids))
                    )
                )
            }
            sent = {
                r.subject_id
                for r in con.execute(
                    sa.select(action_events.c.subject_id).where(
                        action_events.c.kind == SENT,
                        action_events.c.subject_id.in_(list(alert_ids)),
                    )
                )
            }
        unknown = sorted(set(alert_ids) - set(found))
        if unknown:
            raise ActionStoreError(f"no such alert(s): {unknown[:5]}")
        todo = [(a, found[a]) for a in alert_ids if a not in sent]
        self._events(todo, SENT, effective, "notifier", by, "delivered to the owner")
        return len(todo)

    def apply_cures(self, snapshot: pd.DataFrame, rule: CureRule, *, as_of: date) -> list[str]:
        """Lift the active freezes whose customer meets the cure rule on ``snapshot`` (the
        features and ``pd`` at ``as_of``; a customer frozen again at ``as_of`` is not
        cured). Returns the lifted action ids."""
        active = self.active_freezes(as_of)
        if active.empty or snapshot.empty:
            return []
        old_enough = (
            active["as_of"].map(lambda d: _months_between(d, as_of) >= rule.min_months).astype(bool)
        )
        frozen_now = set(active.loc[active["as_of"] == as_of, "customer_id"])
        candidates = active[
            old_enough & (active["as_of"] < as_of) & ~active["customer_id"].isin(frozen_now)
        ]
        latest = snapshot.assign(customer_id=snapshot["customer_id"].astype(str))
        latest = latest[latest["customer_id"].isin(set(candidates["customer_id"]))]
        healthy = set(latest.loc[ew.all_hold(rule.when, latest), "customer_id"])
        cured = [
            (action_id, cid)
            for action_id, cid in zip(
                candidates["action_id"], candidates["customer_id"], strict=True
            )
            if cid in healthy
        ]
        text = " and ".join(c.describe() for c in rule.when)
        self._events(cured, LIFTED, as_of, BY_CURE, rule.name, f"cured: {text}")
        return [a for a, _ in cured]

    def _events(
        self,
        subjects: Sequence[tuple[str, str]],
        kind: str,
        effective: date,
        by_kind: str,
        by: str,
        reason: str,
    ) -> None:
        if not subjects:
            return
        when = _now()
        rows = [
            {
                "event_id": uuid.uuid4().hex,
                "subject_id": subject,
                "customer_id": cid,
                "kind": kind,
                "effective": effective,
                "by_kind": by_kind,
                "by": by,
                "reason": reason,
                "recorded_at": when,
            }
            for subject, cid in subjects
        ]
        with self.engine.begin() as con:
            con.execute(action_events.insert(), rows)

    # -- reading -------------------------------------------------------------------------

    def frame(self, table: sa.Table, customers: Sequence[str] | None = None) -> pd.DataFrame:
        """A whole table (or the rows of ``customers``), in a stable order."""
        key = list(table.primary_key.columns)
        query = sa.select(table)
        if customers is not None:
            query = query.where(table.c.customer_id.in_([str(c) for c in customers]))
        with self.engine.connect() as con:
            result = con.execute(query.order_by(*key))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        for col in table.columns:
            if isinstance(col.type, sa.Date) and col.name in frame:
                frame[col.name] = pd.to_datetime(frame[col.name]).dt.date
        return frame

    def actions(self, customers: Sequence[str] | None = None) -> pd.DataFrame:
        """Every limit action (of ``customers``, when given) with its status (active or
        lifted), who lifted it, when and why."""
        acts = self.frame(limit_actions, customers)
        events = self.frame(action_events, customers)
        lifts = events[events["kind"] == LIFTED].sort_values(["effective", "recorded_at"])
        lifts = lifts.drop_duplicates("subject_id")[
            ["subject_id", "effective", "by_kind", "by", "reason"]
        ].rename(
            columns={
                "subject_id": "action_id",
                "effective": "lifted_on",
                "by_kind": "lifted_by_kind",
                "by": "lifted_by",
                "reason": "lift_reason",
            }
        )
        out = acts.merge(lifts, on="action_id", how="left")
        out["status"] = out["lifted_on"].isna().map({True: "active", False: LIFTED})
        return out.sort_values(["as_of", "customer_id"]).reset_index(drop=True)

    def active_freezes(self, at: date, customers: Sequence[str] | None = None) -> pd.DataFrame:
        """Freezes recorded at or before ``at`` with no lift effective at or before it (of
        ``customers``, when given: an indexed lookup, not a read of the whole store)."""
        if customers is not None and not self._has_actions(customers):
            return self.frame(limit_actions, []).assign(status=pd.Series(dtype=str))
        acts = self.actions(customers)
        if acts.empty:
            return acts
        recorded = acts["as_of"] <= at
        lifted = acts["lifted_on"].map(lambda d: d is not None and not pd.isna(d) and d <= at)
        return acts[recorded & ~lifted.astype(bool)].reset_index(drop=True)

    def _has_actions(self, customers: Sequence[str]) -> bool:
        with self.engine.connect() as con:
            found = con.execute(
                sa.select(limit_actions.c.action_id)
                .where(limit_actions.c.customer_id.in_([str(c) for c in customers]))
                .limit(1)
            ).first()
        return found is not None

    def outbox(self) -> pd.DataFrame:
        """Alerts not yet delivered to their owner, oldest first."""
        al = self.frame(alerts)
        events = self.frame(action_events)
        sent = set(events.loc[events["kind"] == SENT, "subject_id"])
        return (
            al[~al["alert_id"].isin(sent)]
            .sort_values(["as_of", "customer_id"])
            .reset_index(drop=True)
        )

    # -- erasure and retention -----------------------------------------------------------

    def erase(self, customer_id: str) -> dict[str, int]:
        """Delete every row about one customer; returns rows removed per table."""
        cid = str(customer_id)
        with self.engine.begin() as con:
            removed = {
                "action_events": con.execute(
                    action_events.delete().where(action_events.c.customer_id == cid)
                ).rowcount,
                "limit_actions": con.execute(
                    limit_actions.delete().where(limit_actions.c.customer_id == cid)
                ).rowcount,
                "alerts": con.execute(alerts.delete().where(alerts.c.customer_id == cid)).rowcount,
            }
        return {k: int(v) for k, v in removed.items()}

    def record_erasure(self, removed: Mapping[str, int], reason: str) -> str:
        """The erasure's own record: when, why and how many rows, never whose."""
        erasure_id = uuid.uuid4().hex
        with self.engine.begin() as con:
            con.execute(
                erasures.insert(),
                [
                    {
                        "erasure_id": erasure_id,
                        "recorded_at": _now(),
                        "reason": reason,
                        "removed": json.dumps(dict(sorted(removed.items()))),
                    }
                ],
            )
        return erasure_id

    def apply_retention(self, before: date) -> dict[str, int]:
        """Delete alerts and lifted actions recorded for dates before ``before`` (with their
        events); active freezes stay whatever their age. Returns rows removed per table."""
        acts = self.actions()
        old_lifted = acts[(acts["as_of"] < before) & (acts["status"] == LIFTED)]
        kept_alerts = set(acts.loc[acts["status"] == "active", "alert_id"])
        with self.engine.begin() as con:
            old_alerts = [
                r.alert_id
                for r in con.execute(sa.select(alerts.c.alert_id).where(alerts.c.as_of < before))
                if r.alert_id not in kept_alerts
            ]
            subjects = [*old_lifted["action_id"], *old_alerts]
            removed = {
                "action_events": _delete_in(con, action_events, "subject_id", subjects),
                "limit_actions": _delete_in(
                    con, limit_actions, "action_id", list(old_lifted["action_id"])
                ),
            }
            # an alert still referenced by a kept action stays
            referenced = {r.alert_id for r in con.execute(sa.select(limit_actions.c.alert_id))}
            removed["alerts"] = _delete_in(
                con, alerts, "alert_id", [a for a in old_alerts if a not in referenced]
            )
        return removed


def apply_freezes(decisions: pd.DataFrame, active: pd.DataFrame) -> pd.DataFrame:
    """Decisions with the active freezes applied: ``credit_limit`` 0 and ``limit_policy``
    naming the freeze (the latest one when a customer has several)."""
    if active.empty or decisions.empty or "customer_id" not in decisions.columns:
        return decisions
    latest = active.sort_values("as_of").drop_duplicates("customer_id", keep="last")
    policy = {
        str(cid): frozen_policy(str(rule))
        for cid, rule in zip(latest["customer_id"], latest["rule"], strict=True)
    }
    reason = {
        str(cid): f"The limit is frozen for review after an early warning ({rule}) of {as_of} "
        f"(action {action_id})"
        for cid, rule, as_of, action_id in zip(
            latest["customer_id"], latest["rule"], latest["as_of"], latest["action_id"], strict=True
        )
    }
    ids = decisions["customer_id"].astype(str)
    hit = ids.isin(policy).to_numpy()
    if not hit.any():
        return decisions
    out = decisions.copy()
    out.loc[hit, "credit_limit"] = 0.0
    out.loc[hit, "limit_policy"] = ids[hit].map(policy).to_numpy()
    out["limit_reason"] = (
        out["limit_reason"].astype(object)
        if "limit_reason" in out
        else pd.Series(None, index=out.index, dtype=object)
    )
    out.loc[hit, "limit_reason"] = ids[hit].map(reason).to_numpy()
    return out


class FrozenLimits:
    """A scorer whose decisions carry the active freezes (wrap the loaded pyfunc model;
    wrap this one in the decision log's ``LoggingScorer`` to log the frozen decision)."""

    def __init__(self, model: Any, active: pd.DataFrame) -> None:
        self.model = model
        self.active = active
        self.applied = 0

    def predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        decisions = self.model.predict(model_input)
        out = apply_freezes(decisions, self.active)
        self.applied += int(is_frozen(out["limit_policy"]).sum())
        return out


def _freeze(
    r: Mapping[Any, Any], alert_id: str, as_of: date, cid: str, owner: str | None, when: datetime
) -> dict[str, Any]:
    return {
        "action_id": _id(as_of, cid, "freeze"),
        "alert_id": alert_id,
        "as_of": as_of,
        "customer_id": cid,
        "owner": owner,
        "rule": str(r["rules"]),
        "level": str(r["level"]),
        "actions": str(r["action"]),
        "previous_limit": _float(r.get("previous_credit_limit")),
        "new_limit": 0.0,
        "recorded_at": when,
    }


def _delete_in(con: Any, table: sa.Table, column: str, values: Sequence[str]) -> int:
    total = 0
    for first in range(0, len(values), 500):  # keep statements small on every backend
        chunk = list(values[first : first + 500])
        total += int(con.execute(table.delete().where(table.c[column].in_(chunk))).rowcount)
    return total


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)
