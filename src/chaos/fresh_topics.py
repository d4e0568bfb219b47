"""A fresh start on a new topic set, as the nemesis performs it mid-run.

The back office has no command for it; this is the closest procedure its parts support, done by
hand as an operator would (the switch to a new Kafka cluster, or topics lost and made anew under
a new name):

1. stop ``sscard run`` (SIGTERM: it must exit 0);
2. rewind the relay's position to 0, holding the relay's single-active lock (refused, not forced,
   when a relay holds it), so that it republishes the whole store;
3. a new ``SSCARD_TOPIC_PREFIX`` (``<prefix>-t<n>``): its topics made, ``sscard run`` started on
   it. The views' consumers join new groups (``<new>.view.<name>``) and, their offsets being kept
   per topic, read the new topics from the beginning, dropping every event their view already
   applied (``sscard_view_versions``); the settlement topic is rebuilt from the store's events
   in order;
4. the settlement subscriber started again on ``<new>.settlement``.

The old topics are left as they were (a real cluster's would be deleted later, by hand). The
invariants are then judged on the current topic set in full, and each earlier set must hold no
event the store does not and, per key, a prefix of the store's versions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chaos.evidence import event_records
from chaos.invariants import Evidence, TopicRecord
from chaos.processes import RunProcess
from chaos.subscriber_watch import SubscriberWatch, view_statuses
from relay.publisher import RELAY
from relay.topics import Topics
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics
from service.settings import Settings

# The rewind is retried this long through a database that is still coming back.
_REWIND_FOR = 60.0


class RelayBusy(RuntimeError):
    """Another relay holds the single-active lock: the store is still being published."""


def rewind_relay(settings: Settings) -> int:
    """The relay's position set back to 0 under its lock; returns where it was."""
    with open_back_office(settings) as backoffice:
        lock = backoffice.views.exclusive(RELAY)
        if not lock.acquire():
            raise RelayBusy("a relay still runs on this store: stop it before the rewind")
        try:
            with backoffice.views.transaction() as tx:
                was = tx.position(RELAY)
                tx.move_position(RELAY, was, 0)
            return was
        finally:
            lock.release()


def next_prefix(base: str, switches: int) -> str:
    """The prefix of the ``switches``-th new topic set (within the prefix's 31 characters)."""
    return f"{base[:25]}-t{switches}"


class FreshTopics:
    """The topic set the run is on (``current``), the earlier ones, and the switch."""

    def __init__(self, settings: Settings, run: RunProcess, subscriber: SubscriberWatch) -> None:
        self.current = settings
        self.base = settings.topic_prefix
        self.earlier: list[str] = []
        self.run, self.watch = run, subscriber
        self.rewound_from: list[int] = []
        # Others of the run that start processes or send on topics (the process faults): told
        # the new settings, so that what they start after a switch is on the new topic set.
        self.on_switch: list[Callable[[Settings], None]] = []

    def switch(self, hold: Callable[[], None]) -> None:
        self.run.terminate()
        hold()
        self.rewound_from.append(_retrying(lambda: rewind_relay(self.current)))
        new = self.current.model_copy(
            update={"topic_prefix": next_prefix(self.base, len(self.earlier) + 1)}
        )
        ensure_topics(new)
        self.earlier.append(self.current.topic_prefix)
        self.current = new
        self.run.settings = new
        for tell in self.on_switch:
            tell(new)
        self.run.start()
        self.watch.switch(Topics(new.topic_prefix).settlement)

    def last_words(self, evidence: Evidence, bootstrap: str, timeout: float) -> None:
        """Once the back office has stopped: the blocklist view, the subscriber's last word
        (60 s to confirm), and what the earlier topic sets hold."""
        with open_back_office(self.current) as backoffice:
            self.watch.evidence.view_cards = view_statuses(backoffice)
        self.watch.settle(60.0)
        evidence.earlier_topic_records = read_earlier_topics(bootstrap, self.earlier, timeout)


def read_earlier_topics(bootstrap: str, prefixes: list[str], timeout: float) -> list[TopicRecord]:
    """The event topics' messages of each earlier topic set (a poison sent before a switch
    stays on the set it was sent to)."""
    return [
        record
        for prefix in prefixes
        for record in event_records(bootstrap, Topics(prefix), timeout)
    ]


def _retrying(call: Callable[[], int]) -> int:
    deadline = time.monotonic() + _REWIND_FOR
    while True:
        try:
            return call()
        except RelayBusy:
            raise
        except Exception:  # the database restarting a moment ago: as any client, try again
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
