"""The card office's own work around the rules: retries when it loses a race, certificate
numbers, its clock, its configuration, reservations, and errors that travel."""

from __future__ import annotations

import pickle
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.application import (
    CardOffice,
    ConcurrentUpdateError,
    random_certificate_number,
    utc_now,
)
from domain.cardholder.errors import CardAlreadySuspended
from domain.errors import DomainError, InvalidInput
from domain.event import DomainEvent
from domain.references import card_number_stream_id, certificate_stream_id
from store.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC
from tests.support import (
    CALENDAR,
    HOLDER_ID_KEY,
    MASTER_KEY,
    PERSONAL_DATA_TOPIC,
    Clock,
    authorize,
    card_number,
    head,
    issue,
    memory_office,
    pre_report,
    pre_report_online,
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


def test_a_race_lost_to_the_same_command_ends_already_recorded_with_the_winners_event():
    """Decided again on the new state, the same pre-report is refused by the rules; the office
    then sees it is a plain repeat of the fact just recorded and answers with that event."""
    clock = MeddlingClock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))
    won: list[DomainEvent] = []

    def the_same_pre_report_elsewhere() -> Iterator[None]:
        won.append(office.pre_report_loss(pre_report(holder)))
        yield

    clock.meddle = the_same_pre_report_elsewhere()
    outcome = office.execute(pre_report(holder))
    assert (outcome.status, outcome.event) == ("already_recorded", won[0])
    kinds = [type(e).__name__ for e in office.history(holder)]
    assert kinds == ["CardIssued", "LossPreReported"]


def test_a_race_lost_to_another_command_ends_in_its_refusal():
    clock = MeddlingClock()
    office = memory_office(clock)
    holder = resident_id()
    office.issue_card(issue(holder))

    heads: list[int] = []

    def the_holder_online_first() -> Iterator[None]:
        office.pre_report_loss(pre_report_online(holder))
        heads.append(head(office))
        yield

    clock.meddle = the_holder_online_first()
    with pytest.raises(CardAlreadySuspended):
        office.pre_report_loss(pre_report(holder))
    assert heads == [head(office)], "the refused command wrote nothing"


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


# An office in memory, with every setting but its holder id key.
_UNKEYED_ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "MAPPER_TOPIC": MAPPER_TOPIC,
    "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
    "CIPHER_TOPIC": PERSONAL_DATA_TOPIC,
    "MASTER_KEY": MASTER_KEY,
}


def test_the_office_needs_its_holder_id_key():
    env = dict(_UNKEYED_ENV)
    expected = (
        "CardOffice needs HOLDER_ID_KEY (the key that turns resident ID numbers into holder "
        "stream ids)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        CardOffice(env=env, calendar=CALENDAR)
    keyed = CardOffice(env=env | {"HOLDER_ID_KEY": HOLDER_ID_KEY}, calendar=CALENDAR)
    someone = resident_id()
    assert keyed.holder_id(someone) != CardOffice(
        env=env | {"HOLDER_ID_KEY": "another-key-0000000000000"}, calendar=CALENDAR
    ).holder_id(someone)


def test_an_office_whose_store_fails_while_it_is_made_closes_what_it_opened():
    # A database restart between the library opening its pool and making its tables left a
    # half-made office whose pool the garbage collector closed later, from a pool thread, with
    # a traceback in `sscard run`'s log ("cannot join current thread"; chaos seed 13).
    closed: list[bool] = []

    class Dropped(CardOffice):
        def construct_factory(self, env: Any) -> Any:
            factory = super().construct_factory(env)
            close = factory.close

            def recorded_close() -> None:
                closed.append(True)
                close()

            factory.close = recorded_close
            return factory

        def construct_recorder(self) -> Any:
            raise ConnectionError("terminating connection due to administrator command")

    env = _UNKEYED_ENV | {"HOLDER_ID_KEY": HOLDER_ID_KEY}
    with pytest.raises(ConnectionError) as raised:
        Dropped(env=env, calendar=CALENDAR)
    # Closed at once, while the caller still holds the error (whose frames keep the half-made
    # office alive), not whenever the collector gets to it.
    assert closed == [True], raised.value


def test_the_scheduler_lapses_at_the_instant_it_gives():
    """After downtime the scheduler catches up and says when it ran (``tick --at``): the office
    judges the deadline and dates the lapse by that instant, not by its own clock."""
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    reported = office.pre_report_loss(pre_report(holder))
    clock.advance(days=8)  # the office's clock is well past the deadline
    version = reported.originator_version
    just_before = reported.lapses_at - timedelta(microseconds=1)
    assert office.lapse_pre_report(reported.originator_id, version, just_before) is None
    late = reported.lapses_at + timedelta(hours=1)
    lapsed = office.lapse_pre_report(reported.originator_id, version, late)
    assert lapsed is not None
    assert lapsed.occurred_at == late
    assert lapsed.deadline == reported.lapses_at


def test_an_instant_a_little_ahead_of_the_clock_is_allowed_for_skew_and_no_more():
    clock = Clock()
    office = memory_office(clock)
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    reported = office.pre_report_loss(pre_report(holder))
    clock.now = reported.lapses_at - timedelta(minutes=5)
    beyond = reported.lapses_at + timedelta(microseconds=1)
    with pytest.raises(InvalidInput, match="is in the future"):
        office.lapse_pre_report(reported.originator_id, reported.originator_version, beyond)
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, reported.lapses_at
    )
    assert lapsed is not None
    assert lapsed.occurred_at == reported.lapses_at


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


def test_an_issue_that_loses_the_race_to_the_same_issue_ends_already_recorded():
    """Both opened the holder's stream at once: the loser, decided again, finds the very card
    it would have issued and answers with the winner's event."""
    clock = MeddlingClock()
    office = memory_office(clock)
    command = issue(resident_id())
    holder = command.resident_id
    won: list[DomainEvent] = []

    def the_same_issue_elsewhere() -> Iterator[None]:
        won.append(office.issue_card(command))
        yield

    clock.meddle = the_same_issue_elsewhere()
    outcome = office.execute(command)
    assert (outcome.status, outcome.event) == ("already_recorded", won[0])
    assert [type(e).__name__ for e in office.history(holder)] == ["CardIssued"]
