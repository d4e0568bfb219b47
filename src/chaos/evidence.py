"""Gathering the evidence of a settled run: the store read back whole, the topics read from the
run's broker, the views verified and the chain checked through the application layer, the
logs scanned."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from application.audit import verify_chain
from application.views import verify
from chaos.invariants import (
    Evidence,
    StoredApproval,
    StoredPublic,
    StoredRequest,
    TopicRecord,
)
from chaos.poison import is_poison
from contract.public_form import PUBLIC_CARD_EVENTS, PUBLIC_CLAIM_EVENTS
from domain.claims.events import ReimbursementClaimApproved, ReimbursementClaimPaid
from domain.requests import RequestRecorded
from domain.settlement import settlement_changes
from relay.topics import Topics
from service.bootstrap import BackOffice
from service.settings import Settings
from tracking.source import Positioned

_PAGE = 5_000
_CARD = frozenset(PUBLIC_CARD_EVENTS)
_CLAIM = frozenset(PUBLIC_CLAIM_EVENTS)
# A line the run must never log: the back office failing in a way it did not foresee, or giving
# up on a worker.
_TRACEBACK = "Traceback (most recent call last)"
_GAVE_UP = ("giving up, stopping the back office", "cannot continue:")


def stored_events(backoffice: BackOffice) -> Iterator[Positioned]:
    after = 0
    while True:
        page = backoffice.source.read(after, _PAGE)
        if not page:
            return
        yield from page
        after = page[-1].position


def read_store(backoffice: BackOffice, topics: Topics, evidence: Evidence) -> None:
    """Request records, public events, and each card's settlement status folded in store order."""
    for positioned in stored_events(backoffice):
        event = positioned.event
        kind = type(event)
        if isinstance(event, RequestRecorded):
            evidence.requests.append(
                StoredRequest(event.request_id, str(event.stream_id), event.event_version)
            )
        elif kind in _CARD or kind in _CLAIM:
            topic = topics.card_events if kind in _CARD else topics.reimbursement_events
            evidence.stored_events.append(
                StoredPublic(
                    str(event.event_id), str(event.originator_id), event.originator_version, topic
                )
            )
            if isinstance(event, ReimbursementClaimPaid):
                claim = str(event.originator_id)
                evidence.payments[claim] = evidence.payments.get(claim, 0) + 1
                # chaos-http: what was paid, for the annual cap
                paid = evidence.paid_fen.get(claim, 0) + event.payable_fen
                evidence.paid_fen[claim] = paid
            if isinstance(event, ReimbursementClaimApproved):  # chaos-http: the annual cap
                evidence.approvals.append(
                    StoredApproval(
                        str(event.originator_id),
                        str(event.holder_id),
                        event.benefit_year,
                        event.payable_fen,
                        event.computation.annual_cap_fen,
                    )
                )
            for change in settlement_changes(event):
                evidence.derived_status[change.card_number] = change.status.value


def read_topics(bootstrap: str, topics: Topics, evidence: Evidence, timeout: float) -> None:
    evidence.topic_records += event_records(bootstrap, topics, timeout)
    for key, value in read_topic(bootstrap, topics.settlement, timeout):
        evidence.settlement_last[key] = str(json.loads(value)["status"])  # the last one wins


def event_records(bootstrap: str, topics: Topics, timeout: float) -> list[TopicRecord]:
    """The messages on a topic set's event topics, but the nemesis's poison (its own keys: no
    envelope, and parked by every view before it was discarded)."""
    records: list[TopicRecord] = []
    for name in (topics.card_events, topics.reimbursement_events):
        for key, value in read_topic(bootstrap, name, timeout):
            if is_poison(key):
                continue
            envelope = json.loads(value)
            records.append(
                TopicRecord(
                    topic=name,
                    key=key,
                    event_id=str(envelope["event_id"]),
                    stream_id=str(envelope["stream_id"]),
                    version=int(envelope["stream_version"]),
                )
            )
    return records


def read_topic(bootstrap: str, topic: str, timeout: float) -> list[tuple[str, bytes]]:
    """Every (key, value) on ``topic``, each partition in offset order. Assigned, not shared out
    by a group: nothing here must wait for a rebalance."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000
    )
    try:
        deadline = time.monotonic() + timeout
        numbers = consumer.partitions_for_topic(topic)
        while not numbers:
            if time.monotonic() >= deadline:
                return []  # nothing published there: the checks then say what is missing
            time.sleep(0.2)
            numbers = consumer.partitions_for_topic(topic)
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: dict[TopicPartition, list[tuple[str, bytes]]] = {tp: [] for tp in partitions}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out reading {topic} from {bootstrap}")
            for tp, batch in consumer.poll(timeout_ms=500, max_records=5000).items():
                records[tp].extend((r.key.decode(), r.value) for r in batch)
        return [record for tp in partitions for record in records[tp]]
    finally:
        consumer.close()


def verify_views(settings: Settings, evidence: Evidence, wait: float) -> None:
    """``sscard verify`` through the application layer: each view rebuilt and compared."""
    result = verify(settings, [], wait=wait, show=3, workers=1)
    for view in result.views:
        differences: list[str] = []
        if not view.equal:
            differences += list(view.notes)
            if view.consumer_lag:
                differences.append(f"its consumer still lags by {view.consumer_lag}")
            for table in view.tables:
                if not table.equal:
                    differences.append(
                        f"{table.table}: live {table.live_rows} rows, rebuilt "
                        f"{table.rebuilt_rows}; {table.difference_count} differ: "
                        + "; ".join(str(d) for d in table.differences[:3])
                    )
            differences = differences or ["differs from its rebuild"]
        evidence.views[view.view] = differences


def check_chain(backoffice: BackOffice, evidence: Evidence) -> None:
    """``sscard audit verify-chain`` through the application layer."""
    report = verify_chain(backoffice)
    evidence.chain_records = report.records
    evidence.chain_findings = [f"position {f.position}: {f.what}" for f in report.findings]
    if not report.intact and not evidence.chain_findings:
        evidence.chain_findings = ["the chain is not intact"]


def scan_logs(logs: list[Path], evidence: Evidence) -> None:
    for log in logs:
        if not log.exists():
            continue
        evidence.logs_checked += 1
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if _TRACEBACK in line:
                evidence.tracebacks.append(f"{log.name}:{number}: {_raised(lines, number)}")
            if any(sign in line for sign in _GAVE_UP):
                evidence.process_findings.append(f"{log.name}:{number}: {line.strip()}")


def _raised(lines: list[str], after: int) -> str:
    """The exception a traceback ends with: its first line not indented (a frame is)."""
    for line in lines[after:]:
        if line and not line.startswith((" ", "\t")):
            return line.strip()
    return "(the traceback is cut short)"
