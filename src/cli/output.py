"""How the CLI tells people what happened, in text: one line per event, ID numbers and names
masked, except in an auditor's ``--unmasked`` read. (``--json`` prints the results' own
``json_line()``: ``application.card_results``.)

Times are shown in the holder's region's time zone with their offset (``2026-09-28
07:45:00+08:00``); the store keeps UTC.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from application.card_results import CardOwnerResult, EventResult, HistoryResult, HolderResult
from application.results import BEIJING, yuan
from domain.cardholder.events import (
    CardActivated,
    CardCollected,
    CardIssued,
    CardProduced,
    DamagedCardReplacementApplied,
    HolderErased,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
)
from domain.cardholder.state import Cardholder
from domain.disclosure import masked_form
from domain.event import DomainEvent
from domain.identifiers import mask_name, mask_resident_id

__all__ = [  # BEIJING too: other command modules take it from here
    "BEIJING",
    "card_owner_line",
    "describe",
    "event_data",
    "event_json",
    "event_line",
    "event_result_line",
    "history_lines",
    "holder_lines",
    "holder_summary",
    "local",
]


def local(at: datetime, zone: tzinfo = BEIJING, seconds: bool = False) -> str:
    """An instant as people read it: local date and time with the offset."""
    return at.astimezone(zone).isoformat(sep=" ", timespec="seconds" if seconds else "minutes")


def _id(value: str, unmasked: bool) -> str:
    return value if unmasked else mask_resident_id(value)


def _name(value: str, unmasked: bool) -> str:
    return value if unmasked else mask_name(value)


def describe(event: DomainEvent, zone: tzinfo = BEIJING, unmasked: bool = False) -> str:
    """A clerk-readable sentence about one event (no full ID numbers unless ``unmasked``)."""
    match event:
        case CardIssued():
            return (
                f"card {event.card_number} ({event.card_kind.value}) {event.source.value} to "
                f"{_name(event.holder_name, unmasked)} {_id(event.resident_id, unmasked)}, "
                f"region {event.region_code}"
            )
        case LossPreReported():
            return (
                f"card {event.card_number} pre-reported lost via {event.channel.value}; "
                f"settlement suspended; lapses {local(event.lapses_at, zone)} "
                f"({event.lapse_outcome.value})"
            )
        case LossPreReportCancelled():
            return (
                f"pre-report of card {event.card_number} cancelled ({event.reason.value}); "
                "settlement resumed"
            )
        case LossPreReportLapsed():
            return _lapse(event, zone)
        case ProxyAuthorized():
            scope = ",".join(sorted(s.value for s in event.scope))
            return (
                f"agent {_name(event.agent_name, unmasked)} "
                f"{_id(event.agent_resident_id, unmasked)} authorized to {scope} "
                f"({event.grounds.value})"
            )
        case LossFormallyReported():
            fee = f"fee {yuan(event.fee_fen)} yuan" + (
                f" waived: {event.fee_waiver.value}" if event.fee_waiver else ""
            )
            return (
                f"card {event.card_number} formally reported lost by {event.applicant.value}; "
                f"certificate {event.certificate_number}; collect at {event.collection_outlet}; "
                f"production due {event.production_due_on} ({event.production_due_basis}); {fee}"
            )
        case DamagedCardReplacementApplied():
            fee = f"fee {yuan(event.fee_fen)} yuan"
            return (
                f"damaged card {event.card_number} surrendered ({event.cause.value}) by "
                f"{event.applicant.value}; certificate {event.certificate_number}; collect at "
                f"{event.collection_outlet}; production due {event.production_due_on} "
                f"({event.production_due_basis}); {fee}"
            )
        case CardProduced():
            return (
                f"new card {event.new_card_number} produced for certificate "
                f"{event.certificate_number}, dispatched to {event.dispatched_to}"
            )
        case CardCollected():
            return (
                f"card {event.card_number} collected by {event.collected_by.value}; "
                "sealed until activated"
            )
        case CardActivated():
            return f"card {event.card_number} activated; settlement resumed on it"
        case HolderErased():
            return (
                f"holder's personal data erased ({event.reason.value}): the data key is "
                "destroyed; the record is closed"
            )
    return type(event).__name__


# A lapse handled this long after its deadline says so: settlement stayed suspended until then.
_LAPSE_LATE = timedelta(minutes=1)


def _lapse(event: LossPreReportLapsed, zone: tzinfo) -> str:
    """A lapse is dated when the system handled it; after downtime that is later than the
    deadline, and the card stayed blocked meanwhile (its suspension window runs to then)."""
    deadline = local(event.deadline, zone)
    if event.occurred_at - event.deadline <= _LAPSE_LATE:
        return f"pre-report of card {event.card_number} lapsed at its deadline {deadline}: " + (
            f"card {event.result.value}"
        )
    return (
        f"pre-report of card {event.card_number} lapsed: its deadline was {deadline}, handled "
        f"late at {local(event.occurred_at, zone)} (settlement stayed suspended until then): "
        f"card {event.result.value}"
    )


def event_line(event: DomainEvent, zone: tzinfo = BEIJING, unmasked: bool = False) -> str:
    actor = event.actor.describe()
    outlet = f" @{event.outlet}" if event.outlet else ""
    return (
        f"v{event.originator_version:<3} {local(event.occurred_at, zone, seconds=True)} "
        f"{type(event).__name__:<24} {actor}{outlet}: {describe(event, zone, unmasked)}"
    )


def event_data(event: DomainEvent, unmasked: bool = False) -> dict[str, Any]:
    """The event as JSON-able data: ID numbers and names masked unless ``unmasked``."""
    form = event.model_dump(mode="json")
    return {"type": type(event).__name__, **(form if unmasked else masked_form(type(event), form))}


def event_json(event: DomainEvent, unmasked: bool = False) -> str:
    return json.dumps(event_data(event, unmasked), ensure_ascii=False)


def event_result_line(result: EventResult) -> str:
    """What a command did, for people. A retry with a request id prints exactly what the first
    call printed; a repeat without one says it was already recorded."""
    if result.status == "already_recorded":
        if result.event is None:
            return "already recorded: nothing to do"
        return f"already recorded: {event_line(result.event, result.zone)}"
    assert result.event is not None
    return event_line(result.event, result.zone)


def card_owner_line(result: CardOwnerResult) -> str:
    current = "current" if result.current else "retired"
    return (
        f"card {result.card_number} ({current}) belongs to {result.holder_id}, "
        f"stream {result.stream_id}"
    )


def holder_summary(
    holder: Cardholder, zone: ZoneInfo = BEIJING, unmasked: bool = False
) -> list[str]:
    return holder_lines(HolderResult.of(holder, zone, unmasked))


def _at(instant: str, zone: tzinfo) -> str:
    """A contract instant (ISO 8601 with offset) as people read it."""
    return local(datetime.fromisoformat(instant), zone)


_STAGES = {
    "collected": "collected, awaiting activation",
    "produced": "produced, ready for pickup",
    "awaiting_production": "awaiting production",
}


def holder_lines(result: HolderResult) -> list[str]:
    """A holder's state, one aspect a line, in the region's time."""
    zone = result.zone
    lines = []
    if result.as_of is not None:
        at = datetime.fromisoformat(result.as_of)
        lines.append(f"as of     {local(at, zone, seconds=True)} (version {result.version})")
    card = result.card
    lines += [
        f"holder    {result.holder_name} {result.holder_id} "
        f"(region {result.region_code}, stream {result.stream_id}, version {result.version})",
        f"card      {card.number} {card.kind} {card.status} since {_at(card.since, zone)}",
        f"settlement {'SUSPENDED' if result.settlement_suspended else 'allowed'}",
    ]
    if result.erased_at is not None:
        lines.append(f"erased    {_at(result.erased_at, zone)}: personal data destroyed")
    if pre := result.pre_report:
        lines.append(
            f"pre-report open since {_at(pre.reported_at, zone)}, lapses "
            f"{_at(pre.lapses_at, zone)} ({pre.lapse_outcome})"
        )
    if case := result.case:
        lines.append(
            f"case      {case.kind}: certificate {case.certificate}, outlet "
            f"{case.collection_outlet}, due {case.production_due_on}: {_STAGES[case.stage]}"
        )
    for proxy in result.proxies:
        lines.append(f"proxy     {proxy.agent_name} {proxy.agent_id}: {','.join(proxy.scope)}")
    for window in result.suspensions:
        end = (
            f"{_at(window.ended_at, zone)} ({window.ended_by})"
            if window.ended_at is not None
            else "open"
        )
        lines.append(f"suspended {window.card_number} from {_at(window.started_at, zone)} to {end}")
    return lines


def history_lines(result: HistoryResult) -> list[str]:
    return [event_line(entry.event, result.zone, result.unmasked) for entry in result.entries]
