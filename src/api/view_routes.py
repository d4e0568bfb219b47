"""The read models' operations over HTTP: rebuilding views from the store (``sscard replay``),
verifying them against a rebuild (``sscard verify``), and the lifecycle analytics as CSV
(``sscard analytics export``).

Replay and verify run while the request waits, as the command line runs them. Why not a job
with a status resource: several API processes serve one store, so a job's status would have to
live in the store and a job would die with the process that ran it; a rebuild is idempotent (a
replay rebuilt and swapped again gives the same rows; verify writes no live row), so a client
that gave up simply asks again. What is bounded: one rebuild at a time per process (another
answers 409 ``rebuild_running`` at once, holding no thread), verify's wait for the consumers
(at most 60 s), and the processes a rebuild may use (the cores available).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.access import Authorized
from api.idempotency import responses
from api.read_after import VIEW_BEHIND_RESPONSE, read_after
from api.state import backoffice_of
from application import views
from application.catalogue import VIEW_NAMES, cores_available
from application.view_results import AnalyticsTable, ReplayResult, VerifyResult
from domain.errors import DomainError

MAX_VERIFY_WAIT_SECONDS = 60.0
_VIEW_NAME = "^(" + "|".join(VIEW_NAMES) + ")$"


class RebuildRunning(DomainError):
    code = "rebuild_running"


class ReplayBody(BaseModel):
    """Which views to rebuild (default: all), on how many processes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    views: list[Annotated[str, Field(pattern=_VIEW_NAME)]] = Field(
        default_factory=list, description=f"of {', '.join(VIEW_NAMES)}; empty: all"
    )
    workers: int = Field(default=1, ge=1, le=cores_available(), description="processes")


_one_rebuild = threading.Lock()


@contextmanager
def _rebuilding() -> Iterator[None]:
    """One rebuild at a time in this process: a second is refused at once."""
    if not _one_rebuild.acquire(blocking=False):
        raise RebuildRunning("a replay or verify is running in this process; ask again after it")
    try:
        yield
    finally:
        _one_rebuild.release()


_BUSY: dict[int | str, dict[str, Any]] = responses(409)


def add_view_routes(app: FastAPI) -> None:
    @app.post(
        "/views/replays",
        response_model=ReplayResult,
        responses=_BUSY,
        tags=["views"],
        summary="rebuild views from the store (no Kafka) and swap them in; answers when done",
    )
    def replay(request: Request, _identity: Authorized, body: ReplayBody) -> ReplayResult:
        settings = backoffice_of(request).settings
        with _rebuilding():
            return views.replay(settings, body.views, body.workers)

    @app.get(
        "/views/verification",
        response_model=VerifyResult,
        responses=_BUSY,
        tags=["views"],
        summary="rebuild views into a scratch store and compare them with the live ones",
    )
    def verify(
        request: Request,
        _identity: Authorized,
        view: Annotated[str | None, Query(pattern=_VIEW_NAME, description="default: all")] = None,
        wait: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_VERIFY_WAIT_SECONDS,
                description="seconds to wait for the relay and the consumers to catch up",
            ),
        ] = 10.0,
        show: Annotated[int, Query(ge=1, le=100, description="differences per table")] = 10,
    ) -> VerifyResult:
        settings = backoffice_of(request).settings
        names = [view] if view else list(VIEW_NAMES)
        with _rebuilding():
            return views.verify(settings, names, wait, show, workers=1)

    @app.get(
        "/analytics/{table}",
        response_class=StreamingResponse,
        responses=responses(404)
        | VIEW_BEHIND_RESPONSE
        | {200: {"content": {"text/csv": {}}, "description": "the table as CSV, a header first"}},
        tags=["views"],
        summary="the lifecycle figures as CSV: per outlet and month, or per case",
    )
    def analytics(
        request: Request,
        table: AnalyticsTable,
        _identity: Authorized,
        _reached: Annotated[None, read_after("lifecycle_analytics")],
    ) -> StreamingResponse:
        lines = views.analytics_csv(backoffice_of(request).settings, table)
        return StreamingResponse(
            lines,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
        )
