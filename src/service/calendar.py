"""The working calendar the office counts production days on: published years, then estimates.

Published years come from the packaged ``holiday_calendar.json`` and, on top of it, the operator's
own file (``SSCARD_HOLIDAY_CALENDAR``, same format), so a year's arrangement can be added the day
the State Council publishes it, without a release. A year in neither is estimated from the
statutory holidays the ``holidays`` package computes (``holidays.China``: it knows the lunar
dates but not the adjusted workdays 调休 of a year not yet published); due dates counted on it
say ``estimated``.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from domain.working_days import PublishedCalendar, PublishedDays

if TYPE_CHECKING:
    from holidays.holiday_base import HolidayBase


@lru_cache(maxsize=64)
def _statutory(year: int) -> HolidayBase:
    # Imported when a year is first estimated: loading the package cost every command (every
    # ``sscard`` is a process of its own) half a second.
    from holidays.countries.china import China  # noqa: PLC0415

    # holidays.China is untyped in 0.108; it returns a HolidayBase.
    calendar: HolidayBase = China(years=year)  # type: ignore[no-untyped-call]
    return calendar


def statutory_working_day(day: date) -> bool:
    """Whether ``day`` is worked by the statutory holidays alone (weekends off, holidays off)."""
    return bool(_statutory(day.year).is_working_day(day))


class EstimatingCalendar:
    """A ``WorkingCalendar``: published years as published, other years estimated."""

    def __init__(self, published: PublishedCalendar) -> None:
        self._published = PublishedDays(published)

    def is_official(self, year: int) -> bool:
        return self._published.is_known(year)

    def is_working_day(self, day: date) -> bool:
        if self._published.is_known(day.year):
            return self._published.is_working_day(day)
        return statutory_working_day(day)
