"""What may leave the store: the public form of each event, and which fields are personal.

Personal fields (ID numbers, names, an agent's relationship, a claim's medical details) are
encrypted at rest with the holder's data key and never published. What goes to Kafka, and what
every read model applies, is ``public_payload``: the event's JSON form with its personal fields
replaced by masked or derived facts (``王**``, ``110105***********X``, an age band), or, for
claims, their status and amounts only. Internal bookkeeping (number, request and invoice
reservations, the benefit ledger) has no public form and is never published.

``public_envelope`` wraps a public payload as the relay puts it on the wire; a replay of the
store into a read model builds the very same dict, so a rebuilt view equals the live one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from domain.cardholder.events import (
    CARDHOLDER_EVENTS,
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
from domain.claims.events import (
    CLAIM_EVENTS,
    InvoiceNumberReserved,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
)
from domain.erasure import ERASED
from domain.event import DomainEvent
from domain.identifiers import birth_date_of, mask_name, mask_resident_id
from domain.region_policy import DEFAULT_TIME_ZONE

ENVELOPE_VERSION = 2
Form = dict[str, Any]


class PersonalKind(StrEnum):
    RESIDENT_ID = "resident_id"  # masked as 110105***********X where shown
    NAME = "name"  # masked as 王** where shown
    DETAIL = "detail"  # never shown outside the authorised screens (claims officers)


_ID, _NAME, _DETAIL = PersonalKind.RESIDENT_ID, PersonalKind.NAME, PersonalKind.DETAIL

# Every personal field of every stored event type: encrypted at rest with the data key of the
# holder the record is about (``data_owner``), erased with it, never published.
PERSONAL_FIELDS: Mapping[type[DomainEvent], Mapping[str, PersonalKind]] = {
    CardIssued: {"resident_id": _ID, "holder_name": _NAME},
    ProxyAuthorized: {"agent_resident_id": _ID, "agent_name": _NAME, "relationship": _DETAIL},
    LossFormallyReported: {"agent_resident_id": _ID},
    DamagedCardReplacementApplied: {"agent_resident_id": _ID},
    CardCollected: {"agent_resident_id": _ID},
    ReimbursementClaimSubmitted: {
        "hospital_code": _DETAIL,
        "treatment_date": _DETAIL,
        "invoice_number": _DETAIL,
        "bill": _DETAIL,
        "documents": _DETAIL,
    },
    ReimbursementClaimRejected: {"explanation": _DETAIL},
    ReimbursementClaimWithdrawn: {"explanation": _DETAIL},
    InvoiceNumberReserved: {"hospital_code": _DETAIL, "invoice_number": _DETAIL},
}


# The personal fields each public form is derived from (masked names and IDs, age bands): all
# that a replay into the read models needs opened. Every other personal field (an agent's
# relationship, a claim's medical details) leaves no trace in the public form, so a replay never
# decrypts it, and a public event with none of these needs no data key at all.
PUBLIC_NEEDS: Mapping[type[DomainEvent], frozenset[str]] = {
    CardIssued: frozenset({"resident_id", "holder_name"}),
    ProxyAuthorized: frozenset({"agent_resident_id", "agent_name"}),
    LossFormallyReported: frozenset({"agent_resident_id"}),
    DamagedCardReplacementApplied: frozenset({"agent_resident_id"}),
    CardCollected: frozenset({"agent_resident_id"}),
}


def data_owner(form: Mapping[str, Any]) -> str:
    """The stream id of the holder whose data key protects this record's personal fields:
    the record's own stream for a holder's events, ``holder_id`` for claims and reservations."""
    owner = form.get("holder_id") or form["originator_id"]
    return str(owner)


# ---- masks and derived facts ----------------------------------------------------------------

_ZONE = ZoneInfo(DEFAULT_TIME_ZONE)
AGE_BANDS = (*(f"{d * 10}-{d * 10 + 9}" for d in range(9)), "90+")


def local_date_of(occurred_at: str) -> date:
    return datetime.fromisoformat(occurred_at).astimezone(_ZONE).date()


def age_band(resident_id: str, on: date) -> str:
    """The holder's decade of age on ``on`` ("0-9" ... "90+"), from the ID's birth date."""
    if resident_id == ERASED:
        return ERASED
    born = birth_date_of(resident_id)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    decade = min(max(age, 0) // 10, 9)
    return AGE_BANDS[decade]


def _masked_id_or_none(value: str | None) -> str | None:
    return None if value is None else mask_resident_id(value)


# ---- the public payload of each event type --------------------------------------------------


def _without(form: Form, fields: tuple[str, ...]) -> Form:
    return {k: v for k, v in form.items() if k not in fields}


def _as_is(form: Form) -> Form:
    return form


def _card_issued(form: Form) -> Form:
    public = _without(form, ("resident_id", "holder_name"))
    public["holder_masked_name"] = mask_name(form["holder_name"])
    public["holder_masked_id"] = mask_resident_id(form["resident_id"])
    public["age_band"] = age_band(form["resident_id"], local_date_of(form["occurred_at"]))
    return public


def _proxy_authorized(form: Form) -> Form:
    public = _without(form, ("agent_resident_id", "agent_name", "relationship"))
    public["agent_masked_name"] = mask_name(form["agent_name"])
    public["agent_masked_id"] = mask_resident_id(form["agent_resident_id"])
    return public


def _agent_acted(form: Form) -> Form:
    public = _without(form, ("agent_resident_id",))
    public["agent_masked_id"] = _masked_id_or_none(form.get("agent_resident_id"))
    return public


_BASE = (
    "originator_id",
    "originator_version",
    "event_id",
    "occurred_at",
    "actor",
    "outlet",
    "schema_version",
)


def _claim(status: str, fields: tuple[str, ...], day: str) -> Callable[[Form], Form]:
    """A claim event's public form: its status, amounts and dates, no medical detail."""

    def public(form: Form) -> Form:
        out = {k: form[k] for k in _BASE}
        out["claim_id"] = form["originator_id"]
        out["holder_id"] = form["holder_id"]
        out["status"] = status
        for name in fields:
            out[name] = form[name]
        if day:
            out[day] = local_date_of(form["occurred_at"]).isoformat()
        return out

    return public


_CLAIM_SHAPES: dict[type[DomainEvent], tuple[str, tuple[str, ...], str]] = {
    ReimbursementClaimSubmitted: ("submitted", ("region_code", "filed_on"), ""),
    ReimbursementClaimApproved: ("approved", ("benefit_year", "payable_fen"), "decided_on"),
    ReimbursementClaimRejected: ("rejected", ("reason",), "decided_on"),
    ReimbursementClaimPaid: ("paid", ("payable_fen",), "paid_on"),
    ReimbursementClaimWithdrawn: ("withdrawn", (), "withdrawn_on"),
}

_PUBLIC: dict[type[DomainEvent], Callable[[Form], Form]] = {
    **dict.fromkeys(CARDHOLDER_EVENTS, _as_is),
    CardIssued: _card_issued,
    ProxyAuthorized: _proxy_authorized,
    LossFormallyReported: _agent_acted,
    DamagedCardReplacementApplied: _agent_acted,
    CardCollected: _agent_acted,
    **{cls: _claim(*shape) for cls, shape in _CLAIM_SHAPES.items()},
}

# Event types published on each topic (everything else stays in the store).
PUBLIC_CARD_EVENTS: tuple[type[DomainEvent], ...] = CARDHOLDER_EVENTS
PUBLIC_CLAIM_EVENTS: tuple[type[DomainEvent], ...] = CLAIM_EVENTS


def public_payload(event_type: type[DomainEvent], form: dict[str, Any]) -> dict[str, Any] | None:
    """The public payload of an event, from its JSON form (``event.model_dump(mode="json")``,
    personal fields decrypted or erased); None for internal bookkeeping, never published."""
    public = _PUBLIC.get(event_type)
    return None if public is None else public(form)


def public_envelope(
    event_type: type[DomainEvent], form: dict[str, Any], position: int
) -> dict[str, Any] | None:
    """The message value the relay publishes for a stored event at ``position`` (None: not
    published). A replay into a read model builds this same dict from the store."""
    payload = public_payload(event_type, form)
    if payload is None:
        return None
    return {
        "envelope_version": ENVELOPE_VERSION,
        "event_id": form["event_id"],
        "event_type": event_type.__name__,
        "schema_version": form["schema_version"],
        "stream_id": form["originator_id"],
        "stream_version": form["originator_version"],
        "position": position,
        "occurred_at": form["occurred_at"],
        "actor": form["actor"],
        "outlet": form["outlet"],
        "payload": payload,
    }


def masked_form(event_type: type[DomainEvent], form: dict[str, Any]) -> dict[str, Any]:
    """The form as people see it outside an auditor's ``--unmasked`` read: ID numbers and names
    masked in place (other fields as they are)."""
    personal = PERSONAL_FIELDS.get(event_type)
    if not personal:
        return form
    masked = dict(form)
    for name, kind in personal.items():
        value = masked.get(name)
        if value is None:
            continue
        if kind is PersonalKind.RESIDENT_ID:
            masked[name] = mask_resident_id(value)
        elif kind is PersonalKind.NAME:
            masked[name] = mask_name(value)
    return masked


# ---- the contract: one pydantic model per public payload ------------------------------------

MaskedId = Annotated[
    str,
    Field(
        pattern=r"^(\d{6}\*{11}[0-9X]|\[erased\])$",
        description="region code and check character only, or [erased]",
    ),
]
MaskedName = Annotated[
    str, Field(max_length=64, description="the family name and *s (王**), or [erased]")
]
AgeBand = Literal["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89",
                  "90+", "[erased]"]  # fmt: skip


class PublicPayload(BaseModel):
    """Base of every public payload: frozen, and nothing beyond its declared fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _fields(cls: type[DomainEvent], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _field(cls.model_fields[name]) for name in names}


def _field(info: FieldInfo) -> tuple[Any, FieldInfo]:
    return (info.annotation, info)


def _public_model(cls: type[DomainEvent], fields: dict[str, Any]) -> type[PublicPayload]:
    model: type[PublicPayload] = create_model(  # the fields' order is the payload's order
        f"Public{cls.__name__}",
        __base__=PublicPayload,
        __doc__=f"The public form of {cls.__name__}: {(cls.__doc__ or '').strip()}",
        **fields,
    )
    return model


_ADDED: dict[type[DomainEvent], dict[str, Any]] = {
    CardIssued: {
        "holder_masked_name": (MaskedName, ...),
        "holder_masked_id": (MaskedId, ...),
        "age_band": (AgeBand, ...),
    },
    ProxyAuthorized: {"agent_masked_name": (MaskedName, ...), "agent_masked_id": (MaskedId, ...)},
    LossFormallyReported: {"agent_masked_id": (MaskedId | None, ...)},
    DamagedCardReplacementApplied: {"agent_masked_id": (MaskedId | None, ...)},
    CardCollected: {"agent_masked_id": (MaskedId | None, ...)},
}


def _card_model(cls: type[DomainEvent]) -> type[PublicPayload]:
    personal = PERSONAL_FIELDS.get(cls, {})
    kept = tuple(n for n in cls.model_fields if n not in personal)
    return _public_model(cls, _fields(cls, kept) | _ADDED.get(cls, {}))


def _claim_model(cls: type[DomainEvent]) -> type[PublicPayload]:
    status, names, day = _CLAIM_SHAPES[cls]
    fields = _fields(cls, _BASE)
    fields["claim_id"] = _field(cls.model_fields["originator_id"])
    fields["holder_id"] = _field(cls.model_fields["holder_id"])
    fields["status"] = (Literal[status], ...)
    fields |= _fields(cls, names)
    if day:
        fields[day] = (date, ...)
    return _public_model(cls, fields)


PUBLIC_MODELS: dict[type[DomainEvent], type[PublicPayload]] = {
    **{cls: _card_model(cls) for cls in PUBLIC_CARD_EVENTS},
    **{cls: _claim_model(cls) for cls in PUBLIC_CLAIM_EVENTS},
}

# The contract's names, as consumers and other rooms refer to them.
PublicCardIssued = PUBLIC_MODELS[CardIssued]
PublicLossPreReported = PUBLIC_MODELS[LossPreReported]
PublicLossPreReportCancelled = PUBLIC_MODELS[LossPreReportCancelled]
PublicLossPreReportLapsed = PUBLIC_MODELS[LossPreReportLapsed]
PublicProxyAuthorized = PUBLIC_MODELS[ProxyAuthorized]
PublicLossFormallyReported = PUBLIC_MODELS[LossFormallyReported]
PublicDamagedCardReplacementApplied = PUBLIC_MODELS[DamagedCardReplacementApplied]
PublicCardProduced = PUBLIC_MODELS[CardProduced]
PublicCardCollected = PUBLIC_MODELS[CardCollected]
PublicCardActivated = PUBLIC_MODELS[CardActivated]
PublicHolderErased = PUBLIC_MODELS[HolderErased]
PublicReimbursementClaimSubmitted = PUBLIC_MODELS[ReimbursementClaimSubmitted]
PublicReimbursementClaimApproved = PUBLIC_MODELS[ReimbursementClaimApproved]
PublicReimbursementClaimRejected = PUBLIC_MODELS[ReimbursementClaimRejected]
PublicReimbursementClaimPaid = PUBLIC_MODELS[ReimbursementClaimPaid]
PublicReimbursementClaimWithdrawn = PUBLIC_MODELS[ReimbursementClaimWithdrawn]
