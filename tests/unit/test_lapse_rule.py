"""A pre-report lapses at its deadline, exactly once, with the outcome its region set."""

from domain.cardholder.events import LapseResult
from domain.cardholder.state import CardStatus
from tests.support import Clock, cancel, head, issue, memory_office, pre_report, resident_id


def test_nothing_lapses_before_the_deadline():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    reported = office.pre_report_loss(pre_report(holder))
    early = clock.advance(days=5, seconds=-1)
    assert (
        office.lapse_pre_report(reported.originator_id, reported.originator_version, early) is None
    )


def test_a_lapse_happens_once_and_unblocks_where_the_region_says_so():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    reported = office.pre_report_loss(pre_report(holder))
    late = clock.advance(days=30)  # the back office was down at the deadline
    lapsed = office.lapse_pre_report(reported.originator_id, reported.originator_version, late)
    assert lapsed is not None
    assert lapsed.result is LapseResult.UNBLOCKED
    assert lapsed.deadline == reported.lapses_at
    before = head(office)
    assert (
        office.lapse_pre_report(reported.originator_id, reported.originator_version, late) is None
    )
    assert head(office) == before
    state = office.holder(holder)
    assert state.card.status is CardStatus.NORMAL
    assert state.suspensions[-1].ended_by == "pre_report_lapsed"


def test_a_cancelled_pre_report_never_lapses():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    reported = office.pre_report_loss(pre_report(holder))
    office.cancel_pre_report(cancel(holder))
    late = clock.advance(days=30)
    assert (
        office.lapse_pre_report(reported.originator_id, reported.originator_version, late) is None
    )


def test_a_lapse_that_cancels_keeps_settlement_suspended():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="440203")
    office.issue_card(issue(holder, region="440200"))
    reported = office.pre_report_loss(pre_report(holder))
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, clock.advance(days=16)
    )
    assert lapsed is not None
    assert lapsed.result is LapseResult.CANCELLED
    state = office.holder(holder)
    assert state.card.status is CardStatus.CANCELLED
    assert state.settlement_suspended
