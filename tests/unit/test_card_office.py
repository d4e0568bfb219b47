"""The card office's own work around the rules: retries when it loses a race, certificate
numbers, its clock, its configuration, reservations, and errors that travel."""

from __future__ import annotations

import pickle
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.application import (
    CardOffice,
    ConcurrentUpdateError,
    random_certificate_number,
    utc_now,
)
from domain.cardholder.errors import CardAlreadySuspended
from domain.errors import DomainError
from domain.references import card_number_stream_id, certificate_stream_id
from service.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC
from tests.support import (
    HOLDER_ID_KEY,
    Clock,
    authorize,
    card_number,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)


class MeddlingClock(Clock):
    """A clock that, when the office reads it, first lets someone else write: the office then
    decides on a state that is already stale, exactly as when another outlet wins a race."""

    def __init__(self) -> None:
        super().__init__()
        self.meddle: Iterator[None] | None = None

    def __call__(self) -> datetime:
        meddle, self.meddle = self.meddle, None
        if meddle is not None:
            next(meddle, None)
        return self.now


def test_a_command_that_loses_a_race_is_decided_again_on_the_new_state():
    clock = MeddlingClock()
    office = memory_office(clock)
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))

    def another_outlet() -> Iterator[None]:
        office.authorize_proxy(authorize(holder, agent))
        yield

    clock.meddle = another_outlet()
    reported = office.pre_report_loss(pre_report(holder))
    assert reported.originator_version == 3, "decided again after the proxy was recorded"
    kinds = [type(e).__name__ for e in office.history(holder)]
    assert kinds == ["CardIssued", "ProxyAuthorized", "LossPreReported"]


def test_a_race_lost_to_the_same_command_ends_in_its_refusal():
    clock = MeddlingClock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))

    def the_same_pre_report_elsewhere() -> Iterator[None]:
        office.pre_report_loss(pre_report(holder))
        yield

    clock.meddle = the_same_pre_report_elsewhere()
    with pytest.raises(CardAlreadySuspended):
        office.pre_report_loss(pre_report(holder))


def test_a_command_that_keeps_losing_gives_up_and_says_so():
    office = memory_office()
    holder = resident_id()
    office.issue_card(issue(holder))
    agents = iter([resident_id() for _ in range(CardOffice.MAX_ATTEMPTS)])

    def always_someone_first() -> datetime:
        office._clock = Clock()  # the meddler's own command reads a plain clock
        office.authorize_proxy(authorize(holder, next(agents)))
        office._clock = always_someone_first
        return datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    office._clock = always_someone_first
    with pytest.raises(ConcurrentUpdateError) as caught:
        office.pre_report_loss(pre_report(holder))
    assert str(caught.value) == (
        "the cardholder's record changed repeatedly while this command ran; try again"
    )
    assert caught.value.code == "concurrent_update"


def test_a_certificate_number_drawn_twice_is_drawn_again():
    drawn = iter(["110000-0000000001", "110000-0000000001", "110000-0000000002"])
    office = memory_office(certificate_numbers=lambda _region: next(drawn))
    first, second = resident_id(), resident_id()
    office.issue_card(issue(first))
    office.issue_card(issue(second))
    assert office.report_loss_formally(report(first)).certificate_number == "110000-0000000001"
    assert office.report_loss_formally(report(second)).certificate_number == "110000-0000000002"
    assert office.holder_of_certificate("110000-0000000001") == office.holder_id(first)
    assert office.holder_of_certificate("110000-0000000002") == office.holder_id(second)


def test_numbers_are_reserved_in_one_event_streams_of_their_own():
    office = memory_office()
    holder, new_card = resident_id(), card_number()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number, new_card))
    for stream in (
        card_number_stream_id(new_card),
        certificate_stream_id(application.certificate_number),
    ):
        events = list(office.events.get(stream))
        assert [e.originator_version for e in events] == [1]
        assert events[0].holder_id == office.holder_id(holder)


def test_certificate_numbers_are_random_ten_digit_numbers_after_the_region():
    numbers = [random_certificate_number("110000") for _ in range(20)]
    assert all(re.fullmatch(r"110000-\d{10}", n) for n in numbers)
    assert len(set(numbers)) == 20
    assert max(int(n[-10:]) for n in numbers) >= 10**9, "drawn from the whole range"


def test_the_default_clock_is_utc():
    now = utc_now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_store_keeps_utc_whatever_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        beijing = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).astimezone(
            datetime.now().astimezone().tzinfo
        )
        office = memory_office(Clock(beijing))
        holder = resident_id()
        office.issue_card(issue(holder))
        reported = office.pre_report_loss(pre_report(holder))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert reported.occurred_at.utcoffset() == timedelta(0)
    assert reported.lapses_at.utcoffset() == timedelta(0)
    assert reported.lapses_at == datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def test_a_clock_without_a_time_zone_is_refused():
    office = memory_office(lambda: datetime(2026, 3, 2, 9, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^the clock must return timezone-aware datetimes$"):
        office.issue_card(issue(resident_id()))


def test_the_office_needs_its_holder_id_key():
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
    }
    expected = (
        "CardOffice needs HOLDER_ID_KEY (the key that turns resident ID numbers into holder "
        "stream ids)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        CardOffice(env=env)
    keyed = CardOffice(env=env | {"HOLDER_ID_KEY": HOLDER_ID_KEY})
    assert keyed.holder_id(resident_id()) != CardOffice(
        env=env | {"HOLDER_ID_KEY": "another-key-0000000000000"}
    ).holder_id(resident_id())


def test_the_scheduler_lapses_on_its_own_clock():
    """After downtime the scheduler passes the time it runs at; the office must use it."""
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    reported = office.pre_report_loss(pre_report(holder))
    late = clock.now + timedelta(days=6)  # the office's own clock has not moved
    lapsed = office.lapse_pre_report(reported.originator_id, reported.originator_version, late)
    assert lapsed is not None
    assert lapsed.occurred_at == late


def test_a_holder_can_be_read_as_of_an_earlier_version():
    office = memory_office()
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    as_issued = office.holder_by_id(office.holder_id(holder), version=1)
    assert as_issued.version == 1
    assert as_issued.pre_report is None
    assert office.holder(holder).pre_report is not None


def test_a_domain_error_keeps_its_reason_when_it_travels():
    error = CardAlreadySuspended("card T00000001 is already pre-reported lost")
    travelled = pickle.loads(pickle.dumps(error))
    assert isinstance(travelled, DomainError)
    assert travelled.reason == error.reason
    assert str(travelled) == "card T00000001 is already pre-reported lost"
    # What a debugger, a %r in a log line or an error tracker shows.
    assert repr(error) == "CardAlreadySuspended('card T00000001 is already pre-reported lost')"
