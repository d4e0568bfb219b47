"""How the CLI tells people what happened: one line per recorded event, ID numbers masked."""

from __future__ import annotations

import json
from typing import Any

from domain.cardholder.events import (
    CardActivated,
    CardCollected,
    CardIssued,
    CardProduced,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
)
from domain.cardholder.state import Cardholder
from domain.event import DomainEvent
from domain.identifiers import mask_name, mask_resident_id


def describe(event: DomainEvent) -> str:
    """A clerk-readable sentence about one event (no full ID numbers)."""
    match event:
        case CardIssued():
            return (
                f"card {event.card_number} ({event.card_kind.value}) {event.source.value} to "
                f"{mask_name(event.holder_name)} {mask_resident_id(event.resident_id)}, "
                f"region {event.region_code}"
            )
        case LossPreReported():
            return (
                f"card {event.card_number} pre-reported lost via {event.channel.value}; "
                f"settlement suspended; lapses {event.lapses_at:%Y-%m-%d %H:%M}Z "
                f"({event.lapse_outcome.value})"
            )
        case LossPreReportCancelled():
            return (
                f"pre-report of card {event.card_number} cancelled ({event.reason.value}); "
                "settlement resumed"
            )
        case LossPreReportLapsed():
            return (
                f"pre-report of card {event.card_number} lapsed at its deadline "
                f"{event.deadline:%Y-%m-%d %H:%M}Z: card {event.result.value}"
            )
        case ProxyAuthorized():
            scope = ",".join(sorted(s.value for s in event.scope))
            return (
                f"agent {mask_name(event.agent_name)} {mask_resident_id(event.agent_resident_id)} "
                f"authorized to {scope} ({event.grounds.value})"
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
    return type(event).__name__


def event_line(event: DomainEvent) -> str:
    actor = event.actor.describe()
    outlet = f" @{event.outlet}" if event.outlet else ""
    return (
        f"v{event.originator_version:<3} {event.occurred_at:%Y-%m-%d %H:%M:%S}Z "
        f"{type(event).__name__:<24} {actor}{outlet}: {describe(event)}"
    )


def event_json(event: DomainEvent) -> str:
    data: dict[str, Any] = {"type": type(event).__name__, **event.model_dump(mode="json")}
    return json.dumps(data, ensure_ascii=False)


def holder_summary(holder: Cardholder) -> list[str]:
    lines = [
        f"holder    {mask_name(holder.name)} {mask_resident_id(holder.resident_id)} "
        f"(region {holder.region_code}, stream {holder.id}, version {holder.version})",
        f"card      {holder.card.number} {holder.card.kind.value} {holder.card.status.value} "
        f"since {holder.card.since:%Y-%m-%d %H:%M}Z",
        f"settlement {'SUSPENDED' if holder.settlement_suspended else 'allowed'}",
    ]
    if pre := holder.pre_report:
        lines.append(
            f"pre-report open since {pre.reported_at:%Y-%m-%d %H:%M}Z, lapses "
            f"{pre.lapses_at:%Y-%m-%d %H:%M}Z ({pre.lapse_outcome.value})"
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
            f"case      certificate {case.certificate_number}, outlet {case.collection_outlet}, "
            f"due {case.production_due_on}: {stage}"
        )
    for proxy in holder.proxies:
        scope = ",".join(sorted(s.value for s in proxy.scope))
        agent = f"{mask_name(proxy.agent_name)} {mask_resident_id(proxy.agent_resident_id)}"
        lines.append(f"proxy     {agent}: {scope}")
    for window in holder.suspensions:
        end = (
            f"{window.ended_at:%Y-%m-%d %H:%M}Z ({window.ended_by})" if window.ended_at else "open"
        )
        lines.append(
            f"suspended {window.card_number} from {window.started_at:%Y-%m-%d %H:%M}Z to {end}"
        )
    return lines
