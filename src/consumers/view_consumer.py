"""A read model fed from a public topic (``sscard.card-events``, ``sscard.reimbursement-events``):
each batch of records is decoded, validated
against the published contract and applied, in the transaction that also moves the view's
partition offsets; what cannot be taken is parked in sequence (``consumers.dead_letters``).

Exactly once: the offsets move with the view's change (a crash re-reads the batch, never skips
it), and the view drops a message whose stream version it already holds (a re-read, or a batch
the relay sent twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from consumers import dead_letters
from contract.envelope import Envelope, parse_card_event, parse_claim_event
from domain.errors import first_problem
from tracking.envelopes import ReadModel, apply_once, prefetch_versions
from tracking.follow import Batch, Commit
from tracking.partition_offsets import PartitionOffsets
from tracking.rows import Rows
from tracking.runner import Pulse
from tracking.store import Tx, ViewStore, is_store_error

log = logging.getLogger(__name__)


class Undecodable(ValueError):
    """A message that is not a valid message of its topic (the reason says why)."""


def parser_for(topic: str) -> Callable[[bytes], object]:
    """The contract of a topic's messages: claim events on reimbursement-events, card events on
    card-events (a claim event on card-events, or the reverse, is undecodable there)."""
    return parse_claim_event if topic.endswith(".reimbursement-events") else parse_card_event


def decode(value: bytes | None, topic: str = ".card-events") -> Envelope:
    """The envelope dict of a message of ``topic``, once the message has been validated against
    its published contract (the typed envelope of its event type)."""
    if value is None:
        raise Undecodable("a message without a value")
    try:
        parser_for(topic)(value)
    except ValidationError as exc:
        where, what = first_problem(exc, "message")
        raise Undecodable(f"invalid message at {where}: {what}") from None
    envelope: Envelope = orjson.loads(value)
    return envelope


@dataclass
class Record:
    """What the handler needs of a Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def record_of(item: Any) -> Record:
    return Record(item.topic, item.partition, item.offset, item.key, item.value)


@dataclass
class BatchReport:
    applied: int = 0
    duplicates: int = 0
    parked: list[str] = field(default_factory=list)


def apply_records(
    model: ReadModel, consumer: str, records: Sequence[Record], tx: Tx
) -> BatchReport:
    """Apply records in order; park each that fails and each behind a parked one of its key."""
    tx.lock_view(model.name, exclusive=writes_shared_rows(model))
    report = BatchReport()
    decoded: list[tuple[Record, Envelope | None, str]] = []
    for record in records:
        try:
            decoded.append((record, decode(record.value, record.topic), ""))
        except (Undecodable, orjson.JSONDecodeError) as exc:
            decoded.append((record, None, f"undecodable: {exc}"))
    rows = Rows(tx)
    prefetch_versions(model, [e for _, e, _ in decoded if e is not None], rows)
    parked = dead_letters.parked_keys(tx, consumer, [r.key or b"" for r in records])
    for record, envelope, problem in decoded:
        key = record.key or b""
        reason = problem
        if key in parked:
            reason = "behind an earlier parked message of the same key"
        elif envelope is not None:
            try:
                if apply_once(model, envelope, rows):
                    report.applied += 1
                else:
                    report.duplicates += 1
                continue
            except Exception as exc:
                if is_store_error(exc):
                    raise
                reason = f"cannot apply {envelope.get('event_type')}: {type(exc).__name__}: {exc}"
        dead_letters.park(
            tx,
            consumer,
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            reason,
            failed=key not in parked,
        )
        parked.add(key)
        report.parked.append(f"{record.partition}/{record.offset}: {reason}")
    rows.flush()
    return report


class ApplyRecords:
    """The view consumer's handler: apply a batch, then publish what it parked."""

    def __init__(
        self,
        model: ReadModel,
        store: ViewStore,
        publish_dead_letters: Callable[[], object] | None = None,
    ) -> None:
        self._model = model
        self._store = store
        self._publish = publish_dead_letters
        self.last_report = BatchReport()

    def handle(self, batch: Batch[PartitionOffsets, Any], commit: Commit, pulse: Pulse) -> None:
        del pulse  # one local transaction: nothing to report while it runs
        records = [record_of(item) for item in batch.items]
        reports: list[BatchReport] = []

        def apply(tx: Tx) -> None:
            reports.clear()
            reports.append(apply_records(self._model, self._model.name, records, tx))

        commit(apply if records else None)
        self.last_report = reports[0] if reports else BatchReport()
        for line in self.last_report.parked:
            log.warning("%s: parked %s", self._model.name, line)
        if self.last_report.parked and self._publish is not None:
            self._publish_dead_letters()

    def _publish_dead_letters(self) -> None:
        assert self._publish is not None
        try:
            self._publish()
        except Exception as exc:  # parked safely in the view store; published next time
            log.warning("%s: dead letters not published yet: %s", self._model.name, exc)


# ---- the operator's retry -------------------------------------------------------------------


@dataclass(frozen=True)
class RetryOutcome:
    key: str
    applied: int
    still_parked: int
    reason: str = ""


def retry(store: ViewStore, model: ReadModel, key: bytes | None = None) -> list[RetryOutcome]:
    """Apply the parked messages of each key in order, each key in one transaction; the first
    one that fails again stays parked with its new reason, with every later one behind it."""
    items = dead_letters.listed(store, model.name, key)
    outcomes = []
    for (_, item_key), group in dead_letters.grouped_by_key(items).items():
        with store.transaction() as tx:
            outcomes.append(_retry_key(tx, model, item_key, group))
    return outcomes


def _retry_key(
    tx: Tx, model: ReadModel, key: bytes, group: list[dead_letters.Parked]
) -> RetryOutcome:
    tx.lock_view(model.name, exclusive=writes_shared_rows(model))
    rows = Rows(tx)
    applied = 0
    for index, item in enumerate(group):
        try:
            envelope = decode(item.value, item.topic)
            prefetch_versions(model, [envelope], rows)
            apply_once(model, envelope, rows)
        except Exception as exc:
            if is_store_error(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}"
            dead_letters.fail_again(tx, item, reason)
            rows.flush()
            return RetryOutcome(
                key.decode("utf-8", "backslashreplace"), applied, len(group) - index, reason
            )
        dead_letters.remove(tx, item)
        applied += 1
    rows.flush()
    return RetryOutcome(key.decode("utf-8", "backslashreplace"), applied, 0)


def writes_shared_rows(model: ReadModel) -> bool:
    """Whether the view has rows that sum over many streams (the claims per region and month):
    its writers then take the view's lock exclusive, one batch at a time. Two members of one
    group (or a standby's consumers) hold different partitions, and on PostgreSQL each would
    read such a row, add its own and write it back, the later write losing the earlier one's
    count (a chaos run's claims totals, seed 13: 544 approved live, 545 in the store). Rows of
    one stream or card are only ever written by the member holding its partition."""
    return bool(model.additive)
