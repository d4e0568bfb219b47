"""``?after=<store position>&wait=<seconds>`` on the queries that read a view: read-your-writes.

A command answers its event's ``store_position``; a query given it waits (at most ``wait``
seconds, at most ``MAX_WAIT_SECONDS``) until its view has reached that position
(``application.view_positions`` says what reached means), then answers. If the wait runs out
first it answers 409 ``view_behind`` with how far the view and the relay had got, and
``Retry-After``.

The wait is a dependency run on the event loop, after the token and the permission table: it
sleeps between reads without holding a worker thread, so many waiting clients cannot starve the
others. Each read runs in a thread, as every other store read of the API does.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.access import Authorized
from api.state import backoffice_of
from application.view_positions import (
    DEFAULT_WAIT_SECONDS,
    MAX_WAIT_SECONDS,
    POLL_SECONDS,
    applied_version,
    awaited_event,
    view_behind,
)
from application.view_results import ViewBehindRefusal
from service.bootstrap import BackOffice

After = Annotated[
    int | None,
    Query(
        ge=1,
        description="a store position a command answered (store_position): answer once this "
        "query's view holds the event recorded there",
    ),
]
Wait = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="with after: how long to wait at most, in seconds (then 409 view_behind)",
    ),
]

VIEW_BEHIND_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ViewBehindRefusal,
        "description": "view_behind: the view had not reached `after` when `wait` ran out "
        "(ask again; Retry-After says when)",
    }
}


async def wait_until_reached(backoffice: BackOffice, view: str, position: int, wait: float) -> None:
    """Return once ``view`` holds the event at ``position``; ``ViewBehind`` after ``wait``."""
    started = time.monotonic()
    awaited = await run_in_threadpool(awaited_event, backoffice, view, position)
    if awaited is None:
        return  # the view never reads that event: nothing to wait for
    while True:
        applied = await run_in_threadpool(applied_version, backoffice, view, awaited.stream_id)
        if applied >= awaited.version:
            return
        waited = time.monotonic() - started
        if waited >= wait:
            raise await run_in_threadpool(view_behind, backoffice, view, awaited, applied, waited)
        await anyio.sleep(min(POLL_SECONDS, wait - waited))


def read_after(view: str) -> Any:
    """The dependency of a query over ``view``: waits when the request names ``after``."""

    async def reached(
        request: Request,
        _identity: Authorized,  # the token and the table first: nobody unknown makes us wait
        after: After = None,
        wait: Wait = DEFAULT_WAIT_SECONDS,
    ) -> None:
        if after is not None:
            await wait_until_reached(backoffice_of(request), view, after, wait)

    return Depends(reached)
