from datetime import UTC, date, datetime

import pytest

from domain.working_days import (
    _days,
    _span,
    add_working_days,
    business_date,
    is_working_day,
    working_days_between,
)


def test_weekends_and_holidays_are_days_off_and_adjusted_weekends_are_workdays():
    assert not is_working_day(date(2026, 10, 5))  # National Day week, a Monday
    assert not is_working_day(date(2026, 2, 17))  # Spring Festival
    assert is_working_day(date(2026, 2, 14))  # a Saturday worked for the Spring Festival
    assert is_working_day(date(2026, 9, 20))  # a Sunday worked for National Day
    assert not is_working_day(date(2026, 11, 28))  # an ordinary Saturday
    assert is_working_day(date(2025, 1, 26))  # 2025: Sunday worked before the Spring Festival


def test_fifteen_working_days_across_national_day():
    # 9-18 (Fri): 9-20 Sun worked; 9-25..27 and 10-1..7 off; 10-10 Sat worked.
    due = add_working_days(date(2026, 9, 18), 15)
    assert due.day == date(2026, 10, 15)
    assert due.basis == "official_calendar"


def test_fifteen_working_days_across_the_2026_spring_festival():
    due = add_working_days(date(2026, 2, 10), 15)
    # 2-11,12,13 (3), 2-14 Sat worked (4), 2-15..23 off, 2-24..27 (8), 2-28 Sat worked (9),
    # 3-2..6 (14), 3-9 (15)
    assert due.day == date(2026, 3, 9)


def test_instant_issue_is_the_same_day():
    assert add_working_days(date(2026, 5, 6), 0).day == date(2026, 5, 6)


def test_an_unpublished_year_falls_back_to_weekdays_and_says_so():
    due = add_working_days(date(2026, 12, 21), 15)
    assert due.basis == "weekdays_only"
    assert due.day == date(2027, 1, 11)


def test_working_days_between_counts_after_first_through_last():
    assert working_days_between(date(2026, 9, 18), date(2026, 10, 15)) == 15
    assert working_days_between(date(2026, 10, 15), date(2026, 10, 15)) == 0


def test_a_negative_number_of_working_days_is_refused():
    with pytest.raises(ValueError, match=r"^working_days must not be negative$"):
        add_working_days(date(2026, 5, 6), -1)


def test_holiday_runs_are_written_as_inclusive_spans():
    # The calendar above is built from (first, last) pairs by these two helpers.
    assert _span(date(2026, 1, 1), date(2026, 1, 3)) == {
        date(2026, 1, 1),
        date(2026, 1, 2),
        date(2026, 1, 3),
    }
    assert _span(date(2026, 5, 1), date(2026, 5, 1)) == {date(2026, 5, 1)}
    assert _days((date(2026, 1, 1), date(2026, 1, 2)), (date(2026, 5, 1), date(2026, 5, 1))) == {
        date(2026, 1, 1),
        date(2026, 1, 2),
        date(2026, 5, 1),
    }
    assert _days() == frozenset()


def test_business_dates_are_chinas():
    assert business_date(datetime(2026, 3, 2, 15, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert business_date(datetime(2026, 3, 2, 16, 0, tzinfo=UTC)) == date(2026, 3, 3)
