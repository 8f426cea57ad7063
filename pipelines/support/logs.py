"""Logging for the stages and commands: lines a newcomer can read."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines a newcomer can read: time, stage module, message."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Great Expectations logs every config save at INFO; keep its warnings only.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
