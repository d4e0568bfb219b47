"""The benches' workload: holder stories written through the card office (setup, not measured)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from domain.application import CardOffice
from domain.event import DomainEvent
from samples.stories import Identities, issue, population_story

Say = Callable[[str], None]

_PROGRESS_EVERY = 5_000
BENCH_BIRTHS = date(1950, 1, 1)


def populate(office: CardOffice, events: int, ids: Identities, say: Say) -> int:
    say(f"setup: writing {events:,} card events through the card office")
    started = time.perf_counter()
    written = 0
    for holder in itertools.count():
        for _ in population_story(office, ids, holder):
            written += 1
            if written % _PROGRESS_EVERY == 0 or written == events:
                say(f"setup:   {written:,}/{events:,} ({time.perf_counter() - started:.1f} s)")
            if written == events:
                return written
    raise AssertionError("unreachable")


def populate_fast(
    office: CardOffice, events: int, ids: Identities, say: Say, holders_at_once: int = 2_000
) -> int:
    """The same holder stories as ``populate``, through the same commands, mapper and keys, but
    ``holders_at_once`` holders advance together, one command each per round, and each round's
    events are stored in one transaction: every record is what the office stores one command at a
    time (sealed, chained), only the commits are fewer. Holders' events interleave in the store,
    as a province's do. A command still loads its holder from the store, so each holder's events
    are written before its next command runs."""
    say(f"setup: writing {events:,} card events through the card office, in rounds")
    started = time.perf_counter()
    pending: list[Any] = []
    office_save = office.save

    def deferred(*objs: Any, **kwargs: Any) -> list[Any]:
        assert not kwargs, "the bench's commands carry no tracking"
        pending.extend(objs)
        return []

    stories: list[Iterator[DomainEvent]] = []
    holders = itertools.count()
    written, shown = 0, 0
    office.save = deferred  # type: ignore[method-assign]
    try:
        while written < events:
            while len(stories) < holders_at_once:
                stories.append(population_story(office, ids, next(holders)))
            going: list[Iterator[DomainEvent]] = []
            for story in stories:
                if written == events:
                    break
                if next(story, None) is not None:
                    written += 1
                    going.append(story)
            stories = going
            office_save(*pending)
            pending.clear()
            if written - shown >= 10 * _PROGRESS_EVERY or written == events:
                shown = written
                say(f"setup:   {written:,}/{events:,} ({time.perf_counter() - started:.1f} s)")
    finally:
        office.save = office_save  # type: ignore[method-assign]
    return written


def register(office: CardOffice, count: int, say: Say) -> list[str]:
    """Holders for the latency run, each with a card that can be pre-reported."""
    say(f"setup: registering {count:,} holders for the latency run")
    # A district and card series the population never uses.
    ids = Identities("110108", "L", born=BENCH_BIRTHS)
    holders = []
    for _ in range(count):
        rid = ids.resident_id()
        office.issue_card(issue(rid, ids.card_number()))
        holders.append(rid)
    return holders
