"""The public form: what leaves the store carries no ID number, no full name, no medical detail.

Every event type (card lifecycle, erasure, claims) goes through the relay's own encoding; every
message is scanned for an 18-character resident ID pattern and for the names used.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import cast

import orjson
import pytest
from pydantic import ValidationError

from contract.envelope import parse_card_event, parse_claim_event
from contract.public_form import (
    PUBLIC_CARD_EVENTS,
    PUBLIC_MODELS,
    StoredForm,
    age_band,
    public_payload,
)
from domain.cardholder.events import CardIssued, HolderErased, ProxyAuthorized
from domain.claims.events import CLAIM_EVENTS
from domain.disclosure import PERSONAL_FIELDS, masked_form
from domain.erasure import ERASED, ERASED_CONTEXT
from domain.errors import InvalidInput
from domain.event import DomainEvent
from domain.identifiers import compose_resident_id
from relay.topics import Topics
from relay.wire import messages_for
from samples.claims import approve, pay, reject, submit, withdraw
from samples.stories import erase
from store.persistence import PydanticMapper
from tests.support import (
    RESIDENT_ID_SHAPE,
    Clock,
    every_kind_of_event,
    memory_office,
    pre_report,
    resident_id,
)
from tests.support import issue as issue_card

NAMES = ("张三", "李四", "王秀英", "李建国")


def _office_with_everything():
    clock = Clock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    office = memory_office(clock)
    holders = every_kind_of_event(office, clock)
    claimant = resident_id()
    office.issue_card(issue_card(claimant))
    office.pre_report_loss(pre_report(claimant))
    clock.advance(days=1)
    today = date(2026, 3, 8)
    claims = []
    for settle in ("pay", "reject", "withdraw"):
        claim = office.submit_claim(submit(claimant, today)).originator_id
        clock.advance(hours=1)
        if settle == "pay":
            office.approve_claim(approve(claim))
            clock.advance(hours=1)
            office.pay_claim(pay(claim))
        elif settle == "reject":
            office.reject_claim(reject(claim))
        else:
            office.withdraw_claim(withdraw(claim, claimant))
        claims.append(claim)
    return office, [*holders, claimant], claims


OFFICE, HOLDERS, CLAIMS = _office_with_everything()


def stored_forms() -> list[StoredForm]:
    mapper = cast(PydanticMapper, OFFICE.mapper)
    notifications = OFFICE.recorder.select_notifications(start=1, limit=10_000)
    return [StoredForm(n.id, *mapper.to_stored_form(n)) for n in notifications]


def test_every_public_payload_is_its_models_dump():
    seen = set()
    for stored in stored_forms():
        payload = public_payload(stored.event_type, stored.form)
        if stored.event_type not in PUBLIC_MODELS:
            assert payload is None, stored.event_type
            continue
        model = PUBLIC_MODELS[stored.event_type]
        assert payload == model.model_validate(payload).model_dump(mode="json")
        # Same keys in the same order: the bytes on the wire depend on it.
        assert list(payload) == list(model.model_fields)
        seen.add(stored.event_type)
    assert seen == set(PUBLIC_MODELS), set(PUBLIC_MODELS) - seen


def test_no_message_of_any_event_type_carries_an_id_number_or_a_name():
    topics = Topics()
    messages = [m for stored in stored_forms() for m in messages_for(stored, topics)]
    published = {m.topic for m in messages}
    assert published == {topics.card_events, topics.settlement, topics.reimbursement_events}
    for message in messages:
        for blob in (message.key, message.value, *(v for _, v in message.headers)):
            assert RESIDENT_ID_SHAPE.search(blob) is None, message.value
            for name in NAMES:
                assert name.encode() not in blob, message.value
    types = {parse_card_event(m.value).event_type for m in messages if m.topic.endswith("events")
             and b'"claim_id"' not in m.value}  # fmt: skip
    assert types == {c.__name__ for c in PUBLIC_CARD_EVENTS}
    claim_types = {
        parse_claim_event(m.value).event_type
        for m in messages
        if m.topic == topics.reimbursement_events
    }
    assert claim_types == {c.__name__ for c in CLAIM_EVENTS}


def test_claims_are_published_by_status_and_amounts_only():
    for stored in stored_forms():
        if stored.event_type not in CLAIM_EVENTS:
            continue
        payload = public_payload(stored.event_type, stored.form)
        assert payload is not None
        for detail in ("hospital_code", "invoice_number", "treatment_date", "bill", "documents",
                       "explanation", "payment_reference", "window"):  # fmt: skip
            assert detail not in payload
        assert payload["claim_id"] == stored.form["originator_id"]


def test_masks_and_age_band_of_a_holder():
    issued = next(s for s in stored_forms() if s.event_type is CardIssued)
    payload = public_payload(CardIssued, issued.form)
    assert payload is not None
    rid = issued.form["resident_id"]
    assert payload["holder_masked_id"] == rid[:6] + "*" * 11 + rid[-1]
    assert payload["holder_masked_name"] == "张*"
    assert payload["age_band"] == "40-49"  # born 1980, issued 2026
    assert age_band("110105200001010011", date(2009, 12, 31)) == "0-9"
    assert age_band("110105192001010011", date(2026, 1, 1)) == "90+"
    assert age_band(ERASED, date(2026, 1, 1)) == ERASED
    # The band turns on the birthday, not on New Year's Day.
    turning_fifty = compose_resident_id("110105", date(1976, 5, 17), 1)
    assert age_band(turning_fifty, date(2026, 5, 16)) == "40-49"
    assert age_band(turning_fifty, date(2026, 5, 17)) == "50-59"


def test_the_masked_form_people_see_keeps_no_full_id_or_name():
    proxy = next(s for s in stored_forms() if s.event_type is ProxyAuthorized)
    shown = orjson.dumps(masked_form(ProxyAuthorized, proxy.form))
    assert RESIDENT_ID_SHAPE.search(shown) is None
    assert "李四".encode() not in shown


def test_the_erasure_marker_loads_only_from_an_erased_record():
    issued = next(e for e in OFFICE.history(HOLDERS[0]) if isinstance(e, CardIssued))
    data = issued.model_dump() | {"resident_id": ERASED, "holder_name": ERASED}
    with pytest.raises((InvalidInput, ValidationError), match=r"resident ID"):
        CardIssued.model_validate(data)
    erased = CardIssued.model_validate(data, context=ERASED_CONTEXT)
    assert erased.resident_id == ERASED
    payload = public_payload(CardIssued, erased.model_dump(mode="json"))
    assert payload is not None
    assert (payload["holder_masked_id"], payload["holder_masked_name"], payload["age_band"]) == (
        ERASED,
        ERASED,
        ERASED,
    )


def test_every_personal_field_is_declared_on_its_event():
    for cls, fields in PERSONAL_FIELDS.items():
        assert set(fields) <= set(cls.model_fields), cls


def test_the_erasure_event_is_public_and_personal_free():
    assert HolderErased in PUBLIC_MODELS
    assert HolderErased not in PERSONAL_FIELDS
    event = next(e for h in HOLDERS for e in OFFICE.history(h) if isinstance(e, HolderErased))
    assert isinstance(event, DomainEvent)
    assert erase(HOLDERS[-2]).actor.role.value == "auditor"
