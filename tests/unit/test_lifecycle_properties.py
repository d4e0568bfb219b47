"""Random command sequences never reach a state the rules forbid (hypothesis state machine).

Several holders in two regions receive any command at any time, from the holder or from agents
(authorized or not). After every step: a refused command wrote nothing, every invariant of
DESIGN.md 2 holds for every holder, a fresh replay of each stream equals the state the office
used, and the lapse schedule (a view built from the store) equals the open pre-reports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import event as event_note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.cardholder.events import CardKind, ProxyScope
from domain.cardholder.state import Cardholder, CardStatus, project
from domain.errors import DomainError
from projections.lapse_schedule import LapseSchedule
from tests.support import (
    Clock,
    activate,
    authorize,
    cancel,
    card_number,
    collect,
    elderly_resident_id,
    head,
    issue,
    memory_office,
    pre_report,
    pre_report_online,
    produce,
    report,
    resident_id,
)
from tracking.projecting import catch_up, prepare
from tracking.source import StoreEventSource
from tracking.store import ViewStore

REGIONS = [("110105", "110000"), ("440203", "440200"), ("510104", "510100")]


class CardLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.office = memory_office(self.clock)
        self.holders: list[str] = []
        self.agents = [resident_id(), elderly_resident_id()]
        self._dir = tempfile.TemporaryDirectory()
        self.views = ViewStore.sqlite(Path(self._dir.name) / "views.sqlite")
        self.schedule = LapseSchedule()
        prepare(self.views, self.schedule)

    def teardown(self) -> None:
        self.views.close()
        self._dir.cleanup()

    def attempt(self, command) -> None:
        """Run a command; a refusal must write nothing."""
        before = head(self.office)
        try:
            event = command()
        except DomainError as refusal:
            event_note(f"refused: {type(refusal).__name__}")
            assert head(self.office) == before, "a refused command wrote to the store"
        else:
            event_note(f"recorded: {type(event).__name__}")

    def state(self, holder: str) -> Cardholder:
        return self.office.holder(holder)

    def pick(self, data: st.DataObject, stage) -> str:
        """Mostly a holder at the stage the command needs (to get far), sometimes anyone."""
        fitting = [h for h in self.holders if stage(self.state(h))]
        if fitting and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(fitting))
        return data.draw(st.sampled_from(self.holders))

    # ---- commands ---------------------------------------------------------------------

    @rule(region=st.sampled_from(REGIONS), ic=st.booleans())
    def register(self, region: tuple[str, str], ic: bool) -> None:
        holder = resident_id(region=region[0])
        kind = CardKind.MEDICAL_INSURANCE_IC if ic else CardKind.SOCIAL_SECURITY_CARD
        self.office.issue_card(issue(holder, region=region[1], kind=kind))
        self.holders.append(holder)

    @precondition(lambda self: self.holders)
    @rule(data=st.data(), online=st.booleans())
    def pre_report(self, data: st.DataObject, online: bool) -> None:
        holder = data.draw(st.sampled_from(self.holders))
        command = pre_report_online(holder) if online else pre_report(holder)
        self.attempt(lambda: self.office.pre_report_loss(command))

    @precondition(lambda self: self.holders)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        holder = data.draw(st.sampled_from(self.holders))
        self.attempt(lambda: self.office.cancel_pre_report(cancel(holder)))

    @precondition(lambda self: self.holders)
    @rule(data=st.data(), scope=st.sets(st.sampled_from(list(ProxyScope)), min_size=1))
    def authorize(self, data: st.DataObject, scope: set[ProxyScope]) -> None:
        holder = data.draw(st.sampled_from(self.holders))
        agent = data.draw(st.sampled_from(self.agents))
        self.attempt(lambda: self.office.authorize_proxy(authorize(holder, agent, scope=scope)))

    @precondition(lambda self: self.holders)
    @rule(data=st.data(), by_agent=st.booleans(), photo=st.booleans())
    def report(self, data: st.DataObject, by_agent: bool, photo: bool) -> None:
        holder = self.pick(data, lambda s: s.case is None)
        agent = data.draw(st.sampled_from(self.agents)) if by_agent else None
        self.attempt(
            lambda: self.office.report_loss_formally(report(holder, agent=agent, photo=photo))
        )

    @precondition(lambda self: self.holders)
    @rule(data=st.data(), reuse_number=st.integers(0, 4).map(lambda n: n == 0))
    def produce(self, data: st.DataObject, reuse_number: bool) -> None:
        holder = self.pick(data, lambda s: s.case is not None and s.case.new_card_number is None)
        case = self.state(holder).case
        certificate = case.certificate_number if case else "110000-0000000000"
        other = self.state(data.draw(st.sampled_from(self.holders))).card.number
        number = other if reuse_number else card_number()
        self.attempt(lambda: self.office.record_production(produce(certificate, number)))

    @precondition(lambda self: self.holders)
    @rule(data=st.data(), by_agent=st.booleans(), right_certificate=st.booleans())
    def collect(self, data: st.DataObject, by_agent: bool, right_certificate: bool) -> None:
        holder = self.pick(data, lambda s: s.case is not None and s.case.new_card_number)
        case = self.state(holder).case
        wrong = "110000-0000000001"
        certificate = case.certificate_number if case and right_certificate else wrong
        agent = data.draw(st.sampled_from(self.agents)) if by_agent else None
        self.attempt(lambda: self.office.record_collection(collect(holder, certificate, agent)))

    @precondition(lambda self: self.holders)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        holder = self.pick(data, lambda s: s.card.status is CardStatus.SEALED)
        number = self.state(holder).card.number
        self.attempt(lambda: self.office.activate_card(activate(holder, number)))

    @rule(days=st.integers(min_value=0, max_value=20))
    def time_passes_and_the_scheduler_ticks(self, days: int) -> None:
        now = self.clock.advance(days=days, minutes=1)
        catch_up(StoreEventSource(self.office), self.views, self.schedule)
        with self.views.transaction() as tx:
            due = LapseSchedule.due(tx, now)
        for item in due:
            self.office.lapse_pre_report(item.holder_id, item.pre_report_version, now)
        for item in due:  # a second tick finds nothing more to do
            assert (
                self.office.lapse_pre_report(item.holder_id, item.pre_report_version, now) is None
            )

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def every_holder_is_in_a_state_the_rules_allow(self) -> None:
        seen_numbers: set[str] = set()
        for holder in self.holders:
            state = self.state(holder)
            card = state.card
            # Settlement runs exactly when the holder's one current card is normal.
            assert state.settlement_suspended == (card.status is not CardStatus.NORMAL)
            if state.pre_report is not None:
                assert card.status is CardStatus.TEMPORARILY_LOST
                assert state.case is None
            if state.case is not None:
                assert card.status in (CardStatus.FORMALLY_LOST, CardStatus.SEALED)
                if state.case.collected_at is not None:
                    assert card.status is CardStatus.SEALED
                    assert card.number == state.case.new_card_number
            if card.status is CardStatus.SEALED:
                assert state.case is not None
            assert all(c.status is not CardStatus.NORMAL for c in state.retired_cards)
            numbers = state.known_card_numbers()
            assert not numbers & seen_numbers, "a card number belongs to two holders"
            seen_numbers |= numbers
            assert project(None, self.office.history(holder)) == state

    @invariant()
    def the_lapse_schedule_equals_the_open_pre_reports(self) -> None:
        catch_up(StoreEventSource(self.office), self.views, self.schedule)
        with self.views.transaction() as tx:
            scheduled = {
                (d.holder_id, d.pre_report_version)
                for d in LapseSchedule.due(tx, self.clock.now.replace(year=2999), limit=10_000)
            }
        open_pre_reports = {
            (state.id, state.pre_report.version)
            for state in map(self.state, self.holders)
            if state.pre_report is not None
        }
        assert scheduled == open_pre_reports


TestCardLifecycle = CardLifecycle.TestCase
TestCardLifecycle.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
