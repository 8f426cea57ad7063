"""``creditrisk serve``: the decision service over this project's champion and history.

Run from the project's root after `dvc repro`::

    creditrisk serve [--host 127.0.0.1] [--port 8080] [--workers 1]

It serves ``data/scorer`` (the champion), reads the history from ``data/validated``
(indexed by customer into ``data/service/history.duckdb``, rebuilt when the validated
tables change), keeps posted events in ``data/events/events.db`` (which the next
``dvc repro`` ingests), records alerts and freezes in the monitor's action store and
appends every decision to ``data/decision_log``. ``CREDITRISK_API_TOKEN`` set: every route
but ``/healthz`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from creditrisk.monitoring.actions import ActionStore
from creditrisk.service.app import create_app
from creditrisk.service.decisions import DecisionService, ServiceSettings
from creditrisk.service.events import STORE_FILE, EventStore
from creditrisk.service.history import build_history
from pipelines.support.action_store import Locations, owners, store_url
from pipelines.support.artifacts import FeaturesDir
from pipelines.support.params import load_params
from pipelines.support.secrets import pseudonym_key
from pipelines.support.settings import feature_settings

log = logging.getLogger("pipelines.support.serve")

TOKEN_ENV = "CREDITRISK_API_TOKEN"
ROOT_ENV = "CREDITRISK_SERVE_ROOT"
HISTORY_FILE = Path("data/service/history.duckdb")
EVENTS = Path("data/events")
VALIDATED = Path("data/validated")
SCORER = Path("data/scorer")
FEATURES = Path("data/features")


def settings(root: Path) -> ServiceSettings:
    """The service's settings for the project at ``root`` (its params.yaml and data/)."""
    params = load_params(root / "params.yaml")
    m = params.monitor
    return ServiceSettings(
        scorer=root / SCORER,
        history=root / HISTORY_FILE,
        events=root / EVENTS / STORE_FILE,
        actions_url=store_url(root / Locations.actions, m.store_url),
        decision_log=root / Locations.decision_log,
        population=FeaturesDir(root / FEATURES).table,
        data_end=params.data.end_date,
        features=feature_settings(params),
        warning_rules=m.rules,
        previous_months=m.previous_months,
        reasons=params.policy.reasons,
        key=pseudonym_key(),
        owners=owners(root / VALIDATED, m.owner_column),
    )


def prepare(root: Path) -> None:
    """Index the validated history (once per export) and create the stores before any
    worker starts."""
    for needed in (root / SCORER / "MLmodel", root / VALIDATED / "customers.parquet"):
        if not needed.exists():
            raise SystemExit(
                f"creditrisk serve: {needed} is missing; run the pipeline first (dvc repro)"
            )
    info = build_history(root / VALIDATED, root / HISTORY_FILE)
    # The stores' tables are created here, once: workers starting together would race.
    params = load_params(root / "params.yaml")
    ActionStore(store_url(root / Locations.actions, params.monitor.store_url)).close()
    EventStore(root / EVENTS / STORE_FILE)
    log.info(
        "history %s (%s): %s",
        info.path,
        "indexed now" if info.rebuilt else "up to date",
        ", ".join(f"{t} {n:,}" for t, n in info.rows.items()),
    )


def app() -> FastAPI:
    """The application for uvicorn's factory mode (one per worker process)."""
    root = Path(os.environ.get(ROOT_ENV, ".")).resolve()
    return create_app(
        lambda: DecisionService(settings(root)), token=os.environ.get(TOKEN_ENV) or None
    )


def main(argv: Sequence[str]) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="creditrisk serve", description="The decision service (HTTP, OpenAPI at /docs)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (each loads the model)"
    )
    args = parser.parse_args(list(argv))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    root = Path.cwd()
    prepare(root)
    os.environ[ROOT_ENV] = str(root)
    if not os.environ.get(TOKEN_ENV):
        log.warning("%s is not set: the service accepts requests without a token", TOKEN_ENV)
    uvicorn.run(
        "pipelines.support.serve:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
    )
    return 0
