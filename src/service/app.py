"""The HTTP layer of the decision service (FastAPI): routes, bearer-token check and the
error responses. Nothing here computes a decision; :mod:`creditrisk.service.decisions`
does.

Errors never carry a traceback, a posted value or a customer's data: a malformed body is
422 with the field's location and the problem, an unknown customer 404, a customer with
no decision at the date 409, an internal failure 500 with an id that the service log
repeats beside the exception's type.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from creditrisk.service.decisions import (
    DecisionService,
    NoDecisionError,
    RowsRejectedError,
    UnknownCustomerError,
)

log = logging.getLogger("creditrisk.service")

Row = dict[str, Any]


class History(BaseModel):
    """A customer's own history, in the raw contract's columns."""

    model_config = ConfigDict(extra="forbid")
    customer: Row = Field(description="one row of the customers table")
    transactions: list[Row] = Field(default_factory=list)
    loans: list[Row] = Field(default_factory=list)
    repayments: list[Row] = Field(default_factory=list)


class DecisionRequest(BaseModel):
    """A customer of the history by id, or a history sent with the request."""

    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(None, min_length=1, max_length=200)
    history: History | None = None
    as_of: date | None = Field(
        None, description="decision date (features see events strictly before it)"
    )

    @field_validator("as_of")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        if value is not None and value > tomorrow:
            raise ValueError(f"a decision date after {tomorrow} is in the future")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DecisionRequest:
        if (self.customer_id is None) == (self.history is None):
            raise ValueError("give either customer_id or history, not both and not neither")
        return self


class EventsRequest(BaseModel):
    """New rows of the history: any of the three event tables."""

    model_config = ConfigDict(extra="forbid")
    transactions: list[Row] = Field(default_factory=list)
    loans: list[Row] = Field(default_factory=list)
    repayments: list[Row] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> EventsRequest:
        if not (self.transactions or self.loans or self.repayments):
            raise ValueError("no rows: give transactions, loans or repayments")
        return self


async def _off_loop(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


def create_app(make_service: Callable[[], DecisionService], *, token: str | None) -> FastAPI:
    """The application; ``make_service`` runs once at start-up (it loads the model and
    compiles the feature statement). With ``token`` set, every route but ``/healthz``
    needs ``Authorization: Bearer <token>``."""
    state: dict[str, DecisionService] = {}

    pools: dict[str, ThreadPoolExecutor] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        state["service"] = make_service()
        # The CPU work runs off the event loop on a fixed set of threads, one per feature
        # session: a thread that always does the work keeps the engines' per-thread state
        # (allocator caches, OpenMP teams) warm, which a fresh pool thread per request does
        # not.
        pools["decisions"] = ThreadPoolExecutor(
            max_workers=state["service"].settings.sessions, thread_name_prefix="decide"
        )
        pools["events"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")
        log.info("decision service ready: model %s", state["service"].model_version)
        yield
        for pool in pools.values():
            pool.shutdown(wait=True)
        state.pop("service").close()

    app = FastAPI(
        title="creditrisk decision service",
        description="Credit decisions by customer id or from a posted history, computed by "
        "the batch pipeline's own feature definitions and the exported champion; events "
        "that update the history and fire early warnings at once.",
        version="1",
        lifespan=lifespan,
    )
    bearer = Depends(HTTPBearer(auto_error=False))

    def authorised(credentials: HTTPAuthorizationCredentials | None = bearer) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def service() -> DecisionService:
        return state["service"]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        s = service()
        return {
            "status": "ok",
            "model_version": s.model_version,
            "as_of": s.default_as_of().isoformat(),
        }

    @app.post("/v1/decisions", dependencies=[Depends(authorised)])
    async def decisions(body: DecisionRequest) -> dict[str, Any]:
        out: dict[str, Any] = await _off_loop(pools["decisions"], _decide, body)
        return out

    def _decide(body: DecisionRequest) -> dict[str, Any]:
        s = service()
        try:
            if body.customer_id is not None:
                return s.decide(body.customer_id, body.as_of)
            assert body.history is not None
            history = body.history.model_dump()
            history["customers"] = [history.pop("customer")]
            return s.decide_history(history, body.as_of)
        except UnknownCustomerError as exc:
            raise HTTPException(
                404, detail=f"customer {exc.args[0]} is not in the history or the event store"
            ) from None
        except NoDecisionError as exc:
            raise HTTPException(409, detail=str(exc)) from None

    @app.post("/v1/events", dependencies=[Depends(authorised)])
    async def events(body: EventsRequest) -> dict[str, Any]:
        out: dict[str, Any] = await _off_loop(
            pools["events"], service().post_events, body.model_dump()
        )
        return out

    @app.exception_handler(RowsRejectedError)
    async def rejected(_: Request, exc: RowsRejectedError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": "rows fail the raw contract's rules; nothing was stored",
                "rows": [p.to_dict() for p in exc.problems],
            },
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The location and the message only: the posted value (a customer's data) is
        # never echoed.
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.middleware("http")
    async def contained(request: Request, call_next: Any) -> Any:
        # An unexpected failure: its type and an incident id in the log, the id in the
        # response; never the traceback or the exception's text, which may hold a
        # customer's data. (An exception handler for Exception would still let the
        # server print the traceback.)
        try:
            return await call_next(request)
        except Exception as exc:
            incident = uuid.uuid4().hex[:12]
            log.error("request failed: %s (incident %s)", type(exc).__name__, incident)
            return JSONResponse(
                status_code=500,
                content={"detail": f"internal error (incident {incident}); the service log has it"},
            )

    return app
