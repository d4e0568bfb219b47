"""The settlement subscriber's honesty about its own age, judged from two timelines: when the
broker could not answer (known to the nemesis, which took it away), and what the subscriber
said of itself (sampled by ``chaos.subscriber_watch``). Pure: plain numbers in, findings out.

Both timelines are ``time.monotonic()`` seconds of the harness's one process.

- An outage runs from ``down`` (the broker's kill, stop or SIGSTOP had returned: it answers
  nothing from then on) to ``up`` (the moment it was asked to come back: it answers nothing
  before). What happens between ``up`` and the broker's first answer is unknown, so it is not
  counted as down: the checks hold only where the broker was certainly away.
- A sample's ``at`` is read before the subscriber is asked, so the age it answered by was at
  least ``at`` minus its last confirmation.

Never fresh while it was not: a subscriber fresh at ``at`` had a confirmation whose end-offset
request was sent at ``c >= at - bound``, and the broker answered that request, so the broker was
up after ``c``: ``c < down``. A fresh sample later than ``down + bound`` is therefore a lie,
exactly; the only slack (``SIGNAL_MARGIN``) covers a broker thread that ran on for a moment
after the signal that stopped it was sent.

Stale during every outage longer than its bound: from ``down + bound`` on it must say stale, so
an outage longer than ``bound + tolerance`` must show at least one stale sample. The tolerance
is two sampling intervals plus ``SCHEDULING_MARGIN``: the sampler is a thread of a busy process
on a shared machine, and a sleep of 0.5 s was seen to come back late by up to a few hundred
milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Seconds: a SIGSTOPped or killed broker's threads may run a few milliseconds past the signal.
SIGNAL_MARGIN = 0.25
# Seconds a sampling thread may be late on a loaded 2-core machine (see the module's text).
SCHEDULING_MARGIN = 1.0


@dataclass(frozen=True, slots=True)
class Outage:
    kind: str
    down: float
    up: float


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    fresh: bool


@dataclass
class FreshnessEvidence:
    """What the run saw of the subscriber: its bound, how often it was asked, the broker's
    outages and every answer; at the end, each card's status it held, once it had confirmed
    having read the settlement topic after the back office stopped (None: it never did)."""

    bound: float
    interval: float
    outages: list[Outage] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    final_cards: dict[str, str] | None = None
    # The blocklist view's status per card, read after the back office stopped.
    view_cards: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the subscriber's own failures

    @property
    def tolerance(self) -> float:
        return self.bound + 2 * self.interval + SCHEDULING_MARGIN


def never_fresh_while_away(evidence: FreshnessEvidence) -> tuple[int, list[str]]:
    """Samples that said fresh later than ``bound`` into an outage. Returns (samples checked
    inside outages, findings)."""
    checked = 0
    problems: list[str] = []
    for outage in evidence.outages:
        inside = _within(evidence.samples, outage.down, outage.up)
        checked += len(inside)
        late = outage.down + evidence.bound + SIGNAL_MARGIN
        lies = [s for s in inside if s.fresh and s.at > late]
        if lies:
            problems.append(
                f"{outage.kind} down {outage.up - outage.down:.1f} s: said fresh "
                f"{lies[0].at - outage.down:.1f} s into it ({len(lies)} such samples; "
                f"bound {evidence.bound:g} s)"
            )
    return checked, problems


def stale_in_long_outages(evidence: FreshnessEvidence) -> tuple[int, list[str]]:
    """Outages longer than the tolerance, each of which must show a stale sample. Returns (such
    outages, findings)."""
    checked = 0
    problems: list[str] = []
    for outage in evidence.outages:
        length = outage.up - outage.down
        if length <= evidence.tolerance:
            continue
        checked += 1
        inside = _within(evidence.samples, outage.down, outage.up)
        if not any(not s.fresh for s in inside):
            problems.append(
                f"{outage.kind} down {length:.1f} s (bound {evidence.bound:g} s): "
                f"{len(inside)} samples, none stale"
            )
    return checked, problems


def subscriber_equals_view(evidence: FreshnessEvidence, derived: dict[str, str]) -> list[str]:
    """At the end, the subscriber's blocked cards are the blocklist view's and the store's, and
    every card's status is the same in all three."""
    if evidence.final_cards is None:
        return ["the subscriber never confirmed having read the settlement topic at the end"]
    problems: list[str] = []
    held = evidence.final_cards
    for name, other in (("the blocklist view", evidence.view_cards), ("the store", derived)):
        blocked_here, blocked_there = _blocked(held), _blocked(other)
        if blocked_here != blocked_there:
            extra = sorted(blocked_here - blocked_there)
            missing = sorted(blocked_there - blocked_here)
            problems.append(
                f"blocked set differs from {name}'s: only the subscriber's {extra[:5]}, "
                f"only {name}'s {missing[:5]}"
            )
        for card in sorted(set(held) | set(other)):
            if held.get(card) != other.get(card):
                problems.append(
                    f"card {card}: subscriber says {held.get(card)}, {name} {other.get(card)}"
                )
    return problems


def _blocked(cards: dict[str, str]) -> set[str]:
    return {card for card, status in cards.items() if status != "active"}


def _within(samples: Iterable[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.at <= end]
