"""The nemesis schedule: which fault, when and for how long, drawn from the seed alone.

Nothing here looks at the clock or the machine, so the same seed and length always give the same
schedule (a failing seed is replayed by running it again); the nemesis then applies it to the
real processes, each fault no earlier than its time.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    RUN_KILL = "run-kill-9"  # `sscard run`'s whole process group, SIGKILL, then started again
    RUN_TERM = "run-sigterm"  # SIGTERM: it must exit 0 in time; then started again
    BROKER_KILL = "broker-kill-9"  # the broker SIGKILLed, down for a while, started again
    BROKER_STOP = "broker-stop"  # the broker stopped cleanly, down for a while, started again
    BROKER_PAUSE = "broker-pause"  # SIGSTOP past the clients' session timeout, then SIGCONT
    # On PostgreSQL only (a cluster of the run's own):
    POSTGRES_RESTART = "postgres-restart"  # every connection dropped at once
    POSTGRES_STOP = "postgres-stop"  # down for a while, then started again
    # Processes beside `sscard run` (chaos.process_faults):
    CONSUMER_JOIN = "consumer-join-leave"  # a second member of a view's group, then kill -9/TERM
    POISON = "poison-message"  # an undecodable message on a view's topic, parked, then discarded
    STANDBY_TAKEOVER = "standby-takeover"  # PostgreSQL: a standby run takes over from a kill -9
    # chaos-http: one of the run's `sscard serve` processes, SIGKILL, then started again. Put in
    # the calm between two other faults (``_with_serve_kills``), never drawn among them.
    SERVE_KILL = "serve-kill-9"
    # A fresh start on a new topic set (chaos.fresh_topics): `sscard run` stopped, the relay
    # rewound, a new topic prefix, started again; the settlement subscriber moved over.
    FRESH_TOPICS = "fresh-topics"


POSTGRES_ONLY = frozenset(
    {FaultKind.POSTGRES_RESTART, FaultKind.POSTGRES_STOP, FaultKind.STANDBY_TAKEOVER}
)


# How long each kind holds (seconds): the outage, or the pause before the restart.
_HOLD: dict[FaultKind, tuple[float, float]] = {
    FaultKind.RUN_KILL: (0.5, 4.0),
    FaultKind.RUN_TERM: (0.5, 4.0),
    FaultKind.BROKER_KILL: (2.0, 10.0),
    FaultKind.BROKER_STOP: (2.0, 10.0),
    # Past kafka-python's default 10 s session timeout: the group must rebalance after it.
    FaultKind.BROKER_PAUSE: (6.0, 15.0),
    FaultKind.POSTGRES_RESTART: (0.5, 2.0),
    FaultKind.POSTGRES_STOP: (2.0, 8.0),
    # chaos.process_faults: the second member stays this long once it started; the poison is
    # discarded after this; the old active one stands by this long before the spare leaves.
    FaultKind.CONSUMER_JOIN: (8.0, 20.0),
    FaultKind.POISON: (3.0, 10.0),
    FaultKind.STANDBY_TAKEOVER: (3.0, 8.0),
    # Fresh topics: the back office stopped this long before the rewind and the new start.
    FaultKind.FRESH_TOPICS: (0.5, 3.0),
}
# Calm between two faults (seconds), so that the system is seen recovering, not only failing.
_GAP = (4.0, 15.0)
_FIRST = (3.0, 8.0)
# No fault starts this close to the end: the last one must have ended before the settling.
_TAIL = 10.0


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # seconds after the workload started
    kind: FaultKind
    hold: float  # seconds

    def describe(self) -> str:
        return f"t+{self.at:6.1f}s {self.kind.value:<16} hold {self.hold:4.1f}s"


def draw_schedule(seed: int, minutes: float, postgres: bool = False) -> list[Fault]:
    """The faults of a run of ``minutes`` with ``seed``: one at a time, never overlapping; with
    ``postgres``, the database's faults among them."""
    rng = random.Random(seed)
    end = minutes * 60.0 - _TAIL
    kinds = [
        kind
        for kind in FaultKind
        if (postgres or kind not in POSTGRES_ONLY) and kind is not FaultKind.SERVE_KILL
    ]
    faults: list[Fault] = []
    at = rng.uniform(*_FIRST)
    while at < end:
        kind = rng.choice(kinds)
        hold = round(rng.uniform(*_HOLD[kind]), 1)
        faults.append(Fault(round(at, 1), kind, hold))
        at += hold + rng.uniform(*_GAP)
    return _with_serve_kills(seed, faults)  # chaos-http


# chaos-http: serve kills, drawn from a generator of their own, each in the calm between two
# faults of the schedule above, so that they leave its other faults where they were.
_SERVE_KILL_SHARE = 0.4
_SERVE_KILL_HOLD = (0.5, 4.0)
_CALM_AROUND = 1.0  # seconds kept calm on each side of a serve kill


def _with_serve_kills(seed: int, faults: list[Fault]) -> list[Fault]:
    rng = random.Random(seed * 7_777 + 29)
    result: list[Fault] = []
    for fault, following in itertools.pairwise(faults):
        result.append(fault)
        start, end = fault.at + fault.hold + _CALM_AROUND, following.at - _CALM_AROUND
        hold = round(rng.uniform(*_SERVE_KILL_HOLD), 1)
        take = rng.random() < _SERVE_KILL_SHARE
        if take and end - start > hold + 0.2:
            at = round(start + rng.uniform(0.1, end - start - hold - 0.1), 1)
            result.append(Fault(at, FaultKind.SERVE_KILL, hold))
    return result + faults[-1:]


def by_kind(faults: list[Fault]) -> dict[str, int]:
    """Faults counted by kind, in the kinds' order (those that occur)."""
    counts = Counter(f.kind for f in faults)
    return {kind.value: counts[kind] for kind in FaultKind if counts[kind]}
