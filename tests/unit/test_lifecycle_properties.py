"""Random command sequences, each one checked against a reference model (hypothesis state machine).

Holders in every region of ``regions.json``, of every age around the elderly threshold, receive
any command at any time: from the holder, a clerk, the wrong role, an agent authorized for one
step, for the other or not at all, with the region's documents or one short, at the right outlet
or the wrong one; the clock jumps or stops exactly at, just before and just after a deadline; the
scheduler ticks, and stale schedule entries are replayed.

Before every command the model (``lifecycle_model.py``, written apart from the rules) says what
the office must do. The office must accept exactly when the model does, refuse with the model's
code otherwise, write nothing when it refuses, record the facts the model predicts, and leave the
holder in the model's state. After every step: the invariants of DESIGN.md 2 hold, a replay of
each stream from scratch equals the office's cached state, and the lapse schedule (a view built
from the store) lists exactly the pre-reports the model says are due.

``make test`` runs a derandomized profile; ``make test-deep`` many more examples.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, note, settings, target
from hypothesis import event as tally
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from domain.application import CardOffice
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReportLossFormally,
)
from domain.cardholder.events import (
    CARDHOLDER_EVENTS,
    Applicant,
    CardKind,
    FeeWaiver,
    IdentityDocument,
    ProxyScope,
)
from domain.cardholder.state import Cardholder, CardStatus, project
from domain.errors import DomainError
from domain.event import Actor, Channel, DomainEvent, Role
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds
from projections.lapse_schedule import LapseSchedule
from tests.support import Clock, head, memory_office
from tests.unit import lifecycle_model as model
from tracking.projecting import catch_up, prepare
from tracking.source import StoreEventSource
from tracking.store import ViewStore

UNKNOWN_REGION = "990000"
OUTLET, PICKUP, ELSEWHERE = "BJ-DC-001", "BJ-HD-003", "BJ-XC-009"
NEVER_ISSUED = "110000-0000000001"
TICK = timedelta(microseconds=1)
# 09:00 in Beijing: a few hours later the UTC date and the Beijing date differ.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MAX_HOLDERS = 6
APPLY, COLLECT = model.APPLY, model.COLLECT

ACTORS = {
    "outlet_clerk": Actor.staff(Role.OUTLET_CLERK, "clerk-01"),
    "production_centre": Actor.staff(Role.PRODUCTION_CENTRE, "centre-01"),
    "auditor": Actor.staff(Role.AUDITOR, "audit-01"),
}

# Event types each example recorded, for the reach test and for `--hypothesis-show-statistics`.
REACHED: list[frozenset[str]] = []


def chance(data: st.DataObject, percent: int) -> bool:
    """True about ``percent`` times in a hundred: a weighted choice that shrinks well.

    Hypothesis draws small integers more often than others (and shrinks towards them), so the
    likely outcome is the one that small numbers give: at worst it comes a little more often
    than asked, and a failing example shrinks towards the ordinary path."""
    drawn = data.draw(st.integers(0, 99))
    return drawn < percent if percent >= 50 else drawn >= 100 - percent


def birth_date_around(today: date, age: int, days: int) -> date:
    """Born so that the ``age``-th birthday falls ``days`` after ``today`` (negative: before)."""
    try:
        birthday = today.replace(year=today.year - age)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - age, day=28)
    return birthday + timedelta(days=days)


class CardLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(START)
        certificates = itertools.count(1)
        self.office: CardOffice = memory_office(
            self.clock, certificate_numbers=lambda region: f"{region}-{next(certificates):010d}"
        )
        self.model = model.LifecycleModel()
        self.people = itertools.count(1)
        self.cards = itertools.count(1)
        self.holders: list[str] = []
        self.agents = [self.new_person("110105", date(1975, 6, 1)) for _ in range(3)]
        self.pre_reports: list[tuple[str, int]] = []  # every (holder, version) ever recorded
        self.certificates: list[str] = []
        self.recorded: Counter[str] = Counter()
        self._dir = tempfile.TemporaryDirectory()
        self.views = ViewStore.sqlite(Path(self._dir.name) / "views.sqlite")
        self.schedule = LapseSchedule()
        prepare(self.views, self.schedule)

    def teardown(self) -> None:
        kinds = frozenset(self.recorded)
        REACHED.append(kinds)
        target(float(len(kinds)), label="event types recorded")
        for kind in ("CardCollected", "CardActivated"):
            tally(f"reached {kind}: {kind in kinds}")
        self.views.close()
        self._dir.cleanup()

    # ---- helpers --------------------------------------------------------------------------

    def new_person(self, district: str, born: date) -> str:
        return compose_resident_id(district, born, next(self.people))

    def new_card(self) -> str:
        return f"T{next(self.cards):08d}"

    def state(self, rid: str) -> Cardholder:
        return self.office.holder(rid)

    def known(self, rid: str) -> model.Holder:
        return self.model.holders[rid]

    def pick(self, data: st.DataObject, fits: Any) -> str:
        """Mostly a holder at the stage the command needs (to get far), sometimes anyone."""
        fitting = [h for h in self.holders if fits(self.known(h))]
        if fitting and chance(data, 85):
            return data.draw(st.sampled_from(fitting))
        return data.draw(st.sampled_from(self.holders))

    def role(self, data: st.DataObject, right: str) -> str:
        return "auditor" if chance(data, 4) else right

    def agent_for(self, data: st.DataObject, rid: str, scope: str) -> str:
        """Mostly an agent the holder entrusted with this step; else one entrusted with the
        other step only, or a different person altogether."""
        entrusted = [a for a in self.agents if self.known(rid).agent_may(a, scope)]
        if entrusted and chance(data, 80):
            return data.draw(st.sampled_from(entrusted))
        return data.draw(st.sampled_from(self.agents))

    def run(self, command: model.Command, call: Any) -> DomainEvent | None:
        """Ask the model, run the command on the office, and hold the office to the model."""
        expected = self.model.expect(command)
        facts = self.model.event_facts(command) if expected.accepted else {}
        before = head(self.office)
        try:
            event = call()
        except DomainError as refusal:
            assert expected.code == refusal.code, (  # noqa: PT017 (the refusal is the result)
                f"{command}: the office refused with {refusal.code} ({refusal}); "
                f"the model would {expected}"
            )
            assert head(self.office) == before, "a refused command wrote to the store"
            tally(f"{command.name}: refused {refusal.code}")
            note(f"{command} -> refused {refusal.code}")
            return None
        if event is None:
            assert expected.code == model.NOTHING, (
                f"{command}: the office recorded nothing; the model would {expected}"
            )
            assert head(self.office) == before, "the office said 'nothing' but wrote"
            tally(f"{command.name}: nothing to do")
            note(f"{command} -> nothing to do")
            return None
        assert expected.accepted, (
            f"{command}: the office recorded {type(event).__name__}; the model would {expected}"
        )
        for name, value in facts.items():
            assert _plain(getattr(event, name)) == _plain(value), (
                f"{type(event).__name__}.{name} is {getattr(event, name)!r}, "
                f"the model says {value!r}"
            )
        assigned = {"certificate": event.certificate_number} if command.name == "report" else {}
        after = self.model.accept(command, **assigned)
        self.recorded[type(event).__name__] += 1
        tally(f"{command.name}: recorded {type(event).__name__}")
        note(f"{command} -> {type(event).__name__}")
        self.same_holder(after)
        return event

    def same_holder(self, expected: model.Holder) -> None:
        actual = _seen(self.state(expected.resident_id))
        assert actual == _modelled(expected), (
            f"the office's holder differs from the model's:\n office {actual}\n model  "
            f"{_modelled(expected)}"
        )

    # ---- commands ---------------------------------------------------------------------------

    # One rule draws what happens next. Hypothesis turns rules off at random for a whole example
    # (swarm testing): with a rule per command, half the examples lacked one of the steps a
    # replacement needs and never got to a collection. Hypothesis also draws the first entry of
    # a list most often, so the menu starts with the holder's next step.
    MENU = (
        ("the next step", 12),
        ("pre_report", 3),
        ("cancel", 2),
        ("authorize", 4),
        ("report", 3),
        ("produce", 3),
        ("collect", 3),
        ("activate", 2),
        ("register", 2),
        ("the_deadline_comes", 2),
        ("a_stale_schedule_entry", 1),
        ("time_passes_and_the_scheduler_ticks", 3),
    )

    @rule(data=st.data())
    def something_happens(self, data: st.DataObject) -> None:
        what = data.draw(
            st.sampled_from([name for name, weight in self.MENU for _ in range(weight)])
        )
        if what == "register" and len(self.holders) >= MAX_HOLDERS:
            what = "the next step"
        if what == "the_deadline_comes" and not self.with_pre_report():
            what = "time_passes_and_the_scheduler_ticks"
        if what == "a_stale_schedule_entry" and not self.pre_reports:
            what = "time_passes_and_the_scheduler_ticks"
        if what == "the next step":
            self.a_holder_takes_the_next_step(data)
        else:
            getattr(self, what)(data)

    def with_pre_report(self) -> list[str]:
        return [h for h in self.holders if self.known(h).pre_report is not None]

    def a_holder_takes_the_next_step(self, data: st.DataObject) -> None:
        """The command the holder's stage calls for, mostly for the holder furthest along (so
        one replacement completes), with the same circumstances as the command's own step."""
        rid = data.draw(st.sampled_from(self.holders))
        if chance(data, 70):
            rid = max(self.holders, key=lambda h: _stage(self.known(h)))
        holder = self.known(rid)
        if holder.case is None and holder.status == model.NORMAL and chance(data, 60):
            self.pre_report(data, rid)
        elif holder.pre_report is not None and chance(data, 40):
            # The card turns up, or nobody comes back before the deadline.
            if chance(data, 50):
                self.cancel(data, rid)
            else:
                self.the_deadline_comes(data, rid)
        elif holder.case is None:
            self.report(data, rid)
        elif holder.case.new_card is None:
            self.produce(data, rid)
        elif not holder.case.collected:
            self.collect(data, rid)
        else:
            self.activate(data, rid)

    @initialize(region=st.sampled_from(sorted(model.packaged_regions())))
    def a_first_holder(self, region: str) -> None:
        self.register_in(region, ic=False, born=date(1980, 5, 17), card=self.new_card())

    def register(self, data: st.DataObject) -> None:
        regions = sorted(self.model.regions)
        region = UNKNOWN_REGION if chance(data, 3) else data.draw(st.sampled_from(regions))
        threshold = self.model.regions.get(region, self.model.regions["110000"]).elderly_from_age
        # Both sides of the elderly threshold, the birthday just passed, today or still to come.
        age, days = data.draw(
            st.sampled_from(
                [
                    (35, 40),
                    (threshold, -1),
                    (threshold, 0),
                    (threshold, 1),
                    (threshold, 120),
                    (threshold + 12, -30),
                ]
            )
        )
        born = birth_date_around(model.business_date(self.clock.now), age, days)
        card = self.new_card()
        if self.holders and chance(data, 4):
            card = self.known(data.draw(st.sampled_from(self.holders))).card
        if self.holders and chance(data, 3):
            rid = data.draw(st.sampled_from(self.holders))
            command = model.Issue(
                rid, self.known(rid).born, region, card, "social_security_card", self.clock.now
            )
            self.issue(command)
            return
        self.register_in(region, ic=chance(data, 30), born=born, card=card)

    def register_in(self, region: str, ic: bool, born: date, card: str) -> None:
        rid = self.new_person(region, born)
        kind = model.MEDICAL_INSURANCE_IC if ic else model.SOCIAL_SECURITY_CARD
        command = model.Issue(rid, born, region, card, kind, self.clock.now)
        if self.issue(command) is not None:
            self.holders.append(rid)

    def issue(self, c: model.Issue) -> DomainEvent | None:
        return self.run(
            c,
            lambda: self.office.issue_card(
                IssueCard(
                    resident_id=c.resident_id,
                    actor=ACTORS[c.role],
                    outlet=OUTLET,
                    holder_name="张三",
                    region_code=c.region_code,
                    card_number=c.card,
                    card_kind=CardKind(c.card_kind),
                    issued_on=date(2020, 1, 1),
                )
            ),
        )

    def pre_report(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(data, lambda h: h.status == model.NORMAL and h.case is None)
        how = data.draw(st.integers(0, 99))
        if how < 60:
            role, channel, actor_channel = self.role(data, "outlet_clerk"), "outlet", None
        elif how < 80:
            role, channel, actor_channel = "cardholder", "online", "online"
        elif how < 92:
            role, channel, actor_channel = "cardholder", "hotline_12333", "hotline_12333"
        elif how < 96:
            role, channel, actor_channel = "cardholder", "online", "hotline_12333"
        else:
            role, channel, actor_channel = "outlet_clerk", "online", None
        if role == "cardholder":
            actor = Actor(role=Role.CARDHOLDER, channel=Channel(actor_channel))
        else:
            actor = ACTORS[role]
        at_outlet = channel == "outlet"
        command = PreReportLoss(
            resident_id=rid,
            actor=actor,
            channel=Channel(channel),
            outlet=OUTLET if at_outlet else None,
            identity_document=IdentityDocument.RESIDENT_ID_CARD
            if at_outlet
            else IdentityDocument.ONLINE_IDENTITY,
        )
        c = model.PreReport(rid, channel, self.clock.now, role, actor_channel)
        event = self.run(c, lambda: self.office.pre_report_loss(command))
        if event is not None:
            self.pre_reports.append((rid, event.originator_version))

    def cancel(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(data, lambda h: h.pre_report is not None)
        role = self.role(data, "outlet_clerk")
        self.run(
            model.Cancel(rid, self.clock.now, role),
            lambda: self.office.cancel_pre_report(
                CancelPreReport(resident_id=rid, actor=ACTORS[role], outlet=OUTLET)
            ),
        )

    def authorize(self, data: st.DataObject) -> None:
        scope = data.draw(st.sampled_from([(APPLY, COLLECT), (APPLY,), (COLLECT,)]))
        rid = self.pick(data, lambda h: h.case is None or not h.case.collected)
        agent = rid if chance(data, 3) else data.draw(st.sampled_from(self.agents))
        grounds = data.draw(st.sampled_from(model.GROUNDS))
        region = self.known(rid).region
        documents = region.proxy_documents(grounds)
        variant = data.draw(st.integers(0, 99))
        if variant >= 90:  # one short
            documents -= {data.draw(st.sampled_from(sorted(documents)))}
        elif variant >= 80:  # what another region asks for
            other = self.model.regions[data.draw(st.sampled_from(sorted(self.model.regions)))]
            documents = other.proxy_documents(data.draw(st.sampled_from(model.GROUNDS)))
        role = self.role(data, "outlet_clerk")
        c = model.Authorize(rid, agent, frozenset(scope), grounds, documents, self.clock.now, role)
        self.run(
            c,
            lambda: self.office.authorize_proxy(
                AuthorizeProxy(
                    resident_id=rid,
                    actor=ACTORS[role],
                    outlet=OUTLET,
                    agent_resident_id=agent,
                    agent_name="李四",
                    scope=frozenset(ProxyScope(s) for s in scope),
                    grounds=ProxyGrounds(grounds),
                    documents=frozenset(ProxyDocument(d) for d in documents),
                )
            ),
        )

    def report(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(data, lambda h: h.case is None)
        holder = self.known(rid)
        by_agent = chance(data, 40)
        agent = self.agent_for(data, rid, model.APPLY) if by_agent else None
        applicant = model.AGENT if by_agent else model.HOLDER
        if chance(data, 3):  # the clerk fills in the agent's part wrongly
            agent = None if by_agent else self.agents[0]
        documents = model.HOLDER_ID | (model.AGENT_ID if by_agent else frozenset())
        if chance(data, 12):
            documents -= {data.draw(st.sampled_from(sorted(documents)))}
        photo = (
            chance(data, 85) if holder.card_kind == model.MEDICAL_INSURANCE_IC else chance(data, 20)
        )
        outlets = [PICKUP, *sorted(holder.region.instant_outlets)]
        outlet = data.draw(st.sampled_from(outlets))
        waived = chance(data, 15)
        role = self.role(data, "outlet_clerk")
        c = model.Report(
            rid, applicant, agent, documents, photo, outlet, waived, self.clock.now, role
        )
        event = self.run(
            c,
            lambda: self.office.report_loss_formally(
                ReportLossFormally(
                    resident_id=rid,
                    actor=ACTORS[role],
                    outlet=OUTLET,
                    applicant=Applicant(applicant),
                    agent_resident_id=agent,
                    identity_documents=frozenset(ProxyDocument(d) for d in documents),
                    collection_outlet=outlet,
                    fee_waiver=FeeWaiver.WARRANTY_DEFECT if waived else None,
                    photo_provided=photo,
                )
            ),
        )
        if event is not None:
            self.certificates.append(event.certificate_number)
            due = event.production_due_on
            today = model.business_date(self.clock.now)
            if outlet in holder.region.instant_outlets:
                assert due == today, f"an instant-issue outlet produces today, not {due}"
            else:
                # N working days take at least N calendar days, and not many times more.
                days = holder.region.production_working_days
                assert today + timedelta(days=days) <= due <= today + timedelta(days=2 * days + 14)

    def produce(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(data, lambda h: h.case is not None and h.case.new_card is None)
        holder = self.known(rid)
        which = data.draw(st.integers(0, 99))
        if holder.case is not None and which < 85:
            certificate = holder.case.certificate
        elif self.certificates and which < 95:  # an earlier application's, or someone else's
            certificate = data.draw(st.sampled_from(self.certificates))
        else:
            certificate = NEVER_ISSUED
        number = self.new_card()
        owner = self.model.holder_for(model.Produce(certificate, number, self.clock.now))
        variant = data.draw(st.integers(0, 99))
        if owner is not None and owner.case is not None and owner.case.new_card and variant < 50:
            number = owner.case.new_card  # the production centre retries
        elif variant >= 92:  # a number already used: the holder's own, or another holder's
            number = self.known(data.draw(st.sampled_from(self.holders))).card
        role = "auditor" if chance(data, 3) else "production_centre"
        c = model.Produce(certificate, number, self.clock.now, role)
        self.run(
            c,
            lambda: self.office.record_production(
                RecordProduction(
                    actor=ACTORS[role], certificate_number=certificate, new_card_number=number
                )
            ),
        )

    def collect(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(
            data, lambda h: h.case is not None and h.case.new_card and not h.case.collected
        )
        holder = self.known(rid)
        which = data.draw(st.integers(0, 99))
        if holder.case is not None and which < 90:
            certificate = holder.case.certificate
        elif self.certificates and which < 95:
            certificate = data.draw(st.sampled_from(self.certificates))
        else:
            certificate = NEVER_ISSUED
        outlet = holder.case.collection_outlet if holder.case else PICKUP
        if chance(data, 10):
            outlet = ELSEWHERE
        by_agent = chance(data, 40)
        agent = self.agent_for(data, rid, model.COLLECT) if by_agent else None
        collector = model.AGENT if by_agent else model.HOLDER
        if chance(data, 3):
            agent = None if by_agent else self.agents[0]
        shown = data.draw(
            st.sampled_from(
                ["resident_id_card"] * 6 + ["household_register"] * 3 + ["online_identity"]
            )
        )
        role = self.role(data, "outlet_clerk")
        c = model.Collect(rid, certificate, outlet, collector, agent, shown, self.clock.now, role)
        self.run(
            c,
            lambda: self.office.record_collection(
                RecordCollection(
                    resident_id=rid,
                    actor=ACTORS[role],
                    outlet=outlet,
                    certificate_number=certificate,
                    collected_by=Applicant(collector),
                    agent_resident_id=agent,
                    identity_document=IdentityDocument(shown),
                )
            ),
        )

    def activate(self, data: st.DataObject, rid: str | None = None) -> None:
        rid = rid or self.pick(data, lambda h: h.status == model.SEALED)
        holder = self.known(rid)
        number = holder.card
        if chance(data, 8):
            number = data.draw(st.sampled_from([*holder.retired, self.new_card()]))
        role = self.role(data, "outlet_clerk")
        self.run(
            model.Activate(rid, number, self.clock.now, role),
            lambda: self.office.activate_card(
                ActivateCard(resident_id=rid, actor=ACTORS[role], outlet=PICKUP, card_number=number)
            ),
        )

    # ---- time ------------------------------------------------------------------------------

    def lapse(self, rid: str, version: int) -> None:
        now = self.clock.now
        self.run(
            model.Lapse(rid, version, now),
            lambda: self.office.lapse_pre_report(self.office.holder_id(rid), version, now),
        )

    def the_deadline_comes(self, data: st.DataObject, rid: str | None = None) -> None:
        """The clock stops exactly at, just after or just before a pre-report's deadline, and
        the scheduler asks for its lapse then."""
        offset = data.draw(st.sampled_from([timedelta(0), TICK, -TICK]))
        rid = rid or data.draw(st.sampled_from(self.with_pre_report()))
        pre_report = self.known(rid).pre_report
        assert pre_report is not None
        moment = pre_report.lapses_at + offset
        if moment >= self.clock.now:
            self.clock.now = moment
            tally(f"lapse asked at deadline {offset / TICK:+.0f} µs")
        else:
            tally("lapse asked long after the deadline")
        self.lapse(rid, pre_report.version)

    def a_stale_schedule_entry(self, data: st.DataObject) -> None:
        """An entry the schedule listed before its pre-report was cancelled, made formal or
        lapsed (or the current one, after it lapsed) comes round again."""
        rid, version = data.draw(st.sampled_from(self.pre_reports))
        self.lapse(rid, version)

    def time_passes_and_the_scheduler_ticks(self, data: st.DataObject) -> None:
        """Minutes, hours (past midnight in Beijing, not yet in UTC) or days go by, and the
        scheduler lapses what its schedule lists as due."""
        step = data.draw(
            st.sampled_from(
                [
                    timedelta(hours=7),
                    timedelta(minutes=1),
                    timedelta(hours=16),
                    timedelta(days=1),
                    timedelta(days=4),
                    timedelta(days=8),
                    timedelta(days=16),
                ]
            )
        )
        now = self.clock.advance(seconds=step.total_seconds())
        catch_up(StoreEventSource(self.office), self.views, self.schedule)
        with self.views.transaction() as tx:
            due = LapseSchedule.due(tx, now, limit=10_000)
        holder_of = {self.office.holder_id(rid): rid for rid in self.holders}
        listed = {(holder_of[d.holder_id], d.pre_report_version) for d in due}
        assert listed == self.model.due(now), "the lapse schedule lists other pre-reports"
        for rid, version in sorted(listed):
            self.lapse(rid, version)
        for rid, version in sorted(listed):  # a second tick finds nothing more to do
            self.lapse(rid, version)

    # ---- invariants --------------------------------------------------------------------------

    @invariant()
    def every_holder_is_as_the_model_says_and_in_a_state_the_rules_allow(self) -> None:
        seen_numbers: set[str] = set()
        for rid in self.holders:
            state = self.state(rid)
            self.same_holder(self.known(rid))
            card = state.card
            # Settlement runs exactly when the holder's one current card is normal.
            assert state.settlement_suspended == (card.status is not CardStatus.NORMAL)
            if state.pre_report is not None:
                assert card.status is CardStatus.TEMPORARILY_LOST
                assert state.case is None
            if state.case is not None:
                assert card.status in (CardStatus.FORMALLY_LOST, CardStatus.SEALED)
            if card.status is CardStatus.SEALED:
                assert state.case is not None
            assert all(c.status is not CardStatus.NORMAL for c in state.retired_cards)
            numbers = state.known_card_numbers()
            assert not numbers & seen_numbers, "a card number belongs to two holders"
            seen_numbers |= numbers
            # The office answers from its cache; a replay from the first event must agree.
            assert project(None, self.office.history(rid)) == state

    @invariant()
    def the_lapse_schedule_lists_exactly_the_open_pre_reports(self) -> None:
        catch_up(StoreEventSource(self.office), self.views, self.schedule)
        with self.views.transaction() as tx:
            scheduled = {
                (d.holder_id, d.pre_report_version)
                for d in LapseSchedule.due(tx, self.clock.now.replace(year=2999), limit=10_000)
            }
        open_pre_reports = {
            (self.office.holder_id(h.resident_id), h.pre_report.version)
            for h in self.model.holders.values()
            if h.pre_report is not None
        }
        assert scheduled == open_pre_reports


def _stage(h: model.Holder) -> int:
    """How far the holder's replacement has gone."""
    if h.case is None:
        return 0 if h.pre_report is None else 1
    return 2 + (h.case.new_card is not None) + h.case.collected


def _plain(value: Any) -> Any:
    """Enum members and sets of them compared by value."""
    if isinstance(value, frozenset | set):
        return frozenset(_plain(v) for v in value)
    return getattr(value, "value", value)


def _seen(state: Cardholder) -> dict[str, Any]:
    """The office's holder, in the model's terms."""
    pre = state.pre_report
    case = state.case
    return {
        "version": state.version,
        "card": (state.card.number, state.card.kind.value, state.card.status.value),
        "settlement_suspended": state.settlement_suspended,
        "pre_report": None
        if pre is None
        else (pre.version, pre.lapses_at, pre.lapse_outcome.value == "cancel"),
        "proxies": [(p.agent_resident_id, _plain(p.scope)) for p in state.proxies],
        "case": None
        if case is None
        else (
            case.certificate_number,
            case.collection_outlet,
            case.new_card_number,
            case.collected_at is not None,
        ),
        "retired": [c.number for c in state.retired_cards],
        "completed_cases": state.completed_cases,
    }


def _modelled(h: model.Holder) -> dict[str, Any]:
    pre = h.pre_report
    case = h.case
    return {
        "version": h.version,
        "card": (h.card, h.card_kind, h.status),
        "settlement_suspended": h.suspended,
        "pre_report": None if pre is None else (pre.version, pre.lapses_at, pre.cancels),
        "proxies": [(agent, scope) for agent, scope in h.proxies],
        "case": None
        if case is None
        else (case.certificate, case.collection_outlet, case.new_card, case.collected),
        "retired": list(h.retired),
        "completed_cases": h.completed_cases,
    }


def test_random_histories_follow_the_model_and_reach_collection_and_activation(capsys):
    """The state machine under the active profile, then its reach: a run that rarely gets to a
    collection proves little about collections."""
    REACHED.clear()
    # Examples, steps and derandomization come from the active profile (tests/conftest.py).
    run_state_machine_as_test(
        CardLifecycle,
        settings=settings(deadline=None, suppress_health_check=[HealthCheck.too_slow]),
    )
    examples = len(REACHED)
    share = {
        kind.__name__: sum(kind.__name__ in kinds for kinds in REACHED) / examples
        for kind in CARDHOLDER_EVENTS
    }
    with capsys.disabled():
        print(f"\nstate machine: {examples} examples; share of examples that recorded each event:")
        for name, fraction in share.items():
            print(f"  {name:<24} {fraction:6.1%}")
    assert share["CardCollected"] > 0.5, share
    assert share["CardActivated"] > 0.5, share
    assert all(fraction > 0.2 for fraction in share.values()), share
