"""What the card, loss, proxy and holder commands answer: the models ``--json`` prints and the
HTTP API returns.

An event is given in the contract's words: the holder's ID number masked as ``holder_id`` (in
full only in an auditor's unmasked read), the collection certificate as ``certificate``, an
agent's ID number as ``agent_id``, the holder's stream as ``stream_id`` and its position as
``version``, the event's position in the store's whole log as ``store_position``; instants in
the holder's region's time with its offset; money as a yuan string (``fee``) beside its fen
(``fee_fen``).

Light at import time (pydantic and the domain only): the command line loads it for ``--help``.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from application.results import (
    JsonObject,
    Result,
    Status,
    local_instant,
    local_instant_or_none,
    yuan,
)
from domain.cardholder.state import Cardholder
from domain.disclosure import masked_form
from domain.event import DomainEvent
from domain.identifiers import mask_name, mask_resident_id
from domain.region_policy import DEFAULT_TIME_ZONE

# The event's own field names that the contract spells otherwise (the rest keep theirs).
CONTRACT_NAMES = {
    "originator_id": "stream_id",
    "originator_version": "version",
    "certificate_number": "certificate",
    "agent_resident_id": "agent_id",
    "resident_id": "holder_id",
}


def event_fields(event: DomainEvent, zone: tzinfo, unmasked: bool = False) -> JsonObject:
    """The event as the contract gives it: its type, then its fields under their contract names,
    personal fields masked unless ``unmasked``, instants local, money in yuan and fen."""
    form = event.model_dump(mode="json")
    if not unmasked:
        form = masked_form(type(event), form)
    fields: JsonObject = {"type": type(event).__name__}
    for name, value in form.items():
        raw = getattr(event, name)
        if name.endswith("_fen") and isinstance(raw, int):
            fields[name.removesuffix("_fen")] = yuan(raw)
        shown = local_instant(raw, zone) if isinstance(raw, datetime) else value
        fields[CONTRACT_NAMES.get(name, name)] = shown
    return fields


def shown_id(resident_id: str, unmasked: bool = False) -> str:
    return resident_id if unmasked else mask_resident_id(resident_id)


def shown_name(name: str, unmasked: bool = False) -> str:
    return name if unmasked else mask_name(name)


class EventResult(Result):
    """What a command did: ``recorded`` (the event just written, or on a retry with the same
    request id the first call's event, then with ``replayed`` true) or ``already_recorded``
    (nothing written: the fact was on record; the event that holds it, when there is one).

    The event's own fields follow the ones declared here, in the contract's words."""

    model_config = ConfigDict(frozen=True, extra="allow")

    status: Status
    replayed: bool = False
    type: str | None = None
    holder_id: str | None = None
    stream_id: str | None = None
    version: int | None = None
    # The event's position in the store's log (all streams): what a query's ``after`` takes.
    store_position: int | None = None
    event_id: str | None = None
    occurred_at: str | None = None
    actor: JsonObject | None = None
    outlet: str | None = None
    # For the text rendering only (never in the JSON): the event itself and the region's zone.
    event: DomainEvent | None = Field(default=None, exclude=True, repr=False)
    time_zone: str = Field(default=DEFAULT_TIME_ZONE, exclude=True)

    @classmethod
    def of(
        cls,
        status: Literal["recorded", "already_recorded"],
        replayed: bool,
        event: DomainEvent | None,
        zone: ZoneInfo,
        holder_id: str | None,
        store_position: int | None = None,
    ) -> EventResult:
        data: JsonObject = {
            "status": status,
            "replayed": replayed,
            "holder_id": holder_id,
            "store_position": store_position,
        }
        if event is not None:
            data |= event_fields(event, zone)
        return cls.model_validate({**data, "event": event, "time_zone": zone.key})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class CardOwnerResult(Result):
    """Which holder a card number belongs to, and whether it is their current card."""

    card_number: str
    current: bool
    holder_id: str
    stream_id: str


class HolderReference(Result):
    """The reference that names a holder in the HTTP API's paths instead of their ID number:
    the holder's stream id, a keyed digest of the ID number (the key never leaves the back
    office), so a path, an access log or a browser's history reveals no ID number."""

    holder_ref: str
    holder_id: str  # masked


# ---- a holder's state --------------------------------------------------------------------


class CardState(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str
    kind: str
    status: str
    since: str


class ProxyState(BaseModel):
    model_config = ConfigDict(frozen=True)

    agent_id: str
    agent_name: str
    scope: list[str]
    authorized_at: str


class PreReportState(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_number: str
    reported_at: str
    lapses_at: str
    lapse_outcome: str


class CaseState(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    certificate: str
    collection_outlet: str
    production_due_on: date
    new_card_number: str | None
    stage: Literal["awaiting_production", "produced", "collected"]


class SuspensionState(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_number: str
    started_at: str
    ended_at: str | None
    ended_by: str | None


class HolderResult(Result):
    """A holder's state (now, or ``as_of`` an earlier instant): ID number and names masked
    unless ``unmasked`` (an auditor's recorded read), times in the region's time."""

    holder_id: str
    holder_name: str
    region_code: str
    stream_id: str
    version: int
    as_of: str | None = None
    unmasked: bool = False
    card: CardState
    settlement_suspended: bool
    erased_at: str | None
    proxies: list[ProxyState]
    pre_report: PreReportState | None
    case: CaseState | None
    suspensions: list[SuspensionState]
    time_zone: str = Field(default=DEFAULT_TIME_ZONE, exclude=True)

    @classmethod
    def of(
        cls,
        holder: Cardholder,
        zone: ZoneInfo,
        unmasked: bool = False,
        as_of: datetime | None = None,
    ) -> HolderResult:
        case = holder.case
        pre = holder.pre_report
        return cls(
            holder_id=shown_id(holder.resident_id, unmasked),
            holder_name=shown_name(holder.name, unmasked),
            region_code=holder.region_code,
            stream_id=str(holder.id),
            version=holder.version,
            as_of=local_instant_or_none(as_of, zone),
            unmasked=unmasked,
            card=CardState(
                number=holder.card.number,
                kind=holder.card.kind.value,
                status=holder.card.status.value,
                since=local_instant(holder.card.since, zone),
            ),
            settlement_suspended=holder.settlement_suspended,
            erased_at=local_instant_or_none(holder.erased_at, zone),
            proxies=[
                ProxyState(
                    agent_id=shown_id(p.agent_resident_id, unmasked),
                    agent_name=shown_name(p.agent_name, unmasked),
                    scope=sorted(s.value for s in p.scope),
                    authorized_at=local_instant(p.authorized_at, zone),
                )
                for p in holder.proxies
            ],
            pre_report=None
            if pre is None
            else PreReportState(
                card_number=pre.card_number,
                reported_at=local_instant(pre.reported_at, zone),
                lapses_at=local_instant(pre.lapses_at, zone),
                lapse_outcome=pre.lapse_outcome.value,
            ),
            case=None
            if case is None
            else CaseState(
                kind=case.kind.value,
                certificate=case.certificate_number,
                collection_outlet=case.collection_outlet,
                production_due_on=case.production_due_on,
                new_card_number=case.new_card_number,
                stage="collected"
                if case.collected_at is not None
                else "produced"
                if case.new_card_number
                else "awaiting_production",
            ),
            suspensions=[
                SuspensionState(
                    card_number=w.card_number,
                    started_at=local_instant(w.started_at, zone),
                    ended_at=local_instant_or_none(w.ended_at, zone),
                    ended_by=w.ended_by,
                )
                for w in holder.suspensions
            ],
            time_zone=zone.key,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


# ---- a holder's history ------------------------------------------------------------------


class HistoryEntry(Result):
    """One event of a holder's history (a line of ``holder history --json``)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str
    holder_id: str
    stream_id: str
    version: int
    event_id: str
    occurred_at: str
    actor: JsonObject
    outlet: str | None = None
    event: DomainEvent = Field(exclude=True, repr=False)

    @classmethod
    def of(cls, event: DomainEvent, zone: ZoneInfo, holder_id: str, unmasked: bool) -> HistoryEntry:
        fields = event_fields(event, zone, unmasked)
        return cls.model_validate({**fields, "holder_id": holder_id, "event": event})


class HistoryResult(Result):
    """Every event of the holder, oldest first. The command line prints one entry per line."""

    unmasked: bool = False
    entries: list[HistoryEntry]
    # A paged query (the HTTP API): one ``page`` of ``page_size`` of the ``total`` events.
    total: int | None = None
    page: int | None = None
    page_size: int | None = None
    time_zone: str = Field(default=DEFAULT_TIME_ZONE, exclude=True)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def json_lines(self) -> list[str]:
        return [entry.json_line() for entry in self.entries]


# ---- the production batch ----------------------------------------------------------------

RowStatus = Literal["recorded", "already_recorded", "refused"]


class BatchRowResult(BaseModel):
    """One row of a production batch: its line in the file, its certificate, what became of it
    (a refused row with the refusal's ``code`` and ``message``; a row on record with its
    ``store_position``)."""

    model_config = ConfigDict(frozen=True)

    line: int
    certificate: str
    status: RowStatus
    code: str | None = None
    message: str | None = None
    # The production's place in the store's log (recorded now or before): a query's ``after``.
    store_position: int | None = None


class BatchResult(Result):
    """A production batch: every row's result and the counts. ``complete`` is the exit policy:
    true when every row is on record (now or before); a refused row makes the batch
    ``refused`` (code ``rows_refused``), the other rows stay recorded (a batch is no
    transaction)."""

    code: str | None = None
    message: str | None = None
    batch_id: str | None = None
    rows: int
    recorded: int
    already_recorded: int
    refused: int
    complete: bool
    refused_by_code: dict[str, int]
    results: list[BatchRowResult]

    @classmethod
    def of(cls, results: list[BatchRowResult], batch_id: str | None) -> BatchResult:
        counts = {s: sum(1 for r in results if r.status == s) for s in _ROW_STATUSES}
        by_code: dict[str, int] = {}
        for row in results:
            if row.code is not None:
                by_code[row.code] = by_code.get(row.code, 0) + 1
        status: Status
        extra: dict[str, Any] = {}
        if counts["refused"]:
            status = "refused"
            extra = {
                "code": "rows_refused",
                "message": f"{counts['refused']} of {len(results)} rows refused; the others "
                "are on record",
            }
        else:
            status = "recorded" if counts["recorded"] else "already_recorded"
        return cls(
            status=status,
            batch_id=batch_id,
            rows=len(results),
            recorded=counts["recorded"],
            already_recorded=counts["already_recorded"],
            refused=counts["refused"],
            complete=counts["refused"] == 0,
            refused_by_code=dict(sorted(by_code.items())),
            results=results,
            **extra,
        )


_ROW_STATUSES: tuple[RowStatus, ...] = ("recorded", "already_recorded", "refused")
