"""``explain-decision <pseudonym> [--date YYYY-MM-DD] [--log data/decision_log]``: print
a logged decision back in plain words with its lineage."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from creditrisk.governance.decision_log import describe, find


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="explain-decision",
        description="Print a logged credit decision in plain words, with its lineage.",
    )
    parser.add_argument("pseudonym", help="the customer's pseudonym, as in the decision log")
    parser.add_argument("--date", type=date.fromisoformat, help="only decisions logged that day")
    parser.add_argument("--log", type=Path, default=Path("data/decision_log"))
    args = parser.parse_args(argv)
    try:
        found = find(args.log, args.pseudonym, on=args.date)
    except FileNotFoundError as exc:
        print(f"explain-decision: {exc}", file=sys.stderr)
        return 2
    if found.empty:
        when = f" on {args.date}" if args.date else ""
        print(
            f"explain-decision: no decision about {args.pseudonym}{when} in {args.log}",
            file=sys.stderr,
        )
        return 1
    print(
        "\n\n".join(describe({str(k): v for k, v in r.items()}) for r in found.to_dict("records"))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
