"""``sscard demo``: one full replacement and one lapsed pre-report, told step by step.

It writes to the configured store (so a running ``sscard run`` publishes the events) with fresh
random holders each time, on a clock that walks from five weeks ago to now, so that the
histories look like real ones: production about 15 working days after the application.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from cli.output import event_line
from domain.cardholder.events import IdentityDocument
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyGrounds
from samples import stories
from service.bootstrap import build
from service.lapses import LapseScheduler
from service.settings import Settings


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

    with build(settings, clock=clock) as backoffice:
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
