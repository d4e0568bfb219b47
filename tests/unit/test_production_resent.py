"""A production batch sent again is safe, whatever became of its cards since."""

from __future__ import annotations

import pytest

from domain.cardholder.errors import NoOpenApplication
from tests.support import (
    Clock,
    activate,
    card_number,
    collect,
    head,
    issue,
    memory_office,
    produce,
    report,
    resident_id,
)


def test_a_production_sent_again_after_activation_is_already_recorded():
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    certificate = office.report_loss_formally(report(rid)).certificate_number
    new_card = card_number()
    first = office.record_production_outcome(produce(certificate, new_card))
    clock.advance(days=1)
    office.record_collection(collect(rid, certificate))
    office.activate_card(activate(rid, new_card))
    before = head(office)

    again = office.record_production_outcome(produce(certificate, new_card))

    assert again.status == "already_recorded"
    assert again.event == first.event
    assert head(office) == before


def test_another_card_for_a_certificate_already_activated_is_still_refused():
    office = memory_office(Clock())
    rid = resident_id()
    office.issue_card(issue(rid))
    certificate = office.report_loss_formally(report(rid)).certificate_number
    new_card = card_number()
    office.record_production_outcome(produce(certificate, new_card))
    office.record_collection(collect(rid, certificate))
    office.activate_card(activate(rid, new_card))
    before = head(office)
    with pytest.raises(NoOpenApplication):
        office.record_production_outcome(produce(certificate, card_number()))
    assert head(office) == before


def test_a_batch_row_sent_again_with_its_production_time_after_activation_is_already_recorded():
    """A batch row carries the instant the card was made: by now the holder's record has moved
    past it (collected, activated), and the row is still the same fact, not a late event."""
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    certificate = office.report_loss_formally(report(rid)).certificate_number
    clock.advance(hours=2)
    new_card = card_number()
    row = produce(certificate, new_card).model_copy(update={"produced_at": clock.now})
    first = office.record_production_outcome(row)
    clock.advance(days=1)
    office.record_collection(collect(rid, certificate))
    office.activate_card(activate(rid, new_card))
    before = head(office)

    again = office.record_production_outcome(row)

    assert (again.status, again.event) == ("already_recorded", first.event)
    assert head(office) == before
