"""Input hygiene: one place per kind of value people type (names, dates, instants, amounts).

Identifiers (resident IDs, card numbers, outlet codes...) live in ``identifiers.py``; everything
else a clerk or a client can type is checked here, so an entry point never invents its own rule
and an error never echoes more than ``QUOTE_LIMIT`` characters of what was typed.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated

from pydantic import AfterValidator, Field

from domain.errors import InvalidInput

QUOTE_LIMIT = 40

# The earliest instant the office accepts: nothing it records predates the system, and very old
# values (year 1) overflow when converted between time zones.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# How far ahead of the office's clock an instant given by hand may be (clocks disagree a little).
CLOCK_SKEW = timedelta(minutes=5)

NAME_MAX = 64


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` as it may appear in an error: repr-quoted, control characters escaped, cut."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    shown = repr(cut)
    return shown if len(text) <= limit else f"{shown} ({len(text)} characters)"


# Unicode categories that never belong in a name: controls (incl. CR/LF, ESC of ANSI escapes),
# format characters (bidi overrides, zero-width joiners), surrogates, unassigned, private use.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp"})


def validate_name(value: str) -> str:
    """A person's name: trimmed, 1-64 printable characters, no control or bidi characters."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidInput("a name must not be empty or only spaces")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a name has at most {NAME_MAX} characters, got {len(name)}")
    for char in name:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise InvalidInput(
                f"name {quote(name)} contains a control or formatting character U+{ord(char):04X}"
            )
        if char.isspace() and char != " ":
            raise InvalidInput(f"name {quote(name)} contains a whitespace character other than ' '")
    return name


Name = Annotated[str, AfterValidator(validate_name), Field(min_length=1, max_length=NAME_MAX)]


def parse_date(text: str, what: str = "date") -> date:
    """A calendar date typed as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} {quote(text)} is not a date (YYYY-MM-DD)") from None


def not_in_future(day: date, today: date, what: str) -> date:
    if day > today:
        raise InvalidInput(f"{what} {day.isoformat()} is in the future")
    return day


def parse_instant(text: str, what: str = "instant") -> datetime:
    """An ISO-8601 instant with its offset, within the range the office records (UTC)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} {quote(text)} is not an ISO-8601 instant") from None
    if at.tzinfo is None:
        raise InvalidInput(f"{what} {quote(text)} has no time zone offset (add Z or +08:00)")
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{what} {quote(text)} is out of range") from None
    if utc < EARLIEST or utc.year > 9000:
        raise InvalidInput(f"{what} {quote(text)} is out of range (from {EARLIEST:%Y-%m-%d} on)")
    return utc


def local_instant(at: datetime, zone: tzinfo) -> str:
    """An instant as people read it in messages: the region's local time with its offset."""
    return at.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def check_not_future(at: datetime, now: datetime, zone: tzinfo, what: str = "instant") -> datetime:
    """Nobody may date an event in the future (beyond the small clock-skew allowance). The
    refusal speaks the region's local time (``zone``): the store's UTC is not what people typed."""
    if at > now + CLOCK_SKEW:
        raise InvalidInput(
            f"{what} {local_instant(at, zone)} is in the future "
            f"(the clock says {local_instant(now, zone)})"
        )
    return at


def positive_number(value: float, what: str) -> float:
    """A finite, positive number (a rate, a count of seconds): NaN and infinities refused."""
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{what} must be a finite number above 0, got {value!r}")
    return value


def parse_number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{what} {quote(text)} is not a number") from None
    return positive_number(value, what)
