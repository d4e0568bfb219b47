"""Sequenced dead letters: a message a view cannot take is parked with its reason, and so is
every later message with the same key, until an operator retries or discards them.

A holder's events are keyed by the holder, so a parked pre-report holds back that holder's
collection behind it (never applied out of order), while every other holder's events flow on.
The parked messages and their keys live in the view store, written in the same transaction as
the view's change and its offsets: a crash can neither lose a parked message nor park one that
was applied. They are also published to the ``sscard.dead-letter`` topic (after the commit, at
least once) so that other tools can see them; the view store stays the source of truth for
``sscard dead-letters list | retry | discard``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, Table, Text, func, select, update

from tracking.store import Tx, ViewStore, metadata

dead_letters_table = Table(
    "sscard_dead_letters",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("key", LargeBinary, nullable=False),  # b"" for a message without a key
    Column("value", LargeBinary, nullable=True),
    Column("reason", Text, nullable=False),
    # 1: this message failed; 0: parked behind an earlier message of its key
    Column("failed", Integer, nullable=False),
    Column("parked_at", Text, nullable=False),
    Column("published", Integer, nullable=False),  # on the dead-letter topic yet
)


@dataclass(frozen=True)
class Parked:
    consumer: str
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None
    reason: str
    failed: bool
    parked_at: str

    @property
    def key_text(self) -> str:
        return self.key.decode("utf-8", "backslashreplace")

    def message(self) -> bytes:
        """The dead-letter topic's value: where it came from, why, and the message itself."""
        return orjson.dumps(
            {
                "consumer": self.consumer,
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "reason": self.reason,
                "failed": self.failed,
                "parked_at": self.parked_at,
                "value_base64": None
                if self.value is None
                else base64.b64encode(self.value).decode("ascii"),
            }
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parked(row: Any) -> Parked:
    return Parked(
        consumer=row.consumer,
        topic=row.topic,
        partition=int(row.partition),
        offset=int(row.offset),
        key=bytes(row.key),
        value=None if row.value is None else bytes(row.value),
        reason=row.reason,
        failed=bool(row.failed),
        parked_at=row.parked_at,
    )


def parked_keys(tx: Tx, consumer: str, keys: Iterable[bytes]) -> set[bytes]:
    """Which of ``keys`` have messages parked for ``consumer``."""
    wanted = list(set(keys))
    d = dead_letters_table.c
    found: set[bytes] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = tx.execute(select(d.key).distinct().where(d.consumer == consumer, d.key.in_(chunk)))
        found |= {bytes(r.key) for r in rows}
    return found


def park(
    tx: Tx,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    failed: bool,
) -> None:
    tx.insert_new(
        dead_letters_table,
        consumer=consumer,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key or b"",
        value=value,
        reason=reason[:2000],
        failed=int(failed),
        parked_at=_now(),
        published=0,
    )


def listed(store: ViewStore, consumer: str | None = None, key: bytes | None = None) -> list[Parked]:
    """Parked messages in the order they would be retried: per key, in offset order."""
    d = dead_letters_table.c
    statement = select(dead_letters_table).order_by(d.consumer, d.key, d.partition, d.offset)
    if consumer is not None:
        statement = statement.where(d.consumer == consumer)
    if key is not None:
        statement = statement.where(d.key == key)
    with store.reading() as tx:
        return [_parked(r) for r in tx.execute(statement)]


def depth(store: ViewStore) -> dict[str, int]:
    """Parked messages per consumer."""
    d = dead_letters_table.c
    with store.reading() as tx:
        rows = tx.execute(select(d.consumer, func.count().label("n")).group_by(d.consumer))
        return {str(r.consumer): int(r.n) for r in rows}


def remove(tx: Tx, item: Parked) -> None:
    d = dead_letters_table.c
    tx.execute(
        dead_letters_table.delete().where(
            d.consumer == item.consumer,
            d.topic == item.topic,
            d.partition == item.partition,
            d.offset == item.offset,
        )
    )


def fail_again(tx: Tx, item: Parked, reason: str) -> None:
    d = dead_letters_table.c
    tx.execute(
        update(dead_letters_table)
        .where(
            d.consumer == item.consumer,
            d.topic == item.topic,
            d.partition == item.partition,
            d.offset == item.offset,
        )
        .values(reason=reason[:2000], failed=1)
    )


def discard(
    store: ViewStore,
    consumer: str,
    key: bytes | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> int:
    """Drop parked messages for good: one (partition and offset), or every one of a key."""
    d = dead_letters_table.c
    condition = [d.consumer == consumer]
    if key is not None:
        condition.append(d.key == key)
    if partition is not None:
        condition.append(d.partition == partition)
    if offset is not None:
        condition.append(d.offset == offset)
    with store.transaction() as tx:
        return int(tx.execute(dead_letters_table.delete().where(*condition)).rowcount)


def forget_consumer(tx: Tx, consumer: str) -> int:
    d = dead_letters_table.c
    return int(tx.execute(dead_letters_table.delete().where(d.consumer == consumer)).rowcount)


Send = Callable[[str, bytes, bytes], Any]


def publish_pending(store: ViewStore, consumer: str, send: Send, flush: Callable[[], None]) -> int:
    """Put parked messages not yet on the dead-letter topic there, then mark them."""
    d = dead_letters_table.c
    with store.reading() as tx:
        pending = [
            _parked(r)
            for r in tx.execute(
                select(dead_letters_table)
                .where(d.consumer == consumer, d.published == 0)
                .order_by(d.partition, d.offset)
                .limit(1000)
            )
        ]
    if not pending:
        return 0
    for item in pending:
        send(item.consumer, item.key, item.message())
    flush()
    with store.transaction() as tx:
        for item in pending:
            tx.execute(
                update(dead_letters_table)
                .where(
                    d.consumer == item.consumer,
                    d.topic == item.topic,
                    d.partition == item.partition,
                    d.offset == item.offset,
                )
                .values(published=1)
            )
    return len(pending)


def grouped_by_key(items: Sequence[Parked]) -> dict[tuple[str, bytes], list[Parked]]:
    groups: dict[tuple[str, bytes], list[Parked]] = {}
    for item in items:
        groups.setdefault((item.consumer, item.key), []).append(item)
    return groups
