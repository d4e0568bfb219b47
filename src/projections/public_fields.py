"""Reading the public form of events: instants, business dates, and the holder's masked name.

Views keep instants as fixed-width UTC text (sortable, identical on SQLite and PostgreSQL) and
business dates as the local date in the holder's region (``RegionPolicy.time_zone``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from domain import erasure
from domain.region_policy import RegionPolicies

# A region code -> its time zone; raises for a region no policy covers.
Zones = Callable[[str], ZoneInfo]

INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def zones_of(policies: RegionPolicies) -> Zones:
    @cache
    def zone(region_code: str) -> ZoneInfo:
        return policies.policy_for(region_code).zone

    return zone


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def instant(text: str) -> str:
    """An instant of the envelope as the views keep it. Pydantic writes UTC instants in this
    very form unless their microseconds are zero: those are taken as they are (every event of
    a replay passes here, so the parse is saved where it can be)."""
    if len(text) == 27 and text[19] == "." and text[26] == "Z" and text[10] == "T":
        return text
    return parse_instant(text).strftime(INSTANT_FORMAT)


def instant_of(value: datetime) -> str:
    return value.astimezone(UTC).strftime(INSTANT_FORMAT)


def stored_instant(text: str) -> datetime:
    return datetime.strptime(text, INSTANT_FORMAT).replace(tzinfo=UTC)


_days: dict[tuple[str, ZoneInfo], str] = {}


def local_day(text: str, zone: ZoneInfo) -> str:
    """The business date (ISO) of an instant in the region's zone, remembered per minute (every
    zone's offset is whole minutes, and the events of a replay share few minutes)."""
    key = (instant(text)[:16], zone)
    day = _days.get(key)
    if day is None:
        if len(_days) > 100_000:
            _days.clear()
        day = _days[key] = parse_instant(text).astimezone(zone).date().isoformat()
    return day


def masked_holder_name(payload: dict[str, Any]) -> str:
    """The holder's masked name from a public ``CardIssued`` payload (the view never sees a
    name: the relay and a replay hand it the public form only)."""
    return str(payload["holder_masked_name"])


ERASED = erasure.ERASED  # the mark the public form carries after an erasure
