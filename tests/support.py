"""What the tests share beyond the holder stories: a hand-moved clock, an in-memory card office,
and fresh identities for the whole run."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from domain.application import CardOffice
from domain.cardholder.commands import IssueCard, RecordProduction
from domain.cardholder.events import CardKind
from domain.working_days import PublishedCalendar
from samples import stories
from samples.stories import (
    AGENT_DOCS,
    BEIJING_PROXY_DOCS,
    CENTRE,
    CLERK,
    HOLDER_DOCS,
    OUTLET,
    PICKUP,
    Identities,
    activate,
    authorize,
    cancel,
    collect,
    pre_report,
    pre_report_online,
    report,
)
from service.calendar import EstimatingCalendar
from store.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC, PydanticMapper
from store.protection import PERSONAL_DATA_TOPIC

__all__ = [
    "AGENT_DOCS",
    "BEIJING_PROXY_DOCS",
    "CENTRE",
    "CLERK",
    "HOLDER_DOCS",
    "HOLDER_ID_KEY",
    "OUTLET",
    "PICKUP",
    "Clock",
    "activate",
    "authorize",
    "cancel",
    "card_number",
    "collect",
    "elderly_resident_id",
    "every_kind_of_event",
    "head",
    "issue",
    "memory_office",
    "pre_report",
    "pre_report_online",
    "produce",
    "report",
    "resident_id",
]

HOLDER_ID_KEY = "test-holder-id-key-000000"
MASTER_KEY = "test-master-key-0000000000000000000000"
# The shape of a resident ID number standing alone. A run of 18 digits inside a longer run of
# letters and digits is not one: a SHA-256 in hex (the hash chain's links) holds such a run in
# about one digest in a hundred.
RESIDENT_ID_SHAPE = re.compile(rb"(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])")

# One source of identities for the whole run: no two tests (or two stores) share a number.
IDS = Identities(district="110105", card_prefix="T")


def resident_id(region: str = "110105", born: date = date(1980, 5, 17)) -> str:
    """A fresh valid resident ID number (unique within the test run)."""
    return IDS.resident_id(district=region, born=born)


def card_number() -> str:
    return IDS.card_number()


def elderly_resident_id() -> str:
    return resident_id(born=date(1940, 1, 1))


def issue(
    rid: str,
    region: str = "110000",
    kind: CardKind = CardKind.SOCIAL_SECURITY_CARD,
    number: str | None = None,
) -> IssueCard:
    return stories.issue(rid, number or card_number(), region=region, kind=kind)


def produce(certificate: str, new_card: str | None = None) -> RecordProduction:
    return stories.produce(certificate, new_card or card_number())


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def memory_office(clock: Clock | None = None, **kwargs: Any) -> CardOffice:
    """The card office on the library's in-memory store: unit tests, milliseconds.

    With an aggregate cache, as the composition root builds it (``service.bootstrap``): the
    office then answers from cached states brought forward, which a replay from scratch can be
    held to."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        "HOLDER_ID_KEY": HOLDER_ID_KEY,
        "CIPHER_TOPIC": PERSONAL_DATA_TOPIC,
        "MASTER_KEY": MASTER_KEY,
        "AGGREGATE_CACHE_MAXSIZE": "1000",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    kwargs.setdefault("calendar", CALENDAR)
    office = CardOffice(env=env, clock=clock or Clock(), **kwargs)
    # The chain's links read a predecessor the mapper has not seen from the store itself.
    cast(PydanticMapper, office.mapper).personal_data.table.attach(office.recorder.select_events)
    return office


# The calendar the composition root wires: packaged published years, estimates for the rest.
CALENDAR = EstimatingCalendar(PublishedCalendar.packaged())


def head(office: CardOffice) -> int:
    return office.recorder.max_notification_id() or 0


def every_kind_of_event(office: CardOffice, clock: Clock) -> list[str]:
    """Every event type at least once (see ``samples.stories.every_kind_of_event``)."""
    return stories.every_kind_of_event(office, IDS, clock.advance)
