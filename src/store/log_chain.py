"""The log's own hash chain, kept beside the read models: one row per stored record, in log
order, with the record's digest (``store.chain``) and a running digest of the whole log up to it.

A per-stream chain cannot see a stream's last event altered or removed, or events of different
streams swapped in the log; this one can. The audit follower (``sscard run``'s worker, on the
tracking runner) keeps it moments behind the store; ``sscard audit verify-chain``
(``replay.verify_chain``) compares it with the store. ``sscard db migrate`` rewrites records, so
it has the log audited afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from hashlib import sha256
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import BigInteger, Column, Table, Text, select

from store.chain import record_digest
from store.keystore import RawRecord
from store.opened import OpenedStore
from tracking.board import Board
from tracking.follow import Batch, Commit, Follower, StorePositions
from tracking.runner import Pulse, Runner
from tracking.source import StoreFeed
from tracking.store import Tx, ViewStore, metadata

AUDIT = "audit_log"

log_chain_table = Table(
    "sscard_log_chain",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("stream_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("digest", Text, nullable=False),  # the record's digest (store.chain)
    Column("chain", Text, nullable=False),  # running digest of the log up to this position
)


def running_digest(previous: str, digest: str) -> str:
    return sha256(f"{previous}\n{digest}".encode()).hexdigest()


def streams_of(records: Iterable[RawRecord]) -> Iterator[list[RawRecord]]:
    current: list[RawRecord] = []
    for record in records:
        if current and record.stream_id != current[0].stream_id:
            yield current
            current = []
        current.append(record)
    if current:
        yield current


class LogChainHandler:
    """The audit follower's handler: each batch's rows and the position, in one transaction."""

    def handle(self, batch: Batch[int, Notification], commit: Commit, pulse: Pulse) -> None:
        del pulse

        def chain_them(tx: Tx) -> None:
            t = log_chain_table.c
            last = tx.execute(select(t.chain).order_by(t.position.desc()).limit(1)).first()
            chain = str(last[0]) if last else ""
            rows: list[dict[str, Any]] = []
            for n in batch.items:
                stream = (
                    n.originator_id
                    if isinstance(n.originator_id, UUID)
                    else UUID(str(n.originator_id))
                )
                digest = record_digest(stream, n.originator_version, n.topic, n.state)
                chain = running_digest(chain, digest)
                rows.append(
                    {
                        "position": n.id,
                        "stream_id": str(stream),
                        "version": n.originator_version,
                        "digest": digest,
                        "chain": chain,
                    }
                )
            if rows:
                tx.execute(log_chain_table.insert(), rows)

        commit(chain_them)


def log_chain_follower(store: OpenedStore, batch_size: int = 500) -> Follower[int, Notification]:
    """The audit follower: every stored record, in log order, into ``sscard_log_chain``."""
    store.views.create([log_chain_table])
    store.views.ensure_position(AUDIT)
    feed: StoreFeed[Notification] = StoreFeed(store.source, lambda n: n)
    return Follower(AUDIT, feed, StorePositions(store.views), LogChainHandler(), batch_size)


def log_chain_runner(store: OpenedStore) -> Runner:
    """``sscard run``'s audit worker: keeps the log chain moments behind the store."""
    return Runner(
        AUDIT,
        follower=log_chain_follower(store),
        board=Board(store.views, AUDIT),
        idle_wait=1.0,
    )


def forget_log_chain(views: ViewStore) -> None:
    """After ``sscard db migrate`` rewrote records: the log is audited afresh from position 0."""
    views.create([log_chain_table])
    views.ensure_position(AUDIT)
    views.reset(AUDIT, [log_chain_table])
