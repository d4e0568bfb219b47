"""The public form of each event: what may leave the store, derived from its stored form.

A stored event's JSON form (``StoredForm``: ``event.model_dump(mode="json")`` at its position,
personal fields opened) becomes its ``public_payload``: personal fields (``domain.disclosure``)
replaced by masked or derived facts (``王**``, ``110105***********X``, an age band), or, for
claims, their status, amounts and dates only. Internal bookkeeping (number, request and invoice
reservations, the benefit ledger) has no public form and is never published.

``PUBLIC_MODELS`` is the contract: one frozen pydantic model per public payload, from which the
JSON Schemas in ``contracts/`` are generated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from domain.cardholder.events import (
    CARDHOLDER_EVENTS,
    CardCollected,
    CardIssued,
    DamagedCardReplacementApplied,
    LossFormallyReported,
    ProxyAuthorized,
)
from domain.claims.events import (
    CLAIM_EVENTS,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
)
from domain.disclosure import PERSONAL_FIELDS
from domain.erasure import ERASED
from domain.event import DomainEvent
from domain.identifiers import birth_date_of, mask_name, mask_resident_id
from domain.region_policy import DEFAULT_TIME_ZONE

Form = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredForm:
    """A stored event as its JSON form (``event.model_dump(mode="json")``, not re-validated) at
    its position in the store: what the relay and a replay derive the public form from."""

    position: int
    event_type: type[DomainEvent]
    form: Form


# Event types published on each public topic (everything else stays in the store).
PUBLIC_CARD_EVENTS: tuple[type[DomainEvent], ...] = CARDHOLDER_EVENTS
PUBLIC_CLAIM_EVENTS: tuple[type[DomainEvent], ...] = CLAIM_EVENTS

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


# ---- derived facts ---------------------------------------------------------------------------

_ZONE = ZoneInfo(DEFAULT_TIME_ZONE)
AGE_BANDS = (*(f"{d * 10}-{d * 10 + 9}" for d in range(9)), "90+")


def _local_date_of(occurred_at: str) -> date:
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


# ---- the public payload of each event type ---------------------------------------------------


def _without(form: Form, fields: tuple[str, ...]) -> Form:
    public = dict(form)  # a copy, then the few removed: cheaper than a comprehension of all
    for name in fields:
        public.pop(name, None)
    return public


def _as_is(form: Form) -> Form:
    return form


def _card_issued(form: Form) -> Form:
    public = _without(form, ("resident_id", "holder_name"))
    public["holder_masked_name"] = mask_name(form["holder_name"])
    public["holder_masked_id"] = mask_resident_id(form["resident_id"])
    public["age_band"] = age_band(form["resident_id"], _local_date_of(form["occurred_at"]))
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
            out[day] = _local_date_of(form["occurred_at"]).isoformat()
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
    **dict.fromkeys(PUBLIC_CARD_EVENTS, _as_is),
    CardIssued: _card_issued,
    ProxyAuthorized: _proxy_authorized,
    LossFormallyReported: _agent_acted,
    DamagedCardReplacementApplied: _agent_acted,
    CardCollected: _agent_acted,
    **{cls: _claim(*shape) for cls, shape in _CLAIM_SHAPES.items()},
}


def public_payload(event_type: type[DomainEvent], form: Form) -> Form | None:
    """The public payload of an event, from its JSON form (personal fields opened or erased);
    None for internal bookkeeping, never published."""
    public = _PUBLIC.get(event_type)
    return None if public is None else public(form)


def public_form_of(event_type: type[DomainEvent]) -> Callable[[Form], Form] | None:
    """The function ``public_payload`` applies to an event of ``event_type`` (None: never
    published), for a caller that makes many payloads of one type."""
    return _PUBLIC.get(event_type)


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
