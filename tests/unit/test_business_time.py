"""Issue 12, items 2 and 3: business dates in the region's time zone, and time that cannot be
forged (nothing dated in the future or before its stream's previous event)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cli.output import event_line, holder_summary
from domain.errors import DomainError, InvalidInput
from domain.region_policy import RegionPolicies
from domain.values import parse_instant
from samples.stories import erase
from tests.support import Clock, issue, memory_office, pre_report, report, resident_id

BEIJING = ZoneInfo("Asia/Shanghai")


def test_the_due_date_counts_from_the_local_date_not_the_utc_one():
    # 07:45 on 2026-09-28 in Beijing is 23:45 on the 27th in UTC.
    clock = Clock(datetime(2026, 9, 28, 7, 45, tzinfo=BEIJING))
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    assert application.production_due_on == date(2026, 10, 23)
    assert application.occurred_at.tzinfo == UTC  # the store keeps UTC


def test_the_card_is_issued_on_the_local_date_by_default():
    clock = Clock(datetime(2026, 9, 28, 7, 45, tzinfo=BEIJING))
    office = memory_office(clock)
    holder = resident_id()
    event = office.issue_card(issue(holder).model_copy(update={"issued_on": None}))
    assert event.issued_on == date(2026, 9, 28)


def test_output_shows_local_time_with_its_offset():
    clock = Clock(datetime(2026, 9, 27, 23, 45, tzinfo=UTC))
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    event = office.pre_report_loss(pre_report(holder))
    line = event_line(event, BEIJING)
    assert "2026-09-28 07:45:00+08:00" in line
    assert "lapses 2026-10-08 07:45+08:00" in line
    assert "Z " not in line
    summary = "\n".join(holder_summary(office.holder(holder), BEIJING))
    assert "+08:00" in summary


def test_a_region_policy_names_its_time_zone_and_an_unknown_one_is_refused():
    beijing = RegionPolicies.packaged().policy_for("110000")
    assert beijing.time_zone == "Asia/Shanghai"
    text = (
        '{"regions": [{"region_code": "110000", "name": "x", "lapse_days": 5, '
        '"lapse_outcome": "unblock", "production_working_days": 15, '
        '"replacement_fee_fen": 2000, "time_zone": "Mars/Olympus"}]}'
    )
    with pytest.raises(InvalidInput, match="time_zone"):
        RegionPolicies.from_json(text)


# ---- time guards ------------------------------------------------------------------------------


def test_a_lapse_cannot_be_dated_in_the_future():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    reported = office.pre_report_loss(pre_report(holder))
    with pytest.raises(InvalidInput, match="in the future"):
        office.lapse_pre_report(
            reported.originator_id, reported.originator_version, clock.now + timedelta(days=30)
        )
    assert office.holder(holder).pre_report is not None


def test_an_event_given_an_instant_before_its_predecessor_is_refused():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    reported = office.pre_report_loss(pre_report(holder))
    clock.advance(days=20)
    with pytest.raises(InvalidInput, match="before the holder's previous event"):
        office.lapse_pre_report(
            reported.originator_id,
            reported.originator_version,
            reported.occurred_at - timedelta(seconds=1),
        )


def test_a_clock_that_steps_back_dates_the_event_at_its_predecessor():
    """The system clock (not a person) stepping back must not stop the office, nor break the
    stream's order: the event is held at its predecessor's time."""
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    first = office.pre_report_loss(pre_report(holder))
    clock.now -= timedelta(minutes=3)
    application = office.report_loss_formally(report(holder))
    assert application.occurred_at == first.occurred_at
    history = office.history(holder)
    assert [e.occurred_at for e in history] == sorted(e.occurred_at for e in history)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-08:00",
        "1999-12-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-12-01T00:00:00",
    ],
)
def test_instants_out_of_range_or_without_offset_are_bad_input(text: str):
    with pytest.raises(InvalidInput):
        parse_instant(text)


def test_refusals_date_what_happened_on_the_local_date():
    # 23:45 UTC on the 27th is 07:45 on the 28th in Beijing: the date people lived it on.
    clock = Clock(datetime(2026, 9, 27, 23, 45, tzinfo=UTC))
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    office.report_loss_formally(report(holder))
    with pytest.raises(DomainError) as refused:
        office.pre_report_loss(pre_report(holder))
    assert "formally reported lost on 2026-09-28" in str(refused.value)
    office.erase_holder(erase(holder))
    with pytest.raises(DomainError) as refused:
        office.pre_report_loss(pre_report(holder))
    assert "erased on 2026-09-28" in str(refused.value)


def test_an_instant_in_the_future_is_refused_in_local_time():
    clock = Clock(datetime(2026, 12, 4, 0, 30, tzinfo=UTC))  # 08:30 in Beijing
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    row_time = parse_instant("2026-12-04T09:00:00+08:00")
    with pytest.raises(InvalidInput) as refused:
        office.lapse_pre_report(office.holder(holder).id, 2, row_time)
    assert str(refused.value).startswith("instant 2026-12-04 09:00:00+08:00 is in the future")


def test_a_lapse_handled_late_says_so_and_until_when_the_card_stayed_blocked():
    clock = Clock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    pre = office.pre_report_loss(pre_report(holder))
    clock.now = pre.lapses_at
    on_time = office.lapse_pre_report(pre.originator_id, pre.originator_version)
    assert on_time is not None
    assert "lapsed at its deadline" in event_line(on_time, BEIJING)

    other = resident_id()
    office.issue_card(issue(other))
    pre = office.pre_report_loss(pre_report(other))
    clock.now = pre.lapses_at + timedelta(hours=5)  # the back office was down at the deadline
    late = office.lapse_pre_report(pre.originator_id, pre.originator_version)
    assert late is not None
    line = event_line(late, BEIJING)
    assert "lapsed at its deadline" not in line
    assert f"handled late at {late.occurred_at.astimezone(BEIJING):%Y-%m-%d %H:%M}" in line
