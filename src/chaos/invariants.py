"""The invariants a run is held to, each one named function over plain evidence.

The evidence (``Evidence``) is gathered after the system settled: the journal of acknowledged
commands, the store's request records and public events, what is on the topics, the views'
verdicts, the chain's verdict and the processes' logs. Each check returns how many things it
looked at and every difference it found, so a violation names what differs, not only that
something does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chaos.freshness import (
    FreshnessEvidence,
    never_fresh_while_away,
    stale_in_long_outages,
    subscriber_equals_view,
)
from chaos.journal import Acknowledged


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request id's record in the store: which event its command recorded."""

    request_id: str
    stream_id: str
    version: int


@dataclass(frozen=True, slots=True)
class StoredPublic:
    """A stored event that is published: its id, its stream (the message key) and version."""

    event_id: str
    stream_id: str
    version: int
    topic: str


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """A message on an event topic, in the order it was read (per partition, by offset)."""

    topic: str
    key: str
    event_id: str
    stream_id: str
    version: int


# chaos-http: an approval's draw on its holder's annual cap, as the store holds it.
@dataclass(frozen=True, slots=True)
class StoredApproval:
    claim_id: str
    holder_id: str
    benefit_year: int
    payable_fen: int
    annual_cap_fen: int  # the region's cap the approval was computed on


@dataclass
class Evidence:
    acknowledged: list[Acknowledged] = field(default_factory=list)
    requests: list[StoredRequest] = field(default_factory=list)
    stored_events: list[StoredPublic] = field(default_factory=list)
    topic_records: list[TopicRecord] = field(default_factory=list)
    # card number -> status: derived by folding the store's events; the last settlement message.
    derived_status: dict[str, str] = field(default_factory=dict)
    settlement_last: dict[str, str] = field(default_factory=dict)
    # claim id -> how many payments the store holds for it.
    payments: dict[str, int] = field(default_factory=dict)
    # chaos-http: every approval, and claim id -> fen paid (summed over its payments).
    approvals: list[StoredApproval] = field(default_factory=list)
    paid_fen: dict[str, int] = field(default_factory=dict)
    # view -> differences (empty: the live view equals its rebuild).
    views: dict[str, list[str]] = field(default_factory=dict)
    chain_records: int = 0
    chain_findings: list[str] = field(default_factory=list)
    # What the client saw: a retry with the same request id answered with another event, a
    # request id refused as reused although its content was the same.
    client_findings: list[str] = field(default_factory=list)
    retries_checked: int = 0
    # Process lifecycle: runs checked, and each one that died by itself or did not stop cleanly.
    processes_checked: int = 0
    process_findings: list[str] = field(default_factory=list)
    logs_checked: int = 0
    tracebacks: list[str] = field(default_factory=list)
    # chaos.process_faults: messages still parked at the end, and the views looked at.
    dead_letters_left: list[str] = field(default_factory=list)
    dead_letters_checked: int = 0
    # The settlement subscriber and fresh topics (chaos.subscriber_watch, chaos.fresh_topics):
    # what it saw (None: not watched), and the messages on earlier topic sets.
    freshness: FreshnessEvidence | None = None
    earlier_topic_records: list[TopicRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    name: str
    checked: int
    violations: list[str]

    @property
    def holds(self) -> bool:
        return not self.violations


def acknowledged_commands_stored_once(evidence: Evidence) -> Verdict:
    """Every command acknowledged as recorded has exactly one request record in the store, and
    it names the very event the answer named; no request id was acknowledged twice."""
    records: dict[str, list[StoredRequest]] = defaultdict(list)
    for record in evidence.requests:
        records[record.request_id].append(record)
    stored = {(e.stream_id, e.version) for e in evidence.stored_events}
    problems: list[str] = []
    seen = Counter(a.request_id for a in evidence.acknowledged)
    problems += [f"request {rid} acknowledged {n} times" for rid, n in seen.items() if n > 1]
    recorded = [a for a in evidence.acknowledged if a.status == "recorded"]
    for ack in recorded:
        found = records.get(ack.request_id, [])
        if len(found) != 1:
            problems.append(
                f"{ack.command} request {ack.request_id}: {len(found)} records in store"
            )
            continue
        record = found[0]
        if (record.stream_id, record.version) != (ack.stream_id, ack.version):
            problems.append(
                f"{ack.command} request {ack.request_id}: acknowledged as "
                f"{ack.stream_id} v{ack.version}, stored as {record.stream_id} v{record.version}"
            )
        elif ack.version is not None and (record.stream_id, record.version) not in stored:
            problems.append(
                f"{ack.command} request {ack.request_id}: its event {record.stream_id} "
                f"v{record.version} is not in the store"
            )
    return Verdict("acknowledged commands stored exactly once", len(recorded), problems)


def public_events_on_topics_once(evidence: Evidence) -> Verdict:
    """Every stored public event is on its topic, under its stream's key; after dropping the
    versions a key already had (redelivery), each key's versions are exactly the store's, in
    order; nothing is on a topic that the store does not hold."""
    problems: list[str] = []
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_id = {e.event_id: e for e in evidence.stored_events}
    for event in evidence.stored_events:
        expected[(event.topic, event.stream_id)].append(event.version)
    delivered: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in evidence.topic_records:
        stored = by_id.get(record.event_id)
        if stored is None:
            problems.append(f"{record.topic}: event {record.event_id} is not in the store")
            continue
        if (stored.stream_id, stored.version, stored.topic) != (
            record.stream_id,
            record.version,
            record.topic,
        ) or record.key != stored.stream_id:
            problems.append(
                f"{record.topic}: event {record.event_id} sent as {record.key} "
                f"v{record.version}, stored as {stored.stream_id} v{stored.version} "
                f"for {stored.topic}"
            )
            continue
        versions = delivered[(record.topic, record.key)]
        if not versions or record.version > versions[-1]:
            versions.append(record.version)  # a redelivered (older) one is dropped
    for (topic, stream), versions in expected.items():
        got = delivered.get((topic, stream), [])
        if got != sorted(versions):
            problems.append(
                f"{topic} key {stream}: after dedupe {_short(got)}, the store holds "
                f"{_short(sorted(versions))}"
            )
    return Verdict("stored public events on their topics exactly once", len(by_id), problems)


def settlement_matches_store(evidence: Evidence) -> Verdict:
    """For every card, the last message on the settlement topic is the status the store's
    events give it."""
    problems = []
    for card in sorted(set(evidence.derived_status) | set(evidence.settlement_last)):
        derived = evidence.derived_status.get(card)
        last = evidence.settlement_last.get(card)
        if derived != last:
            problems.append(f"card {card}: store says {derived}, settlement topic says {last}")
    return Verdict("settlement status equals the store's", len(evidence.derived_status), problems)


def no_claim_paid_twice(evidence: Evidence) -> Verdict:
    problems = [f"claim {claim} paid {n} times" for claim, n in evidence.payments.items() if n > 1]
    return Verdict("no claim paid twice", len(evidence.payments), problems)


# chaos-http: the annual cap, checked from the store's approvals and payments.
def no_holder_over_annual_cap(evidence: Evidence) -> Verdict:
    """Per holder and benefit year, neither what was approved nor what was paid passes the
    annual cap (the lowest cap the year's approvals were computed on)."""
    years: dict[tuple[str, int], list[StoredApproval]] = defaultdict(list)
    for approval in evidence.approvals:
        years[(approval.holder_id, approval.benefit_year)].append(approval)
    problems = []
    for (holder, year), approvals in sorted(years.items()):
        cap = min(a.annual_cap_fen for a in approvals)
        approved = sum(a.payable_fen for a in approvals)
        paid = sum(evidence.paid_fen.get(a.claim_id, 0) for a in approvals)
        for what, total in (("approved", approved), ("paid", paid)):
            if total > cap:
                problems.append(
                    f"holder {holder} {year}: {total} fen {what} over {len(approvals)} claims, "
                    f"the cap is {cap} fen"
                )
    return Verdict("no holder over the annual cap", len(years), problems)


def views_equal_rebuilds(evidence: Evidence) -> Verdict:
    problems = [
        f"{view}: {difference}"
        for view, differences in evidence.views.items()
        for difference in differences
    ]
    return Verdict("every view equals its rebuild", len(evidence.views), problems)


def chain_intact(evidence: Evidence) -> Verdict:
    return Verdict("audit verify-chain", evidence.chain_records, list(evidence.chain_findings))


def clients_answered_consistently(evidence: Evidence) -> Verdict:
    return Verdict(
        "retries answered with the first answer",
        evidence.retries_checked,
        list(evidence.client_findings),
    )


def no_worker_left_dead(evidence: Evidence) -> Verdict:
    return Verdict(
        "no process left dead or stopping uncleanly",
        evidence.processes_checked,
        list(evidence.process_findings),
    )


def no_traceback(evidence: Evidence) -> Verdict:
    return Verdict(
        "no Python traceback in any log", evidence.logs_checked, list(evidence.tracebacks)
    )


# chaos.process_faults: a parked poison is discarded by the operator, and nothing else parks.
def no_dead_letter_left(evidence: Evidence) -> Verdict:
    return Verdict(
        "no dead letter left", evidence.dead_letters_checked, list(evidence.dead_letters_left)
    )


# ---- the settlement subscriber and fresh topics (chaos.freshness, chaos.fresh_topics) ----------


def subscriber_matches_view(evidence: Evidence) -> Verdict:
    """At the end, the subscriber's blocked set is the blocklist view's and the store's."""
    seen = evidence.freshness
    if seen is None:
        return Verdict("settlement subscriber equals the blocklist view", 0, [])
    problems = list(seen.problems) + subscriber_equals_view(seen, evidence.derived_status)
    checked = 0 if seen.final_cards is None else len(seen.final_cards)
    return Verdict("settlement subscriber equals the blocklist view", checked, problems)


def subscriber_stale_in_outages(evidence: Evidence) -> Verdict:
    """Stale during every broker outage longer than its bound (plus the sampling's tolerance)."""
    seen = evidence.freshness
    checked, problems = (0, []) if seen is None else stale_in_long_outages(seen)
    return Verdict("settlement subscriber stale in every long outage", checked, problems)


def subscriber_never_falsely_fresh(evidence: Evidence) -> Verdict:
    """Never fresh while the broker had been away for longer than its bound."""
    seen = evidence.freshness
    checked, problems = (0, []) if seen is None else never_fresh_while_away(seen)
    return Verdict("settlement subscriber never fresh while it was not", checked, problems)


def earlier_topic_sets_hold_a_prefix(evidence: Evidence) -> Verdict:
    """Each earlier topic set (before a fresh start) holds only stored events, and per key, after
    dedupe, a prefix of the store's versions: what was published before the switch, in order."""
    problems: list[str] = []
    by_id = {e.event_id: e for e in evidence.stored_events}
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in evidence.stored_events:
        expected[(_unprefixed(event.topic), event.stream_id)].append(event.version)
    delivered: dict[tuple[str, str], list[int]] = defaultdict(list)  # by the set's own topic
    for record in evidence.earlier_topic_records:
        stored = by_id.get(record.event_id)
        if stored is None or (_unprefixed(stored.topic), stored.stream_id, stored.version) != (
            _unprefixed(record.topic),
            record.key,
            record.version,
        ):
            problems.append(f"{record.topic}: event {record.event_id} is not stored as sent")
            continue
        versions = delivered[(record.topic, record.key)]
        if not versions or record.version > versions[-1]:
            versions.append(record.version)
    for (topic, key), got in delivered.items():
        whole = sorted(expected[(_unprefixed(topic), key)])
        if got != whole[: len(got)]:
            problems.append(f"{topic} key {key}: {_short(got)}, the store {_short(whole)}")
    return Verdict(
        "earlier topic sets hold a prefix of the store",
        len(evidence.earlier_topic_records),
        problems,
    )


def _unprefixed(topic: str) -> str:
    """``card-events`` of ``<prefix>.card-events`` (a prefix holds no dot)."""
    return topic.partition(".")[2]


CHECKS: tuple[Callable[[Evidence], Verdict], ...] = (
    acknowledged_commands_stored_once,
    public_events_on_topics_once,
    settlement_matches_store,
    no_claim_paid_twice,
    no_holder_over_annual_cap,  # chaos-http
    views_equal_rebuilds,
    chain_intact,
    clients_answered_consistently,
    no_worker_left_dead,
    no_traceback,
    no_dead_letter_left,  # chaos.process_faults
    # The settlement subscriber and fresh topics:
    subscriber_matches_view,
    subscriber_stale_in_outages,
    subscriber_never_falsely_fresh,
    earlier_topic_sets_hold_a_prefix,
)


def check_all(evidence: Evidence) -> list[Verdict]:
    return [check(evidence) for check in CHECKS]


def _short(versions: Sequence[int]) -> str:
    shown = ", ".join(str(v) for v in versions[:8])
    return f"[{shown}{', ...' if len(versions) > 8 else ''}]"
