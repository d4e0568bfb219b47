"""Positions of followers of a Kafka topic: per partition, the offset of the last message
applied, kept in the view store and moved in the view's own transaction.

A position is a map partition -> last applied offset (a partition absent: nothing applied yet;
the consumer reads it from the beginning). Moving it is a compare-and-set per partition, so two
consumers that both believe they own a partition (one of them a zombie of an old generation of
the group) cannot both record the same stretch: the second one's whole transaction, view
change included, is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, Column, Integer, Table, Text, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tracking.store import PositionConflict, Tx, ViewStore, metadata

PartitionOffsets = dict[int, int]

offsets_table = Table(
    "sscard_kafka_offsets",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("last_offset", BigInteger, nullable=False),
)


class KafkaPositions:
    """``Positions[PartitionOffsets]`` for consumers of one topic."""

    def __init__(self, store: ViewStore, topic: str) -> None:
        self.store = store
        self.topic = topic

    def ensure(self, name: str) -> None:
        del name  # one table for every consumer; its rows appear with the first batch
        self.store.create((offsets_table,))

    def load(self, name: str, partitions: Iterable[int] | None = None) -> PartitionOffsets:
        with self.store.reading() as tx:
            return self.read(tx, name, partitions)

    def read(self, tx: Tx, name: str, partitions: Iterable[int] | None = None) -> PartitionOffsets:
        o = offsets_table.c
        statement = select(o.partition, o.last_offset).where(
            o.consumer == name, o.topic == self.topic
        )
        if partitions is not None:
            statement = statement.where(o.partition.in_(list(partitions)))
        return {int(r.partition): int(r.last_offset) for r in tx.execute(statement)}

    def record(self, tx: Tx, name: str, start: PartitionOffsets, end: PartitionOffsets) -> None:
        o = offsets_table.c
        for partition, offset in sorted(end.items()):
            if start.get(partition) == offset:
                continue
            if partition in start:
                moved = tx.execute(
                    update(offsets_table)
                    .where(
                        o.consumer == name,
                        o.topic == self.topic,
                        o.partition == partition,
                        o.last_offset == start[partition],
                    )
                    .values(last_offset=offset)
                ).rowcount
            else:
                # Inserted by nobody else meanwhile: DO NOTHING returns no row if one was.
                # (Not rowcount: SQLAlchemy 2.1 on psycopg reports -1 for a Core INSERT.)
                insert = pg_dialect.insert if tx.dialect == "postgres" else sqlite_dialect.insert
                moved = len(
                    tx.execute(
                        insert(offsets_table)
                        .values(
                            consumer=name,
                            topic=self.topic,
                            partition=partition,
                            last_offset=offset,
                        )
                        .on_conflict_do_nothing()
                        .returning(o.partition)
                    ).all()
                )
            if moved != 1:
                raise PositionConflict(
                    f"{name}: partition {partition} of {self.topic} is no longer at "
                    f"{start.get(partition)}"
                )

    def forget(self, tx: Tx, name: str) -> None:
        o = offsets_table.c
        tx.execute(offsets_table.delete().where(o.consumer == name, o.topic == self.topic))
