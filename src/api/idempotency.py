"""The ``Idempotency-Key`` header (the domain's request id) and the answers every command and
query documents in the OpenAPI description."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header

from api.refusals import REFUSAL_RESPONSES
from domain.requests import _REQUEST_ID_PATTERN

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=_REQUEST_ID_PATTERN,
        description="the client's id for this request: a retry with the same key and the same "
        "body answers the first result (header Idempotent-Replayed: true) and records nothing; "
        "the same key with another body is refused (422, request_id_reused)",
    ),
]


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals every route may answer (401, 403, 413, 422, 500, 503) and ``codes``."""
    return {code: REFUSAL_RESPONSES[code] for code in (401, 403, 413, 422, 500, 503, *codes)}


def command_responses() -> dict[int | str, dict[str, Any]]:
    return responses(404, 409) | {
        200: {"description": "a retry with the same Idempotency-Key, or a fact already on record"}
    }


def query_responses() -> dict[int | str, dict[str, Any]]:
    return responses(404)
