"""The auditor's checks: every read model against its rebuild from the store (``sscard
verify``) and the store's hash chains (``sscard audit verify-chain``), each run by a POST (a
run rebuilds every view or reads the whole log: it costs) and answered with its verdict as a
table. Nothing is recorded; verify-chain brings the log chain's audit up to date, as the
command does.

A verify run waits for the relay and the consumers (at most the form's wait) before it
compares, and rebuilds in this process (one worker: a page must not take the machine's cores
from the API it serves beside).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import Response

from api.state import backoffice_of
from application import audit, views
from console.access import Permitted
from console.render import page

# Differences shown per table: the first few say where to look; the CLI shows the rest.
SHOWN_DIFFERENCES = 5
MAX_WAIT_SECONDS = 60


def add_verify_pages(console: FastAPI) -> None:
    @console.get("/verify")
    def verify_page(request: Request, identity: Permitted) -> Response:
        return page(request, "verify.html", identity=identity, **_empty())

    @console.post("/verify/views")
    def verify_views(
        request: Request,
        identity: Permitted,
        wait: Annotated[int, Form(ge=0, le=MAX_WAIT_SECONDS)] = 10,
    ) -> Response:
        settings = backoffice_of(request).settings
        # No names: every view, as ``sscard verify`` without one.
        verdict = views.verify(settings, [], wait=wait, show=SHOWN_DIFFERENCES, workers=1)
        return page(request, "verify.html", identity=identity, **(_empty() | {"views": verdict}))

    @console.post("/verify/chain")
    def verify_chain(request: Request, identity: Permitted) -> Response:
        verdict = audit.verify_chain(backoffice_of(request))
        return page(request, "verify.html", identity=identity, **(_empty() | {"chain": verdict}))


def _empty() -> dict[str, Any]:
    return {"views": None, "chain": None, "max_wait": MAX_WAIT_SECONDS}
