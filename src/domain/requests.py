"""Client request ids: a retried command gets its first result back and writes nothing.

Each request id a command carries gets a one-event stream of its own (the pattern of
``references.py``), written in the same transaction as the event the command records (a holder's
event for the card commands, a claim's for the claim commands: ``RequestLedger`` serves both).
The record holds a fingerprint of the command's content and where its event is, so that a retry
with the same id and the same content is answered with that event, and the same id with other
content is refused. The fingerprint is keyed (``domain.keyed_digests``): a plain digest of a
command whose only unknown is its ID number gives that number back to anyone with the file. A
command that records nothing (a no-op) writes no record either: its retry is the same no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal
from uuid import UUID

from eventsourcing.application import Application
from pydantic import BaseModel, Field, WithJsonSchema

from domain.errors import InvalidInput
from domain.event import FIRST_VERSION, DomainEvent
from domain.keyed_digests import DigestKeys, keyed_hex

_REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

RequestId = Annotated[
    str,
    Field(pattern=_REQUEST_ID_PATTERN),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _REQUEST_ID_PATTERN,
            "description": "client request id (a UUID is a good one)",
        }
    ),
]


class RequestIdReused(InvalidInput):
    """The same request id came with other content: a client bug, never a retry.

    Bad input (HTTP 422, exit 2), as the IETF Idempotency-Key draft answers a reused key."""

    code = "request_id_reused"


def request_stream_id(request_id: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:request:{request_id}")


class RequestRecorded(DomainEvent):
    """Internal bookkeeping (never published): request ``request_id`` recorded the event at
    ``event_version`` of stream ``stream_id`` (a holder's, or a claim's)."""

    schema_version: int = 3
    request_id: RequestId
    command_type: str
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    stream_id: UUID
    event_version: Annotated[int, Field(ge=1)]
    # How the fingerprint was made: keyed, or (a record of version 1 or 2 that ``sscard db
    # migrate`` has not re-keyed yet) the plain SHA-256 of the content.
    fingerprint_form: Literal["hmac-sha256", "sha256"] = "hmac-sha256"

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 knew card commands only: the stream was always the holder's (in place, as
        the mapper's ``upcast`` steps do)."""
        state["stream_id"] = state.pop("holder_id")

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Versions 1 and 2 kept the plain digest: still compared as such until re-keyed."""
        state["fingerprint_form"] = "sha256"


def _canonical(value: Any) -> Any:
    """A JSON-able form of a command's content that is the same in every process (sets sorted,
    enums by value), so a retry from another process gets the same fingerprint."""
    if isinstance(value, BaseModel):
        return {name: _canonical(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime | UUID):
        return str(value)
    return value


def content_digest(command: BaseModel) -> str:
    """The plain SHA-256 of the command's content: never stored since version 3 (records of
    versions 1 and 2 kept it as their fingerprint)."""
    content = _canonical(command)
    content.pop("request_id", None)
    text = json.dumps([type(command).__name__, content], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(command: BaseModel, keys: DigestKeys) -> str:
    return keyed_hex(keys.fingerprints, content_digest(command))


def same_content(record: RequestRecorded, command: BaseModel, keys: DigestKeys) -> bool:
    """Whether the command is the one the record was made for, in either form of record."""
    digest = content_digest(command)
    expected = (
        digest if record.fingerprint_form == "sha256" else keyed_hex(keys.fingerprints, digest)
    )
    return hmac.compare_digest(record.fingerprint, expected)


def rekey_fingerprint(state: dict[str, Any], keys: DigestKeys) -> bool:
    """Re-key the plain fingerprint of a record's state (upcast to the current version) in
    place; False when it was keyed already (``sscard db migrate``)."""
    if state.get("fingerprint_form") != "sha256":
        return False
    state["fingerprint"] = keyed_hex(keys.fingerprints, state["fingerprint"])
    state["fingerprint_form"] = "hmac-sha256"
    return True


def record_request(
    request_id: str, command: BaseModel, event: DomainEvent, keys: DigestKeys
) -> RequestRecorded:
    return RequestRecorded(
        originator_id=request_stream_id(request_id),
        originator_version=FIRST_VERSION,
        event_id=uuid.uuid4(),
        occurred_at=event.occurred_at,
        actor=event.actor,
        request_id=request_id,
        command_type=type(command).__name__,
        fingerprint=fingerprint(command, keys),
        stream_id=event.originator_id,
        event_version=event.originator_version,
    )


class RequestLedger(Application[UUID]):
    """Answers a request id from its record: what every write path of the office shares."""

    # Set by the card office from its holder id key.
    digest_keys: DigestKeys

    def _answered(self, request_id: str, command: BaseModel) -> DomainEvent | None:
        """The event an earlier command with this request id recorded, or None if none did;
        refused when the id came with other content."""
        for record in self.events.get(request_stream_id(request_id), limit=1):
            assert isinstance(record, RequestRecorded)
            if not same_content(record, command, self.digest_keys):
                raise RequestIdReused(
                    f"request id {request_id!r} was already used for a different "
                    f"{record.command_type} command; use a new id for a new request"
                )
            for event in self.events.get(
                record.stream_id, gt=record.event_version - 1, lte=record.event_version
            ):
                assert isinstance(event, DomainEvent)
                return event
        return None
