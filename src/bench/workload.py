"""The benches' workload: holder stories written through the card office (setup, not measured)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import date

from domain.application import CardOffice
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
