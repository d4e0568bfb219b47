"""The application layer's own logic for cards and holders: the channel rule of a pre-report,
the unmasked read recorded before it is answered, and the production batch's exit policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application import cards, holders
from application.holders import UnmaskedRead
from application.production_batch import MAX_ROWS, record_batch
from application.results import BEIJING
from domain.cardholder.errors import HolderNotFound
from domain.errors import InvalidInput
from domain.event import Actor, Channel, Role
from domain.unmasked_reads import UnmaskedForbidden, UnmaskedReadReason
from samples.stories import CENTRE
from tests.support import Clock, card_number, head, issue, memory_office, report, resident_id


def test_a_pre_report_takes_its_actor_and_document_from_the_channel():
    office = memory_office(Clock())
    rid, other = resident_id(), resident_id()
    office.issue_card(issue(rid))
    office.issue_card(issue(other))
    online = cards.pre_report_loss(
        office, cards.PreReportRequest(resident_id=rid, channel=Channel.ONLINE)
    )
    assert (online.actor, online.model_extra["identity_document"]) == (
        {"role": "cardholder", "staff_id": None, "channel": "online"},
        "online_identity",
    )
    at_outlet = cards.pre_report_loss(
        office, cards.PreReportRequest(resident_id=other, outlet="BJ-DC-001", staff_id="c-01")
    )
    assert at_outlet.actor == {"role": "outlet_clerk", "staff_id": "c-01", "channel": None}
    assert at_outlet.model_extra["identity_document"] == "resident_id_card"
    before = head(office)
    with pytest.raises(InvalidInput, match="staff id"):
        cards.PreReportRequest(resident_id=rid, outlet="BJ-DC-001").command()
    with pytest.raises(InvalidInput, match="holder's own"):
        cards.PreReportRequest(
            resident_id=rid, channel=Channel.HOTLINE_12333, staff_id="c-01"
        ).command()
    assert head(office) == before


def test_an_unmasked_read_is_recorded_before_it_is_answered_and_refused_unrecorded():
    office = memory_office(Clock())
    rid = resident_id()
    office.issue_card(issue(rid))
    holder_id = office.holder_id(rid)
    read = UnmaskedRead(
        auditor=Actor.staff(Role.AUDITOR, "auditor-01"), reason=UnmaskedReadReason.AUDIT
    )
    with pytest.raises(UnmaskedForbidden):
        holders.show_holder(office, rid, read=read, allowed_here=False)
    # Authority first: a refused reader learns nothing, not even whether the holder exists.
    with pytest.raises(UnmaskedForbidden):
        holders.show_holder(office, resident_id(), read=read, allowed_here=False)
    clerk = read.model_copy(update={"auditor": Actor.staff(Role.OUTLET_CLERK, "clerk-01")})
    with pytest.raises(UnmaskedForbidden):
        holders.holder_history(office, rid, read=clerk, allowed_here=True)
    assert office.unmasked_reads(holder_id) == []

    shown = holders.show_holder(office, rid, read=read, allowed_here=True)
    assert (shown.holder_id, shown.unmasked) == (rid, True)
    history = holders.holder_history(office, rid, read=read, allowed_here=True)
    assert history.entries[0].holder_id == rid
    assert [r.scope for r in office.unmasked_reads(holder_id)] == ["state", "history"]
    masked = holders.show_holder(office, rid)
    assert masked.holder_id == rid[:6] + 11 * "*" + rid[-1]
    assert len(office.unmasked_reads(holder_id)) == 2


def test_a_state_asked_for_before_the_first_record_is_refused_in_local_time():
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    with pytest.raises(HolderNotFound, match=r"\+08:00"):
        holders.show_holder(office, rid, as_of=clock.now - timedelta(hours=1))
    assert holders.show_holder(office, rid, as_of=clock.now).version == 1


def test_a_batch_is_complete_only_when_every_row_is_on_record():
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    certificate = office.report_loss_formally(report(rid)).certificate_number
    now = clock.advance(hours=1).astimezone(BEIJING).isoformat()
    good = {"certificate": certificate, "new_card_number": card_number(), "produced_at": now}
    unknown = good | {"certificate": "110000-0000000001"}
    short = {"certificate": certificate, "new_card_number": None, "produced_at": None}

    first = record_batch(office, [(2, good), (3, unknown), (4, short)], CENTRE, "B-1")
    assert [r.status for r in first.results] == ["recorded", "refused", "refused"]
    assert (first.status, first.code, first.complete) == ("refused", "rows_refused", False)
    assert first.refused_by_code == {"invalid_input": 1, "no_open_application": 1}

    again = record_batch(office, [(2, good)], CENTRE, "B-1")
    assert (again.status, again.already_recorded, again.complete) == ("already_recorded", 1, True)

    before = head(office)
    with pytest.raises(InvalidInput, match="at most"):
        record_batch(office, [(2, good)] * (MAX_ROWS + 1), CENTRE)
    assert head(office) == before
