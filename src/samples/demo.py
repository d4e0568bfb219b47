"""``sscard demo``: one full replacement, one lapsed pre-report, and two reimbursement claims
(one reimbursed, one refused at filing and then rejected on review), told step by step.

It writes to the configured store (so a running ``sscard run`` publishes the events) with fresh
random holders each time, on a clock that walks from five weeks ago to now, so that the
histories look like real ones: production about 15 working days after the application.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from application.claims import ClaimsQuery, claim_steps, list_claims
from cli.claim_output import print_listing, recorded_lines
from cli.output import event_line
from domain.application import CardOffice
from domain.cardholder.events import IdentityDocument
from domain.claims.errors import TreatmentOutsideWindow
from domain.claims.events import RejectionReason
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyGrounds
from samples import claims, stories
from service.bootstrap import BackOffice, open_back_office
from service.lapses import LapseScheduler
from service.settings import Settings
from service.views import replay

BEIJING = ZoneInfo("Asia/Shanghai")


class WalkingClock:
    """A clock the demo moves forward by hand; never ahead of the real one."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = min(self.now + timedelta(**delta), datetime.now(UTC))

    def to(self, day: date, at: time) -> None:
        self.now = min(datetime.combine(day, at, tzinfo=UTC), datetime.now(UTC))


def _random_resident_id(rng: random.Random, region: str, born: date) -> str:
    return compose_resident_id(region, born, rng.randrange(1, 999))


def _random_card_number(rng: random.Random) -> str:
    return rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.digits, k=8))


def run_demo(settings: Settings, say: Callable[[str], None]) -> None:
    rng = random.Random()
    clock = WalkingClock(datetime.now(UTC) - timedelta(days=35))
    pickup = stories.PICKUP

    holder = _random_resident_id(rng, "110105", date(1948, 3, 14))
    agent = _random_resident_id(rng, "110108", date(1979, 11, 2))
    lapsing = _random_resident_id(rng, "310104", date(1990, 6, 30))

    with open_back_office(settings, clock=clock) as backoffice:
        office = backoffice.office
        say("== 1. A Beijing holder loses the card; a son applies and collects by proxy ==")
        issued_on = (clock.now - timedelta(days=900)).date()
        office.issue_card(
            stories.issue(
                holder, _random_card_number(rng), holder_name="王秀英", issued_on=issued_on
            )
        )
        clock.advance(hours=1)
        office.pre_report_loss(
            stories.pre_report(holder, identity_document=IdentityDocument.HOUSEHOLD_REGISTER)
        )
        clock.advance(days=1)
        office.authorize_proxy(
            stories.authorize(
                holder,
                agent,
                grounds=ProxyGrounds.ELDERLY,
                agent_name="李建国",
                relationship="son",
            )
        )
        clock.advance(minutes=10)
        application = office.report_loss_formally(
            stories.report(holder, agent=agent, collection_outlet=pickup)
        )
        clock.to(application.production_due_on, time(2, 30))
        new_card = _random_card_number(rng)
        office.record_production(
            stories.produce(application.certificate_number, new_card, batch_id="BJ-DEMO-BATCH")
        )
        clock.advance(hours=26)
        office.record_collection(
            stories.collect(holder, application.certificate_number, agent=agent, outlet=pickup)
        )
        clock.advance(minutes=5)
        office.activate_card(stories.activate(holder, new_card, outlet=pickup))
        for event in office.history(holder):
            say(event_line(event))

        say("")
        say("== 2. A Shanghai holder pre-reports online and never follows up: it lapses ==")
        clock.now = datetime.now(UTC) - timedelta(days=8)
        office.issue_card(
            stories.issue(
                lapsing,
                _random_card_number(rng),
                region="310000",
                outlet="SH-XUHUI-01",
                holder_name="陈思远",
                issued_on=(clock.now - timedelta(days=400)).date(),
            )
        )
        clock.advance(hours=2)
        office.pre_report_loss(stories.pre_report_online(lapsing))
        clock.now = datetime.now(UTC)  # the deadline has passed: the scheduler's tick finds it
        report = LapseScheduler(backoffice).tick()
        for event in office.history(lapsing):
            say(event_line(event))
        say("")
        say(
            f"scheduler tick: {report.due} due, {len(report.lapsed)} lapsed "
            "(each pre-report lapses exactly once; run `sscard tick` again: nothing more lapses)"
        )

        say("")
        _reimbursed(backoffice, clock, rng, say)
        say("")
        _refused_then_rejected(backoffice, clock, rng, say)

    say("")
    say("== 5. The claims view (sscard claims list), brought up to date from the store ==")
    replay(settings, "claims")
    with open_back_office(settings) as backoffice:
        print_listing(list_claims(backoffice.office, backoffice.views, ClaimsQuery()))


def _say_claim(office: CardOffice, claim_id: UUID, say: Callable[[str], None]) -> None:
    for step in claim_steps(office, claim_id):
        first, *computation = recorded_lines(step)
        say(first)
        for line in computation:
            say(f"      {line}")


def _reimbursed(
    backoffice: BackOffice, clock: WalkingClock, rng: random.Random, say: Callable[[str], None]
) -> None:
    """Falls ill while the card is being replaced, pays at a designated hospital, is repaid."""
    office = backoffice.office
    say("== 3. Ill during the replacement: paid at a designated hospital, reimbursed ==")
    holder = _random_resident_id(rng, "110105", date(1972, 8, 9))
    clock.now = datetime.now(UTC) - timedelta(days=30)
    office.issue_card(
        stories.issue(
            holder,
            _random_card_number(rng),
            holder_name="赵立新",
            issued_on=(clock.now - timedelta(days=700)).date(),
        )
    )
    clock.advance(hours=1)
    office.pre_report_loss(stories.pre_report(holder))
    clock.advance(days=1)
    application = office.report_loss_formally(stories.report(holder))
    clock.advance(days=2)
    treated_on = clock.now.astimezone(BEIJING).date()  # paid out of pocket that day
    clock.to(application.production_due_on, time(2, 30))
    new_card = _random_card_number(rng)
    office.record_production(stories.produce(application.certificate_number, new_card))
    clock.advance(hours=26)
    office.record_collection(stories.collect(holder, application.certificate_number))
    clock.advance(minutes=5)
    office.activate_card(stories.activate(holder, new_card))
    for event in office.history(holder):
        say(event_line(event))
    clock.advance(days=1)
    amounts = claims.bill(total=685_000, in_scope=620_000, self_paid=65_000)
    filed = office.submit_claim(claims.submit(holder, treated_on, amounts, _invoice(rng)))
    clock.advance(days=2)
    office.approve_claim(claims.approve(filed.originator_id))
    clock.advance(days=1)
    office.pay_claim(claims.pay(filed.originator_id, f"BANK-{rng.randrange(10**8):08d}"))
    _say_claim(office, filed.originator_id, say)


def _refused_then_rejected(
    backoffice: BackOffice, clock: WalkingClock, rng: random.Random, say: Callable[[str], None]
) -> None:
    """A treatment before the card was blocked is refused at filing (nothing is written); a bill
    inside the window whose itemised list does not match the invoice is rejected on review."""
    office = backoffice.office
    say("== 4. A claim outside every window is refused; one inside it is rejected on review ==")
    holder = _random_resident_id(rng, "110105", date(1985, 1, 22))
    clock.now = datetime.now(UTC) - timedelta(days=20)
    office.issue_card(
        stories.issue(
            holder,
            _random_card_number(rng),
            holder_name="孙悦",
            issued_on=(clock.now - timedelta(days=500)).date(),
        )
    )
    before_block = (clock.now - timedelta(days=3)).astimezone(BEIJING).date()
    clock.advance(hours=3)
    office.pre_report_loss(stories.pre_report(holder))
    clock.advance(days=2)
    office.cancel_pre_report(stories.cancel(holder))  # the card was found: the window closes
    for event in office.history(holder):
        say(event_line(event))
    clock.advance(days=1)
    try:
        office.submit_claim(claims.submit(holder, before_block, invoice=_invoice(rng)))
    except TreatmentOutsideWindow as exc:
        say(f"refused, nothing recorded: {exc}")
    inside = (clock.now - timedelta(days=2)).astimezone(BEIJING).date()
    filed = office.submit_claim(claims.submit(holder, inside, invoice=_invoice(rng)))
    clock.advance(days=3)
    office.reject_claim(
        claims.reject(
            filed.originator_id,
            RejectionReason.BILL_MISMATCH,
            "the itemised list does not match the invoice total",
        )
    )
    _say_claim(office, filed.originator_id, say)


def _invoice(rng: random.Random) -> str:
    return f"BJ{rng.randrange(10**10):010d}"
