"""How the CLI tells people what happened: one line per recorded event, ID numbers and names
masked (in text and in JSON), except in an auditor's ``--unmasked`` read.

Times are shown in the holder's region's time zone with their offset (``2026-09-28
07:45:00+08:00``); the store and the JSON forms keep UTC.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import Outcome
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
from domain.region_policy import DEFAULT_TIME_ZONE

BEIJING = ZoneInfo(DEFAULT_TIME_ZONE)


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
            fee = f"fee {event.fee_fen / 100:.2f} yuan" + (
                f" waived: {event.fee_waiver.value}" if event.fee_waiver else ""
            )
            return (
                f"card {event.card_number} formally reported lost by {event.applicant.value}; "
                f"certificate {event.certificate_number}; collect at {event.collection_outlet}; "
                f"production due {event.production_due_on} ({event.production_due_basis}); {fee}"
            )
        case DamagedCardReplacementApplied():
            fee = f"fee {event.fee_fen / 100:.2f} yuan"
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


def outcome_line(outcome: Outcome[DomainEvent], zone: tzinfo = BEIJING) -> str:
    """What a command did, for people. A retry with a request id prints exactly what the first
    call printed; a repeat without one says it was already recorded."""
    if outcome.status == "already_recorded":
        if outcome.event is None:
            return "already recorded: nothing to do"
        return f"already recorded: {event_line(outcome.event, zone)}"
    assert outcome.event is not None
    return event_line(outcome.event, zone)


def outcome_json(outcome: Outcome[DomainEvent]) -> str:
    """What a command did, as JSON: the event with a ``status`` (``recorded``, or
    ``already_recorded``). A retry with a request id gets the first call's answer unchanged, but
    for ``"replayed": true``, so that a client can tell its retry from the first call."""
    status = "already_recorded" if outcome.status == "already_recorded" else "recorded"
    data: dict[str, Any] = {"status": status, "replayed": outcome.status == "repeated"}
    if outcome.event is not None:
        data |= event_data(outcome.event)
    return json.dumps(data, ensure_ascii=False)


def holder_data(holder: Cardholder, unmasked: bool = False) -> dict[str, Any]:
    """The holder's state as JSON-able data (ID number and name masked unless ``unmasked``,
    times in UTC)."""
    case = holder.case
    return {
        "holder": _id(holder.resident_id, unmasked),
        "name": _name(holder.name, unmasked),
        "region_code": holder.region_code,
        "stream_id": str(holder.id),
        "version": holder.version,
        "card": {
            "number": holder.card.number,
            "kind": holder.card.kind.value,
            "status": holder.card.status.value,
            "since": holder.card.since.isoformat(),
        },
        "settlement_suspended": holder.settlement_suspended,
        "erased_at": holder.erased_at.isoformat() if holder.erased_at else None,
        "proxies": [
            {
                "agent": _id(p.agent_resident_id, unmasked),
                "agent_name": _name(p.agent_name, unmasked),
                "scope": sorted(s.value for s in p.scope),
                "authorized_at": p.authorized_at.isoformat(),
            }
            for p in holder.proxies
        ],
        "pre_report": None
        if holder.pre_report is None
        else {
            "reported_at": holder.pre_report.reported_at.isoformat(),
            "lapses_at": holder.pre_report.lapses_at.isoformat(),
            "lapse_outcome": holder.pre_report.lapse_outcome.value,
        },
        "case": None
        if case is None
        else {
            "kind": case.kind.value,
            "certificate_number": case.certificate_number,
            "collection_outlet": case.collection_outlet,
            "production_due_on": case.production_due_on.isoformat(),
            "new_card_number": case.new_card_number,
            "collected": case.collected_at is not None,
        },
        "suspensions": [
            {
                "card_number": w.card_number,
                "from": w.started_at.isoformat(),
                "to": w.ended_at.isoformat() if w.ended_at else None,
                "ended_by": w.ended_by,
            }
            for w in holder.suspensions
        ],
    }


def holder_summary(holder: Cardholder, zone: tzinfo = BEIJING, unmasked: bool = False) -> list[str]:
    lines = [
        f"holder    {_name(holder.name, unmasked)} {_id(holder.resident_id, unmasked)} "
        f"(region {holder.region_code}, stream {holder.id}, version {holder.version})",
        f"card      {holder.card.number} {holder.card.kind.value} {holder.card.status.value} "
        f"since {local(holder.card.since, zone)}",
        f"settlement {'SUSPENDED' if holder.settlement_suspended else 'allowed'}",
    ]
    if holder.erased_at is not None:
        lines.append(f"erased    {local(holder.erased_at, zone)}: personal data destroyed")
    if pre := holder.pre_report:
        lines.append(
            f"pre-report open since {local(pre.reported_at, zone)}, lapses "
            f"{local(pre.lapses_at, zone)} ({pre.lapse_outcome.value})"
        )
    if holder.case:
        case = holder.case
        stage = (
            "collected, awaiting activation"
            if case.collected_at
            else "produced, ready for pickup"
            if case.new_card_number
            else "awaiting production"
        )
        lines.append(
            f"case      {case.kind.value}: certificate {case.certificate_number}, outlet "
            f"{case.collection_outlet}, "
            f"due {case.production_due_on}: {stage}"
        )
    for proxy in holder.proxies:
        scope = ",".join(sorted(s.value for s in proxy.scope))
        agent = f"{_name(proxy.agent_name, unmasked)} {_id(proxy.agent_resident_id, unmasked)}"
        lines.append(f"proxy     {agent}: {scope}")
    for window in holder.suspensions:
        end = f"{local(window.ended_at, zone)} ({window.ended_by})" if window.ended_at else "open"
        lines.append(
            f"suspended {window.card_number} from {local(window.started_at, zone)} to {end}"
        )
    return lines
