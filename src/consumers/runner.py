"""A read model's Kafka consumer as a follower under the one runner: the source is the topic
in a consumer group, the positions its partition offsets in the view store, the handler applies
and parks. Outages of the database or Kafka are the runner's to wait out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.dead_letters import dead_letters_table
from consumers.kafka_source import Consumer, KafkaSource
from consumers.view_consumer import ApplyRecords
from tracking.board import Board
from tracking.envelopes import ReadModel, view_tables
from tracking.follow import Follower
from tracking.kafka_dependency import KAFKA
from tracking.partition_offsets import KafkaPositions, PartitionOffsets, offsets_table
from tracking.runner import DATABASE, Runner
from tracking.store import ViewStore


class ViewConsumer:
    """One instance of a read model's consumer (several may share the group's partitions)."""

    def __init__(
        self,
        model: ReadModel,
        store: ViewStore,
        topic: str,
        new_consumer: Callable[[], Consumer],
        batch_size: int = 500,
        publish_dead_letters: Callable[[], object] | None = None,
        poll_ms: int = 200,
        ensure_topics: Callable[[], object] | None = None,
        group_members: Callable[[], int] | None = None,
    ) -> None:
        self.model = model
        # Passed before the consumer joins its group: the topic must exist first.
        self._ensure_topics = ensure_topics
        self.store = store
        self.positions = KafkaPositions(store, topic)
        self.source = KafkaSource(
            model.name, topic, self.positions, new_consumer, poll_ms, group_members=group_members
        )
        self._publish_dead_letters = publish_dead_letters
        self.handler = ApplyRecords(model, store, publish_dead_letters)
        self.follower: Follower[PartitionOffsets, Any] = Follower(
            model.name, self.source, self.positions, self.handler, batch_size
        )

    def prepare(self) -> None:
        if self._ensure_topics is not None:
            self._ensure_topics()
        self.store.create((*view_tables(self.model), offsets_table, dead_letters_table))

    def runner(self, board: Board | None = None, name: str | None = None) -> Runner:
        """``name``: the worker's, in its log lines (a view reading two topics has two)."""
        return Runner(
            self.model.name if name is None else name,
            follower=self.follower,
            board=board,
            dependencies=(DATABASE, KAFKA),
            prepare=self.prepare,
        )

    def close(self) -> None:
        self.source.close()
        close_publisher = getattr(self._publish_dead_letters, "close", None)
        if close_publisher is not None:
            close_publisher()
