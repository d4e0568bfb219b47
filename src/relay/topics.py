"""The topics the back office owns, created when missing and checked when present.

A topic that exists with a different cleanup policy or partition count is refused, not
"fixed": compaction decides whether settlement systems can bootstrap from the topic, and the
partition count decides which partition a key lands on, so either silently differing would break
the guarantees consumers rely on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (``sscard`` in production; tests use their own)."""

    prefix: str = "sscard"

    @property
    def card_events(self) -> str:
        return f"{self.prefix}.card-events"

    @property
    def settlement(self) -> str:
        return f"{self.prefix}.settlement"

    @property
    def reimbursement_events(self) -> str:
        return f"{self.prefix}.reimbursement-events"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"


YEAR_MS = 365 * 24 * 3600 * 1000


class TopicConfigConflict(RuntimeError):
    """An existing topic contradicts the configuration the back office needs."""


class TopicAccessRefused(RuntimeError):
    """The broker's ACLs do not let this principal see or create a topic of ours."""


# Kafka's TOPIC_AUTHORIZATION_FAILED: the broker answers it for a topic the principal may not
# describe, whether or not the topic exists.
_NOT_AUTHORIZED = 29


def _refused(names: list[str]) -> TopicAccessRefused:
    return TopicAccessRefused(
        f"the broker's ACLs refuse this principal access to {', '.join(names)}: check "
        "KAFKA_SASL_USERNAME, or apply the access table for this topic prefix (relay.access)"
    )


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    # Configs that must hold exactly; a differing existing topic is refused.
    required: dict[str, str]
    # Configs we set on creation but tolerate an operator changing later (retention, segments).
    defaults: dict[str, str] = field(default_factory=dict)

    def creation(self) -> dict[str, Any]:
        return {
            "num_partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "configs": {**self.defaults, **self.required},
        }


def topic_specs(
    topics: Topics, partitions: int = 3, replication_factor: int = 1
) -> list[TopicSpec]:
    delete = {"cleanup.policy": "delete"}
    kept_a_year = {"retention.ms": str(YEAR_MS)}
    return [
        TopicSpec(topics.card_events, partitions, replication_factor, delete, kept_a_year),
        TopicSpec(
            topics.settlement,
            partitions,
            replication_factor,
            {"cleanup.policy": "compact"},
            # Compact soon after writing: a new subscriber bootstraps from few records per card.
            {"min.cleanable.dirty.ratio": "0.1", "segment.ms": str(3600 * 1000)},
        ),
        TopicSpec(topics.reimbursement_events, partitions, replication_factor, delete, kept_a_year),
        TopicSpec(topics.dead_letter, 1, replication_factor, delete, kept_a_year),
    ]


def provision(admin: KafkaAdminClient, specs: Iterable[TopicSpec]) -> list[str]:
    """Create missing topics, check existing ones. Returns the names created."""
    specs = list(specs)
    described = admin.describe_topics([s.name for s in specs])
    refused = [t["name"] for t in described if t["error_code"] == _NOT_AUTHORIZED]
    if refused:
        raise _refused(refused)
    existing = {t["name"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    missing = [s for s in specs if s.name not in existing]
    if missing:
        created = admin.create_topics(
            {s.name: s.creation() for s in missing}, wait_for_metadata=False, raise_errors=False
        )
        refused = [t["name"] for t in created["topics"] if t["error_code"] == _NOT_AUTHORIZED]
        if refused:
            raise _refused(refused)
        admin.wait_for_topics([s.name for s in missing])
        for spec in missing:
            log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
    problems = [
        problem
        for spec in specs
        if spec.name in existing
        for problem in _conflicts(admin, spec, existing[spec.name])
    ]
    if problems:
        raise TopicConfigConflict("; ".join(problems))
    # A topic created concurrently by another process is checked as well.
    for spec in missing:
        problems += _conflicts(admin, spec, _partition_count(admin, spec.name))
    if problems:
        raise TopicConfigConflict("; ".join(problems))
    return [s.name for s in missing]


def _partition_count(admin: KafkaAdminClient, name: str) -> int:
    [topic] = admin.describe_topics([name])
    return len(topic["partitions"])


def _conflicts(admin: KafkaAdminClient, spec: TopicSpec, partitions: int) -> list[str]:
    problems = []
    if partitions != spec.partitions:
        problems.append(
            f"topic {spec.name} has {partitions} partitions, the back office needs "
            f"{spec.partitions} (per-key order depends on it)"
        )
    resource = ConfigResource(ConfigResourceType.TOPIC, spec.name)
    described = admin.describe_configs([resource], config_filter="all")
    actual = {k: v["value"] for k, v in described["topic"][spec.name].items()}
    for key, wanted in spec.required.items():
        if actual.get(key) != wanted:
            problems.append(
                f"topic {spec.name} has {key}={actual.get(key)}, the back office needs {wanted}"
            )
    return problems
