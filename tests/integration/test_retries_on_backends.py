"""Retries on real stores (SQLite and PostgreSQL): two processes sending the same request id at
once record one event; a record written before a restart still answers after it; an event stored
with the old due-date basis still loads."""

from __future__ import annotations

from typing import Any

from domain.cardholder.events import LossFormallyReported
from service.bootstrap import open_back_office
from service.settings import Settings
from tests.integration.test_office_on_backends import _race
from tests.support import Clock, issue, pre_report, report, resident_id


def test_two_offices_racing_one_request_id_record_one_event(settings: Settings, clock: Clock):
    holder = resident_id()
    command = pre_report(holder).model_copy(update={"request_id": "race-on-a-real-store"})
    with open_back_office(settings, clock=clock) as a, open_back_office(settings, clock=clock) as b:
        a.office.issue_card(issue(holder))
        b.office.holder(holder)  # b's cached copy goes stale when a writes
        before = a.source.head()
        results: list[Any] = _race(
            [lambda: a.office.execute(command), lambda: b.office.execute(command)]
        )
        assert {r.event.event_id for r in results} == {results[0].event.event_id}, results
        assert sorted(r.status for r in results) == ["recorded", "repeated"]
        assert a.source.head() == before + 2  # the event and its request record


def test_a_request_id_answers_after_a_restart(settings: Settings, clock: Clock):
    holder = resident_id()
    command = report(holder).model_copy(update={"request_id": "before-the-restart"})
    with open_back_office(settings, clock=clock) as first:
        first.office.issue_card(issue(holder))
        recorded = first.office.execute(command)
    with open_back_office(settings, clock=clock) as second:
        again = second.office.execute(command)
    assert (again.status, again.event) == ("repeated", recorded.event)


def test_an_event_stored_with_the_old_weekdays_only_basis_still_loads(
    settings: Settings, clock: Clock
):
    holder = resident_id()
    with open_back_office(settings, clock=clock) as wired:
        office = wired.office
        office.issue_card(issue(holder))
        application = office.report_loss_formally(report(holder))
        old = application.model_copy(update={"production_due_basis": "weekdays_only"})
        stored = office.mapper.to_stored_event(old)
        loaded = office.mapper.to_domain_event(stored)
    assert isinstance(loaded, LossFormallyReported)
    assert loaded.production_due_basis == "weekdays_only"
