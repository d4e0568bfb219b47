"""Working days on the official Chinese holiday calendar, with its adjusted workdays (调休).

The State Council publishes each year's arrangement around November of the year before
(国务院办公厅关于 YYYY 年部分节假日安排的通知). Published years are data (``holiday_calendar.json``,
extended by the operator's own file); the domain reads the calendar through the
``WorkingCalendar`` port, so a year that is not published yet can be estimated by an adapter
outside the domain (statutory holidays computed by a library) and every due date says which
basis it was computed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.config_files import read_config_text
from domain.errors import InvalidInput, first_problem

# "weekdays_only" is what unpublished years were counted on before estimates existed: stored
# events still carry it, so it stays a valid value; new events never get it.
DueDateBasis = Literal["official_calendar", "estimated", "weekdays_only"]


class WorkingCalendar(Protocol):
    """The port through which the domain learns which days are worked."""

    def is_working_day(self, day: date) -> bool:
        """True on a day when outlets and the production centre work."""

    def is_official(self, year: int) -> bool:
        """True when the year's arrangement is published (not an estimate)."""


def _days(entry: str) -> frozenset[date]:
    first_text, _, last_text = entry.partition("/")
    first = date.fromisoformat(first_text)
    last = date.fromisoformat(last_text) if last_text else first
    if last < first:
        raise ValueError(f"{entry}: the span ends before it starts")
    return frozenset(first + timedelta(days=i) for i in range((last - first).days + 1))


class PublishedYear(BaseModel):
    """One year's arrangement as the State Council's notice gives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notice: str = Field(min_length=1, max_length=200)
    # Days off, including the weekend days folded into each holiday run: "YYYY-MM-DD" or a span
    # "YYYY-MM-DD/YYYY-MM-DD".
    days_off: tuple[str, ...]
    # Weekend days that are working days because a holiday borrowed them (调休上班).
    adjusted_workdays: tuple[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")], ...] = ()

    @field_validator("days_off")
    @classmethod
    def _spans(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            _days(entry)
        return value

    def off(self) -> frozenset[date]:
        out: frozenset[date] = frozenset()
        for entry in self.days_off:
            out |= _days(entry)
        return out

    def worked(self) -> frozenset[date]:
        return frozenset(date.fromisoformat(d) for d in self.adjusted_workdays)


class PublishedCalendar(BaseModel):
    """The published years (packaged, plus an operator's file that extends or overrides them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    years: dict[int, PublishedYear]

    def merged(self, newer: PublishedCalendar) -> PublishedCalendar:
        """This calendar with ``newer``'s years added, a year in both taken from ``newer``."""
        return PublishedCalendar(years={**self.years, **newer.years})

    def days(self) -> tuple[dict[int, frozenset[date]], dict[int, frozenset[date]]]:
        off = {year: entry.off() for year, entry in self.years.items()}
        worked = {year: entry.worked() for year, entry in self.years.items()}
        for year in self.years:
            strays = sorted(d for d in off[year] | worked[year] if d.year != year)
            if strays:
                raise InvalidInput(
                    f"holiday calendar year {year} lists {strays[0]} of another year"
                )
        return off, worked

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> PublishedCalendar:
        try:
            calendar = cls.model_validate(json.loads(text))
            calendar.days()
        except ValidationError as exc:
            where, what = first_problem(exc, "top level")
            raise InvalidInput(f"holiday calendar {source} is invalid at {where}: {what}") from exc
        except (json.JSONDecodeError, InvalidInput, ValueError) as exc:
            raise InvalidInput(f"holiday calendar {source} is invalid: {exc}") from exc
        return calendar

    @classmethod
    def from_file(cls, path: Path) -> PublishedCalendar:
        return cls.from_json(read_config_text(path, "holiday calendar"), source=str(path))

    @classmethod
    def packaged(cls) -> PublishedCalendar:
        text = resources.files("domain").joinpath("holiday_calendar.json").read_text("utf-8")
        return cls.from_json(text, source="domain/holiday_calendar.json")


class PublishedDays:
    """A ``WorkingCalendar`` for the published years only; other years are not its business
    (``is_known`` says which are). Adapters wrap it with an estimate for the rest."""

    def __init__(self, calendar: PublishedCalendar) -> None:
        self._off, self._worked = calendar.days()

    def is_known(self, year: int) -> bool:
        return year in self._off

    def is_official(self, year: int) -> bool:
        return self.is_known(year)

    def is_working_day(self, day: date) -> bool:
        if day in self._worked.get(day.year, frozenset()):
            return True
        if day in self._off.get(day.year, frozenset()):
            return False
        return day.weekday() < 5


@dataclass(frozen=True)
class DueDate:
    day: date
    basis: DueDateBasis


def add_working_days(calendar: WorkingCalendar, start: date, working_days: int) -> DueDate:
    """The date ``working_days`` working days after ``start`` (the start day itself not counted).

    Zero working days (instant issuance) is the start day itself.
    """
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    day = start
    official = calendar.is_official(start.year)
    remaining = working_days
    while remaining > 0:
        day += timedelta(days=1)
        official = official and calendar.is_official(day.year)
        if calendar.is_working_day(day):
            remaining -= 1
    return DueDate(day=day, basis="official_calendar" if official else "estimated")


def working_days_between(calendar: WorkingCalendar, first: date, last: date) -> int:
    """Working days after ``first`` up to and including ``last`` (0 when last <= first)."""
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            count += 1
    return count
