"""Who may read ID numbers and names in full, and the record every such read leaves."""

from __future__ import annotations

from uuid import uuid4

import pytest

from contract.public_form import public_payload
from domain.disclosure import PERSONAL_FIELDS
from domain.event import Actor, Channel, Role
from domain.unmasked_reads import (
    UnmaskedForbidden,
    UnmaskedRead,
    UnmaskedReadReason,
    UnmaskedScope,
)
from tests.support import Clock, head, issue, memory_office, resident_id

AUDITOR = Actor.staff(Role.AUDITOR, "auditor-01")


def test_an_auditors_read_is_recorded_with_who_when_which_holder_what_and_why():
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    holder_id = office.holder(rid).id
    read = office.record_unmasked_read(
        holder_id, AUDITOR, UnmaskedScope.HISTORY, UnmaskedReadReason.LEGAL_ORDER, "CASE-7", True
    )
    assert (read.actor, read.holder_id, read.scope, read.reason, read.reference) == (
        AUDITOR,
        holder_id,
        UnmaskedScope.HISTORY,
        UnmaskedReadReason.LEGAL_ORDER,
        "CASE-7",
    )
    assert read.occurred_at == clock.now
    other = resident_id()
    office.issue_card(issue(other))
    office.record_unmasked_read(
        office.holder(other).id, AUDITOR, UnmaskedScope.STATE, UnmaskedReadReason.AUDIT, None, True
    )
    assert office.unmasked_reads(holder_id) == [read]
    assert len(office.unmasked_reads()) == 2
    # The holder's own stream is untouched: its published versions have no gap.
    assert office.holder(rid).version == 1


@pytest.mark.parametrize(
    "reader",
    [
        Actor.staff(Role.OUTLET_CLERK, "clerk-01"),
        Actor.staff(Role.CLAIMS_OFFICER, "officer-01"),
        Actor(role=Role.CARDHOLDER, channel=Channel.ONLINE),
        Actor.system(),
    ],
)
def test_only_an_auditor_reads_in_full_and_a_refused_read_records_nothing(reader: Actor):
    office = memory_office(Clock())
    rid = resident_id()
    office.issue_card(issue(rid))
    before = head(office)
    with pytest.raises(UnmaskedForbidden):
        office.record_unmasked_read(
            office.holder(rid).id, reader, UnmaskedScope.STATE, UnmaskedReadReason.AUDIT, None, True
        )
    assert head(office) == before


def test_where_the_configuration_forbids_it_not_even_an_auditor_reads_in_full():
    office = memory_office(Clock())
    before = head(office)
    with pytest.raises(UnmaskedForbidden, match="SSCARD_ALLOW_UNMASKED"):
        office.record_unmasked_read(
            uuid4(), AUDITOR, UnmaskedScope.STATE, UnmaskedReadReason.AUDIT, None, False
        )
    assert head(office) == before


def a_read(reference: str | None = None) -> UnmaskedRead:
    return UnmaskedRead(
        originator_id=uuid4(),
        originator_version=1,
        event_id=uuid4(),
        occurred_at=Clock().now,
        actor=AUDITOR,
        holder_id=uuid4(),
        scope=UnmaskedScope.STATE,
        reason=UnmaskedReadReason.AUDIT,
        reference=reference,
    )


def test_the_record_holds_no_personal_field_and_is_never_published():
    assert UnmaskedRead not in PERSONAL_FIELDS
    assert public_payload(UnmaskedRead, a_read("CASE-1").model_dump(mode="json")) is None


@pytest.mark.parametrize(
    "reference", ["张三", "110105195207143814", "CASE-11010519520714381X", "", "a" * 65]
)
def test_a_reference_is_a_case_number_never_a_persons_data(reference: str):
    with pytest.raises(ValueError, match="reference"):
        a_read(reference)
