"""The settlement subscriber as an integrator embeds it, running through the whole chaos run:
its own thread, its own snapshot folder, asked every half second whether it would answer
(``refusal() is None``: fresh), beside the broker's outages as the nemesis made them.

After a switch to a new topic set (``chaos.fresh_topics``) it is started again on the new
settlement topic, as a settlement system's operator would do; its snapshot, of the old topic,
does not fit and it bootstraps in full.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy import select

from application.results import plural
from chaos.freshness import SCHEDULING_MARGIN, FreshnessEvidence, Outage, Sample
from consumers import settlement_client
from consumers.settlement_client import Contract, SettlementSubscriber
from projections import settlement_blocklist as blocklist
from relay.contracts import settlement_schema
from service.bootstrap import BackOffice

# The subscriber's staleness bound (seconds) and how often it asks for the end offsets: short,
# so that most of the broker's outages (2-15 s) outlast it and are checked.
STALE_AFTER = 3.0
CONFIRM_EVERY = 0.5
SAMPLE_EVERY = 0.5


class BrokerTimeline:
    """The broker's outages, marked by the nemesis: ``down`` once the kill, stop or SIGSTOP has
    returned, ``up`` just before it is started again or continued."""

    def __init__(self) -> None:
        self.outages: list[Outage] = []
        self._down: tuple[str, float] | None = None

    def down(self, kind: str) -> None:
        self._down = (kind, time.monotonic())

    def up(self) -> None:
        if self._down is not None:
            kind, since = self._down
            self.outages.append(Outage(kind, since, time.monotonic()))
            self._down = None


class SubscriberWatch:
    def __init__(self, bootstrap: str, topic: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # Its warnings (every retry through an outage) would bury the run's progress; what
        # matters is in the samples, and a failure of its thread is a finding (``_note``).
        logging.getLogger(settlement_client.__name__).setLevel(logging.ERROR)
        self.bootstrap, self.folder = bootstrap, folder
        self.contract = Contract(settlement_schema())
        self.evidence = FreshnessEvidence(bound=STALE_AFTER, interval=SAMPLE_EVERY)
        self._lock = threading.Lock()
        self._subscriber = self._started(topic)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="chaos-freshness", daemon=True)
        self._sampler.start()

    def _started(self, topic: str) -> SettlementSubscriber:
        return SettlementSubscriber(
            self.bootstrap,
            self.contract,
            topic,
            client_id="chaos-settlement-subscriber",
            stale_after=STALE_AFTER,
            confirm_every=CONFIRM_EVERY,
            snapshot_path=self.folder / "blocklist.snap",
            snapshot_every=5.0,
            topic_wait=120.0,
        ).start()

    def switch(self, topic: str) -> None:
        """Follow ``topic`` from now on: the old subscriber stopped, a new one started."""
        with self._lock:
            old = self._subscriber
            old.stop()
            self._note(old)
            self._subscriber = self._started(topic)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            with self._lock:
                at = time.monotonic()  # before asking: the age it answers by is at least this old
                fresh = self._subscriber.refusal() is None
            self.evidence.samples.append(Sample(at, fresh))

    def settle(self, timeout: float) -> None:
        """Wait (bounded) for a confirmation newer than now, then keep every card's status."""
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            with self._lock:
                subscriber = self._subscriber
                confirmed_at = time.monotonic() - subscriber.age_seconds()
                if confirmed_at > since:
                    self.evidence.final_cards = {
                        card: status for card, (status, _, _) in subscriber.cards().items()
                    }
                    return
            time.sleep(0.2)

    def stop(self) -> FreshnessEvidence:
        self._stop.set()
        self._sampler.join(timeout=5)
        with self._lock:
            self._subscriber.stop()
            self._note(self._subscriber)
        return self.evidence

    def _note(self, subscriber: SettlementSubscriber) -> None:
        if subscriber.error is not None:
            self.evidence.problems.append(
                f"the subscriber of {subscriber.topic} failed: {subscriber.error!r}"
            )


def view_statuses(backoffice: BackOffice) -> dict[str, str]:
    """Every card's status in the settlement blocklist view."""
    views = backoffice.views
    views.create(blocklist.SettlementBlocklist.tables)
    c = blocklist.blocklist_table.c
    with views.reading() as tx:
        return {row.card_number: row.status for row in tx.execute(select(c.card_number, c.status))}


def summary(evidence: FreshnessEvidence) -> str:
    fresh = sum(s.fresh for s in evidence.samples)
    long = sum(o.up - o.down > evidence.tolerance for o in evidence.outages)
    return (
        f"settlement subscriber: {len(evidence.samples)} samples every {evidence.interval:g} s "
        f"({fresh} fresh), {plural(len(evidence.outages), 'broker outage')} ({long} longer than "
        f"{evidence.tolerance:g} s: its bound {evidence.bound:g} s, two samples and "
        f"{SCHEDULING_MARGIN:g} s)"
    )
