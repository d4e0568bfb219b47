"""The card office on real stores: every test here runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from domain.cardholder.errors import CardAlreadySuspended, CardNumberInUse, ReplacementCaseOpen
from domain.cardholder.state import CardStatus, project
from domain.errors import DomainError
from projections.lapse_schedule import LapseSchedule
from service.bootstrap import BackOffice, open_back_office
from service.lapses import LapseScheduler
from service.settings import Settings
from tests.support import (
    Clock,
    activate,
    cancel,
    card_number,
    collect,
    issue,
    pre_report,
    produce,
    report,
    resident_id,
)
from tracking.envelopes import catch_up, prepare, reset


def head(backoffice: BackOffice) -> int:
    return backoffice.source.head()


def test_a_replacement_survives_a_restart_of_the_back_office(settings: Settings, clock: Clock):
    holder = resident_id()
    new_card = card_number()
    with open_back_office(settings, clock=clock) as first:
        first.office.issue_card(issue(holder))
        first.office.pre_report_loss(pre_report(holder))
        application = first.office.report_loss_formally(report(holder))
    with open_back_office(settings, clock=clock) as second:  # a new process: nothing cached
        second.office.record_production(produce(application.certificate_number, new_card))
        second.office.record_collection(collect(holder, application.certificate_number))
        second.office.activate_card(activate(holder, new_card))
        history = second.office.history(holder)
        state = second.office.holder(holder)
    assert len(history) == 6
    assert state.card.number == new_card
    assert state.card.status is CardStatus.NORMAL
    assert project(None, history) == state


@pytest.mark.parametrize(
    ("setup", "attempt", "error"),
    [
        # A second, different command (an identical repeat is "already recorded", not refused).
        (
            lambda o, h: o.pre_report_loss(pre_report(h)),
            lambda o, h: o.pre_report_loss(pre_report(h, outlet="BJ-XC-009")),
            CardAlreadySuspended,
        ),
        (
            lambda o, h: o.report_loss_formally(report(h)),
            lambda o, h: o.report_loss_formally(report(h, collection_outlet="BJ-XC-009")),
            ReplacementCaseOpen,
        ),
    ],
)
def test_a_refused_command_leaves_the_store_unchanged(
    backoffice: BackOffice,
    setup: Callable[[Any, str], Any],
    attempt: Callable[[Any, str], Any],
    error: type[DomainError],
):
    holder = resident_id()
    backoffice.office.issue_card(issue(holder))
    setup(backoffice.office, holder)
    before = head(backoffice)
    with pytest.raises(error):
        attempt(backoffice.office, holder)
    assert head(backoffice) == before


_UNFINISHED = object()


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment on separate threads; collect results or domain errors.

    Any other error (a database error, a bug) fails the test with its traceback, and so does a
    call that never returns: neither is a result to be counted."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [_UNFINISHED] * len(calls)
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc
        except BaseException as exc:
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if crashes:
        raise crashes[0]
    assert _UNFINISHED not in results, "a racing call never finished"
    return results


def test_two_outlets_pre_reporting_the_same_card_at_once_record_it_once(
    settings: Settings, clock: Clock
):
    holder = resident_id()
    with open_back_office(settings, clock=clock) as a, open_back_office(settings, clock=clock) as b:
        a.office.issue_card(issue(holder))
        b.office.holder(holder)  # warm b's cache: its copy goes stale when a writes
        for _ in range(3):
            results = _race(
                [
                    lambda: a.office.pre_report_loss(pre_report(holder)),
                    lambda: b.office.pre_report_loss(pre_report(holder, outlet="BJ-XC-009")),
                ]
            )
            assert sum(isinstance(r, CardAlreadySuspended) for r in results) == 1, results
            assert sum(not isinstance(r, DomainError) for r in results) == 1, results
            a.office.cancel_pre_report(cancel(holder))
        history = a.office.history(holder)
    assert [type(e).__name__ for e in history].count("LossPreReported") == 3


def test_two_holders_claiming_one_new_card_number_at_once_leave_one_owner(
    settings: Settings, clock: Clock
):
    number = card_number()
    holders = [resident_id(), resident_id()]
    with open_back_office(settings, clock=clock) as a, open_back_office(settings, clock=clock) as b:
        certificates = []
        for holder in holders:
            a.office.issue_card(issue(holder))
            certificates.append(a.office.report_loss_formally(report(holder)).certificate_number)
        results = _race(
            [
                lambda: a.office.record_production(produce(certificates[0], number)),
                lambda: b.office.record_production(produce(certificates[1], number)),
            ]
        )
        assert sum(isinstance(r, CardNumberInUse) for r in results) == 1, results
        owner = a.office.holder_of_card(number)
        assert owner in {a.office.holder_id(h) for h in holders}
        produced = [a.office.holder(h).case for h in holders]
        assert sum(case is not None and case.new_card_number == number for case in produced) == 1


def test_due_pre_reports_lapse_exactly_once_even_after_downtime(
    backoffice: BackOffice, clock: Clock
):
    shanghai = [resident_id(region="310104") for _ in range(3)]
    for holder in shanghai:
        backoffice.office.issue_card(issue(holder, region="310000"))
        backoffice.office.pre_report_loss(pre_report(holder))
    backoffice.office.cancel_pre_report(cancel(shanghai[2]))
    scheduler = LapseScheduler(backoffice)
    assert scheduler.tick(clock.now).lapsed == []

    months_later = clock.advance(days=60)  # the scheduler was down at every deadline
    report_1 = scheduler.tick(months_later)
    assert sorted(e.originator_id for e in report_1.lapsed) == sorted(
        backoffice.office.holder_id(h) for h in shanghai[:2]
    )
    before = head(backoffice)
    assert scheduler.tick(months_later).lapsed == []
    assert head(backoffice) == before
    assert scheduler.pending() == 0


def test_two_schedulers_racing_raise_one_lapse_per_pre_report(settings: Settings, clock: Clock):
    holders = [resident_id(region="310104") for _ in range(5)]
    with open_back_office(settings, clock=clock) as a, open_back_office(settings, clock=clock) as b:
        for holder in holders:
            a.office.issue_card(issue(holder, region="310000"))
            a.office.pre_report_loss(pre_report(holder))
        late = clock.advance(days=6)
        schedulers = [LapseScheduler(a), LapseScheduler(b)]
        reports = _race([lambda: schedulers[0].tick(late), lambda: schedulers[1].tick(late)])
        lapsed = [e for r in reports for e in r.lapsed]
        assert len(lapsed) == len(holders)
        for holder in holders:
            kinds = [type(e).__name__ for e in a.office.history(holder)]
            assert kinds.count("LossPreReportLapsed") == 1


def test_the_lapse_schedule_rebuilt_from_position_zero_equals_the_live_one(
    backoffice: BackOffice, clock: Clock
):
    holders = [resident_id() for _ in range(6)]
    scheduler = LapseScheduler(backoffice)
    for i, holder in enumerate(holders):
        backoffice.office.issue_card(issue(holder))
        backoffice.office.pre_report_loss(pre_report(holder))
        if i % 3 == 1:
            backoffice.office.cancel_pre_report(cancel(holder))
        if i % 3 == 2:
            backoffice.office.report_loss_formally(report(holder))
        scheduler.catch_up()  # live: a little at a time
    with backoffice.views.transaction() as tx:
        live = LapseSchedule.due(tx, clock.advance(days=365))
    schedule = LapseSchedule()
    reset(backoffice.views, schedule)
    prepare(backoffice.views, schedule)
    catch_up(backoffice.source, backoffice.views, schedule, batch_size=4)
    with backoffice.views.transaction() as tx:
        rebuilt = LapseSchedule.due(tx, clock.now)
    assert rebuilt == live
    assert {d.holder_id for d in live} == {backoffice.office.holder_id(holders[i]) for i in (0, 3)}
