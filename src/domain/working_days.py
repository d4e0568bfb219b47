"""Working days on the official Chinese holiday calendar, with its adjusted workdays (调休).

The State Council publishes each year's arrangement in November or December of the year before
(国务院办公厅关于 YYYY 年部分节假日安排的通知). A year that is not yet published falls back to
"Monday to Friday" and says so (``basis="weekdays_only"``), so an SLA date computed across the
new year is never presented as official. Add a year here when its notice appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal

DueDateBasis = Literal["official_calendar", "weekdays_only"]

# China keeps one time zone, UTC+8, without daylight saving: the store's UTC instants become
# business dates (a holder's age, the day an application is made) on this clock, never on UTC's,
# whose date lags Beijing's from 00:00 to 08:00 every day.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def business_date(at: datetime) -> date:
    """The date in China at the instant ``at``."""
    return at.astimezone(CHINA_STANDARD_TIME).date()


def _span(first: date, last: date) -> frozenset[date]:
    return frozenset(first + timedelta(days=i) for i in range((last - first).days + 1))


def _days(*spans: tuple[date, date]) -> frozenset[date]:
    out: frozenset[date] = frozenset()
    for first, last in spans:
        out |= _span(first, last)
    return out


D = date

# Days off, including the weekend days folded into each holiday run.
_HOLIDAYS: dict[int, frozenset[date]] = {
    # 国办发明电〔2023〕7号
    2024: _days(
        (D(2024, 1, 1), D(2024, 1, 1)),
        (D(2024, 2, 10), D(2024, 2, 17)),
        (D(2024, 4, 4), D(2024, 4, 6)),
        (D(2024, 5, 1), D(2024, 5, 5)),
        (D(2024, 6, 10), D(2024, 6, 10)),
        (D(2024, 9, 15), D(2024, 9, 17)),
        (D(2024, 10, 1), D(2024, 10, 7)),
    ),
    # 国办发明电〔2024〕12号
    2025: _days(
        (D(2025, 1, 1), D(2025, 1, 1)),
        (D(2025, 1, 28), D(2025, 2, 4)),
        (D(2025, 4, 4), D(2025, 4, 6)),
        (D(2025, 5, 1), D(2025, 5, 5)),
        (D(2025, 5, 31), D(2025, 6, 2)),
        (D(2025, 10, 1), D(2025, 10, 8)),
    ),
    # 国务院办公厅 2025年11月4日
    2026: _days(
        (D(2026, 1, 1), D(2026, 1, 3)),
        (D(2026, 2, 15), D(2026, 2, 23)),
        (D(2026, 4, 4), D(2026, 4, 6)),
        (D(2026, 5, 1), D(2026, 5, 5)),
        (D(2026, 6, 19), D(2026, 6, 21)),
        (D(2026, 9, 25), D(2026, 9, 27)),
        (D(2026, 10, 1), D(2026, 10, 7)),
    ),
}

# Weekend days that are working days because a holiday borrowed them (调休上班).
_ADJUSTED_WORKDAYS: dict[int, frozenset[date]] = {
    2024: frozenset(
        {
            D(2024, 2, 4),
            D(2024, 2, 18),
            D(2024, 4, 7),
            D(2024, 4, 28),
            D(2024, 5, 11),
            D(2024, 9, 14),
            D(2024, 9, 29),
            D(2024, 10, 12),
        }
    ),
    2025: frozenset(
        {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11)}
    ),
    2026: frozenset(
        {
            D(2026, 1, 4),
            D(2026, 2, 14),
            D(2026, 2, 28),
            D(2026, 5, 9),
            D(2026, 9, 20),
            D(2026, 10, 10),
        }
    ),
}

PUBLISHED_YEARS = frozenset(_HOLIDAYS)


def is_published(year: int) -> bool:
    return year in PUBLISHED_YEARS


def is_working_day(day: date) -> bool:
    """True on a day when outlets and the production centre work."""
    if day in _ADJUSTED_WORKDAYS.get(day.year, frozenset()):
        return True
    if day in _HOLIDAYS.get(day.year, frozenset()):
        return False
    return day.weekday() < 5


@dataclass(frozen=True)
class DueDate:
    day: date
    basis: DueDateBasis


def add_working_days(start: date, working_days: int) -> DueDate:
    """The date ``working_days`` working days after ``start`` (the start day itself not counted).

    Zero working days (instant issuance) is the start day itself.
    """
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    day = start
    official = is_published(start.year)
    remaining = working_days
    while remaining > 0:
        day += timedelta(days=1)
        official = official and is_published(day.year)
        if is_working_day(day):
            remaining -= 1
    return DueDate(day=day, basis="official_calendar" if official else "weekdays_only")


def working_days_between(first: date, last: date) -> int:
    """Working days after ``first`` up to and including ``last`` (0 when last <= first)."""
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count
