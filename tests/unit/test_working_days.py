"""Working days: the published calendar (a data file an operator extends), estimates for the years
not published yet, and the packaged years cross-checked against the ``holidays`` package."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from domain.working_days import PublishedCalendar, add_working_days, working_days_between
from service.calendar import EstimatingCalendar, statutory_working_day
from tests.support import CALENDAR


def test_weekends_and_holidays_are_days_off_and_adjusted_weekends_are_workdays():
    assert not CALENDAR.is_working_day(date(2026, 10, 5))  # National Day week, a Monday
    assert not CALENDAR.is_working_day(date(2026, 2, 17))  # Spring Festival
    assert CALENDAR.is_working_day(date(2026, 2, 14))  # a Saturday worked for the Spring Festival
    assert CALENDAR.is_working_day(date(2026, 9, 20))  # a Sunday worked for National Day
    assert not CALENDAR.is_working_day(date(2026, 11, 28))  # an ordinary Saturday
    assert CALENDAR.is_working_day(date(2025, 1, 26))  # 2025: Sunday worked before Spring Festival


def test_fifteen_working_days_across_national_day():
    # 9-18 (Fri): 9-20 Sun worked; 9-25..27 and 10-1..7 off; 10-10 Sat worked.
    due = add_working_days(CALENDAR, date(2026, 9, 18), 15)
    assert due.day == date(2026, 10, 15)
    assert due.basis == "official_calendar"


def test_fifteen_working_days_across_the_2026_spring_festival():
    due = add_working_days(CALENDAR, date(2026, 2, 10), 15)
    # 2-11,12,13 (3), 2-14 Sat worked (4), 2-15..23 off, 2-24..27 (8), 2-28 Sat worked (9),
    # 3-2..6 (14), 3-9 (15)
    assert due.day == date(2026, 3, 9)


def test_instant_issue_is_the_same_day():
    assert add_working_days(CALENDAR, date(2026, 5, 6), 0).day == date(2026, 5, 6)


def test_an_unpublished_year_counts_its_statutory_holidays_and_says_it_is_an_estimate():
    # 2027 is not published: New Year's Day (Fri 1-1) is off even so. Counting Mon-Fri only
    # gave 2027-01-08.
    due = add_working_days(CALENDAR, date(2026, 12, 20), 15)
    assert due.basis == "estimated"
    assert due.day == date(2027, 1, 11)
    assert not CALENDAR.is_working_day(date(2027, 2, 8))  # the Spring Festival 2027, a Monday


def test_an_operators_file_adds_a_year_without_a_release(tmp_path: Path):
    operator = tmp_path / "holidays.json"
    operator.write_text(
        '{"years": {"2027": {"notice": "国务院办公厅 2026年11月", '
        '"days_off": ["2027-01-01/2027-01-03", "2027-02-05/2027-02-11"], '
        '"adjusted_workdays": ["2027-02-13"]}}}',
        encoding="utf-8",
    )
    calendar = EstimatingCalendar(
        PublishedCalendar.packaged().merged(PublishedCalendar.from_file(operator))
    )
    assert calendar.is_official(2027)
    assert calendar.is_working_day(date(2027, 2, 13))  # a Saturday worked, as published
    assert not calendar.is_working_day(date(2027, 2, 11))
    due = add_working_days(calendar, date(2026, 12, 20), 15)
    assert due.basis == "official_calendar"


def test_a_malformed_calendar_file_is_refused_with_its_place():
    with pytest.raises(InvalidInput, match="days_off"):
        PublishedCalendar.from_json('{"years": {"2027": {"notice": "x", "days_off": [3]}}}')
    with pytest.raises(InvalidInput, match="another year"):
        PublishedCalendar.from_json(
            '{"years": {"2027": {"notice": "x", "days_off": ["2028-01-01"]}}}'
        )


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_the_packaged_years_agree_with_the_holidays_package(year: int):
    published = EstimatingCalendar(PublishedCalendar.packaged())
    day = date(year, 1, 1)
    disagreements = []
    while day.year == year:
        if published.is_working_day(day) != statutory_working_day(day):
            disagreements.append(day)
        day += timedelta(days=1)
    assert disagreements == []


def test_working_days_between_counts_after_first_through_last():
    assert working_days_between(CALENDAR, date(2026, 9, 18), date(2026, 10, 15)) == 15
    assert working_days_between(CALENDAR, date(2026, 10, 15), date(2026, 10, 15)) == 0


def test_a_negative_number_of_working_days_is_refused():
    with pytest.raises(ValueError, match=r"^working_days must not be negative$"):
        add_working_days(CALENDAR, date(2026, 5, 6), -1)
