"""``creditrisk``: the operator's command for the records the monthly loop keeps.

Run from the project's root (the folder with ``params.yaml``), like the stages::

    creditrisk limits list [--status active|lifted|all] [--customer ID]
    creditrisk limits lift CUSTOMER --reason TEXT --by NAME [--on YYYY-MM-DD]
    creditrisk alerts outbox [--owner NAME] [--csv FILE]
    creditrisk alerts sent ALERT_ID [ALERT_ID ...] --by NAME
    creditrisk erase CUSTOMER --reason TEXT
    creditrisk retention
    creditrisk end-date YYYY-MM-DD
    creditrisk check [--params params.yaml]
    creditrisk run --project FOLDER --overrides FILE [--until STAGE]
    creditrisk serve [--host 127.0.0.1] [--port 8080] [--workers 1]

``end-date`` sets ``data.end_date`` in ``params.yaml`` (comments kept) when a newer
export arrives: the nightly recipe in the README runs it before ``dvc repro``.

Every change is appended to the action store with who, when and why; ``erase`` is the
one exception that deletes (and leaves an erasure record without the customer's id).
After ``limits lift``, run ``dvc repro``: the changed store makes ``score`` re-run, and
the lifted limit is back in ``data/scores``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from creditrisk.governance import decision_log
from creditrisk.monitoring.actions import ActionStore, ActionStoreError
from pipelines.support import check, run
from pipelines.support.action_store import Locations, OperationsError, erase_customer, store_url
from pipelines.support.params import ParamsError, RetentionParams, load_params
from pipelines.support.secrets import pseudonym_key

SHOWN = [
    "action_id",
    "as_of",
    "customer_id",
    "owner",
    "rule",
    "status",
    "lifted_on",
    "lifted_by",
    "lift_reason",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditrisk", description="Limit freezes, alerts, erasure and retention."
    )
    parser.add_argument("--actions", type=Path, default=Locations.actions, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    limits = sub.add_parser("limits", help="limit freezes").add_subparsers(
        dest="verb", required=True
    )
    listing = limits.add_parser("list", help="limit actions and their status")
    listing.add_argument("--status", choices=["active", "lifted", "all"], default="active")
    listing.add_argument("--customer")
    lift = limits.add_parser("lift", help="lift a customer's active freezes")
    lift.add_argument("customer")
    lift.add_argument("--reason", required=True)
    lift.add_argument("--by", required=True, help="who decided (name or staff id)")
    lift.add_argument("--on", type=date.fromisoformat, help="effective date (default today)")
    alerts = sub.add_parser("alerts", help="the notification outbox").add_subparsers(
        dest="verb", required=True
    )
    outbox = alerts.add_parser("outbox", help="alerts not yet delivered to their owner")
    outbox.add_argument("--owner")
    outbox.add_argument("--csv", type=Path, help="write them to this file too")
    sent = alerts.add_parser("sent", help="record alerts as delivered")
    sent.add_argument("alert_ids", nargs="+")
    sent.add_argument("--by", required=True, help="the notification system or person")
    erase = sub.add_parser("erase", help="remove one customer's records everywhere")
    erase.add_argument("customer")
    erase.add_argument("--reason", required=True, help="e.g. the request's reference")
    sub.add_parser("retention", help="remove records older than the retention period")
    # The settings check and the pipeline in another folder (their own flags follow).
    for name, text in (
        ("check", "check the settings against the export; every problem at once"),
        ("run", "run every stage in a project folder with params overrides (examples)"),
        ("serve", "the decision service over the champion and the history (HTTP)"),
    ):
        sub.add_parser(name, help=text, add_help=False).add_argument(
            "rest", nargs=argparse.REMAINDER
        )
    end = sub.add_parser("end-date", help="set data.end_date (a newer export arrived)")
    end.add_argument("end_date", type=date.fromisoformat)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    # check and run parse their own flags: argparse's remainder does not take a first
    # argument that starts with "-", so their arguments are passed on whole.
    if given and given[0] == "check":
        return check.main(given[1:])
    if given and given[0] == "run":
        return run.cli(given[1:])
    if given and given[0] == "serve":
        from pipelines.support import serve  # the web stack loads only to serve

        return serve.main(given[1:])
    args = _parser().parse_args(given)
    try:
        if args.command == "end-date":
            return set_end_date(Path("params.yaml"), args.end_date)
        params = load_params()
        return _run(args, params.monitor.store_url, params.retention)
    except (ActionStoreError, OperationsError, ParamsError, FileNotFoundError) as exc:
        print(f"creditrisk: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, url: str | None, retention: RetentionParams) -> int:
    store = ActionStore(store_url(args.actions, url))
    try:
        if args.command == "limits" and args.verb == "list":
            acts = store.actions()
            if args.status != "all":
                acts = acts[acts["status"] == args.status]
            if args.customer:
                acts = acts[acts["customer_id"] == args.customer]
            _print(acts[[c for c in SHOWN if c in acts.columns]])
        elif args.command == "limits":
            on = args.on or date.today()
            ids = store.lift(args.customer, by=args.by, reason=args.reason, effective=on)
            print(f"lifted {len(ids)} freeze(s) of {args.customer} from {on}: {', '.join(ids)}")
            print("run `dvc repro` to re-score with the lifted limit")
        elif args.command == "alerts" and args.verb == "outbox":
            box = store.outbox()
            if args.owner:
                box = box[box["owner"] == args.owner]
            if args.csv:
                box.to_csv(args.csv, index=False)
            _print(box)
        elif args.command == "alerts":
            n = store.mark_sent(args.alert_ids, by=args.by, effective=date.today())
            print(f"{n} alert(s) recorded as delivered")
        elif args.command == "erase":
            store.close()
            return _erase(args, url)
        else:
            days = retention.actions_days, retention.decision_log_days
            removed = store.apply_retention(date.today() - timedelta(days=days[0]))
            logged = decision_log.apply_retention(
                Locations.decision_log, before=date.today() - timedelta(days=days[1])
            )
            print(f"removed: action store {removed}, decision log {logged} record(s)")
    finally:
        store.close()
    return 0


def set_end_date(path: Path, end: date) -> int:
    """Write ``data.end_date`` into ``path``, changing only that line (comments and
    layout kept), then check the file still loads (the previous text is put back when it
    does not).

    Raises:
        OperationsError: the file has no ``end_date`` line in its ``data`` section.
    """
    before = path.read_text()
    lines = before.splitlines(keepends=True)
    section = ""
    for i, line in enumerate(lines):
        top = re.match(r"^([A-Za-z_]\w*):", line)
        if top:
            section = top.group(1)
            continue
        m = re.match(r"^(\s+end_date:\s*)(\S+)(.*)$", line, flags=re.DOTALL)
        if section == "data" and m:
            lines[i] = f'{m.group(1)}"{end.isoformat()}"{m.group(3)}'
            break
    else:
        raise OperationsError(f"{path} has no data.end_date line to set")
    path.write_text("".join(lines))
    try:
        load_params(path)
    except ParamsError:
        path.write_text(before)
        raise
    print(f"data.end_date: {m.group(2)} -> {end}")
    return 0


def _erase(args: argparse.Namespace, url: str | None) -> int:
    where = Locations(actions=args.actions)
    removed, still = erase_customer(
        args.customer, key=pseudonym_key(), url=url, reason=args.reason, where=where
    )
    print("erased: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    if still:
        print(
            "still in the pipeline's files derived from the export (remove the customer from "
            "the export, then run `dvc repro`):\n  " + "\n  ".join(still)
        )
    return 0


def _print(frame: pd.DataFrame) -> None:
    if frame.empty:
        print("(none)")
        return
    with pd.option_context("display.max_rows", 500, "display.width", 200):
        print(frame.to_string(index=False))


if __name__ == "__main__":
    raise SystemExit(main())
