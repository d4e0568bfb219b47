"""Around every request: a request id (the client's ``X-Request-Id`` when it is a sane one, else a
new one; echoed in the response), the body size limit (413), and one JSON access log line.

The access line names the route as declared (``/holders/{holder_ref}/claims``), never the path
as sent nor the query: a path names a holder by reference, not by ID number, but a log keeps no
holder at all. The identity is logged by role and subject (a staff id; a cardholder's subject),
never by holder.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.refusals import refusal

access_log = logging.getLogger("sscard.api.access")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: a claim or a batch of a few thousand rows fits
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class BodyTooLarge(Exception):
    pass


class RequestFrame:
    """The ASGI middleware: request id, body limit, access log."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        answered: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if _declared_length(scope) > self.max_body_bytes:
                raise BodyTooLarge
            await self.app(scope, self._limited(receive), send_with_id)
        except BodyTooLarge:
            if "status" not in answered:
                response = refusal(
                    413,
                    "invalid",
                    "body_too_large",
                    f"the request body is over {self.max_body_bytes} bytes",
                )
                await response(scope, receive, send_with_id)
        finally:
            _log(scope, request_id, answered.get("status", 500), started)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _log(scope: Scope, request_id: str, status: int, started: float) -> None:
    route = scope.get("route")
    identity = scope.get("state", {}).get("identity")
    line: dict[str, Any] = {
        "request_id": request_id,
        "method": scope.get("method"),
        "route": getattr(route, "path_format", None) or "(no route)",
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if identity is not None:
        line["role"] = identity.role.value
        line["subject"] = identity.subject
    access_log.info(json.dumps(line, ensure_ascii=False))
