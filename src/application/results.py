"""The output contract's common parts: every result is one pydantic model with a ``status``.

``status`` says what happened: ``recorded`` (a command wrote its event), ``already_recorded``
(nothing to write: the fact is on record), ``refused`` (the rules or the input refused it:
``code`` and ``message``), ``ok`` (a query or an operation answered). Field names are the same
everywhere (``claim_id``, ``holder_id``, ``certificate``); instants carry the region's offset;
money is a yuan string with two places (``"12.50"``), with fen as an extra integer where useful.

This module imports nothing heavier than pydantic: the command line loads it for ``--help``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from domain.claims.amounts import format_yuan
from domain.region_policy import DEFAULT_TIME_ZONE

BEIJING = ZoneInfo(DEFAULT_TIME_ZONE)

Status = Literal["recorded", "already_recorded", "refused", "invalid", "error", "ok"]


class Result(BaseModel):
    """One answer. Subclasses add their fields; ``status`` comes first in the JSON."""

    model_config = ConfigDict(frozen=True)

    status: Status = "ok"

    def json_line(self) -> str:
        """The one JSON object an entry point prints (non-ASCII kept readable)."""
        return self.model_dump_json()


class Refusal(Result):
    """A command or query that was not carried out; nothing was written.

    ``refused``: the rules (exit 1). ``invalid``: the input or the configuration (exit 2).
    ``error``: the infrastructure (exit 3)."""

    status: Status = "refused"
    code: str
    message: str


def local_instant(at: datetime, zone: tzinfo = BEIJING) -> str:
    """An instant as the contract gives it: ISO 8601 in the region's time, with its offset."""
    return at.astimezone(zone).isoformat(timespec="seconds")


def local_instant_or_none(at: datetime | None, zone: tzinfo = BEIJING) -> str | None:
    return None if at is None else local_instant(at, zone)


def yuan(fen: int) -> str:
    """Money as the contract gives it: a yuan string with two places (1250 -> ``"12.50"``)."""
    return format_yuan(fen)


def yuan_or_none(fen: int | None) -> str | None:
    return None if fen is None else yuan(fen)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 entry``, ``2 entries``: counts read as people write them."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


JsonObject = dict[str, Any]
