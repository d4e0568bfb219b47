"""The relay's partitioner picks exactly the partition kafka-python's (and Java's) would: per-key
order and compaction on the settlement topic depend on it."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.cluster import ClusterMetadata
from kafka.partitioner.default import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_murmur2

from relay.partitioner import CachedMurmur2Partitioner, murmur2


@given(st.binary(max_size=200))
@settings(max_examples=3000)
def test_murmur2_equals_kafka_pythons_on_any_bytes(data: bytes):
    assert murmur2(data) == kafka_murmur2(data)


class _Cluster(ClusterMetadata):
    """Just enough metadata: ``partitions`` partitions per topic, all available."""

    def __init__(self, partitions: int) -> None:
        super().__init__()
        self._count = partitions

    def topics(self, exclude_internal_topics: bool = True) -> set[str]:  # noqa: ARG002
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:  # noqa: ARG002
        return set(range(self._count))

    def available_partitions_for_topic(self, topic: str) -> set[int]:  # noqa: ARG002
        return set(range(self._count))


def test_partitions_equal_kafka_pythons_for_holder_ids_and_card_numbers():
    rng = random.Random(11)
    keys = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(20_000)]
    keys += [f"{rng.choice('ABCDEFGH')}{rng.randrange(10**8):08d}".encode() for _ in range(20_000)]
    ours, theirs = CachedMurmur2Partitioner(cache_size=1000), DefaultPartitioner()
    for partitions in (1, 3, 7, 12):
        cluster = _Cluster(partitions)
        # Twice over: the second pass is answered from the cache (and evicts as it goes).
        for key in keys + keys[:5000]:
            assert ours.partition("t", key, key, None, None, cluster) == theirs.partition(
                "t", key, key, None, None, cluster
            )
