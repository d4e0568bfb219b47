"""Who may do what on the back office's Kafka topics: the one declared table.

The broker's ACLs are created from it (``devinfra.kafka_security``), and the AsyncAPI contract
states it (each channel's readers and writers). Whatever the table does not grant is refused:
the broker runs with ``allow.everyone.if.no.acl.found=false``, and only the broker's own
principal is a super user.

Kafka's ACLs bind a principal to a resource, not a consumer group to a topic: a group's rows
say which topics its members read, and what the broker enforces is the union for the principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relay.topics import Topics

# The SCRAM principals. The broker's own (also the administrator that applies this table) is a
# super user and needs no row.
BROKER = "admin"
BACKOFFICE = "backoffice"
SETTLEMENT = "settlement"
ANALYTICS = "analytics"
PRINCIPALS = (BROKER, BACKOFFICE, SETTLEMENT, ANALYTICS)

Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write", "create", "describe", "describe_configs"]


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operations: tuple[Operation, ...]
    why: str


def read_model_groups(topics: Topics) -> str:
    """The prefix of every read model's consumer group (``<prefix>.view.<view>[.<feed>]``)."""
    return f"{topics.prefix}.view."


def settlement_groups(topics: Topics) -> str:
    return f"{topics.prefix}.settlement."


def analytics_groups(topics: Topics) -> str:
    return f"{topics.prefix}.analytics."


def public_topics(topics: Topics) -> tuple[str, ...]:
    """What analysts may read: the public event streams, never settlement or dead letters."""
    return (topics.card_events, topics.reimbursement_events)


def access_table(topics: Topics) -> tuple[Grant, ...]:
    """Every grant, for the topics under one prefix."""
    owned = (topics.card_events, topics.settlement, topics.reimbursement_events, topics.dead_letter)
    published = (topics.card_events, topics.settlement, topics.reimbursement_events)
    return (
        *(
            Grant(
                BACKOFFICE,
                "topic",
                name,
                "literal",
                ("create", "describe", "describe_configs"),
                "the back office creates and checks its topics (sscard run, sscard topics)",
            )
            for name in owned
        ),
        *(
            Grant(BACKOFFICE, "topic", name, "literal", ("write",), "the relay publishes")
            for name in published
        ),
        Grant(
            BACKOFFICE,
            "topic",
            topics.dead_letter,
            "literal",
            ("write",),
            "the read models' consumers park failed messages",
        ),
        *(
            Grant(
                BACKOFFICE,
                "topic",
                name,
                "literal",
                ("read",),
                "the read models' consumers (sscard run) and sscard verify's lag check",
            )
            for name in public_topics(topics)
        ),
        Grant(
            BACKOFFICE,
            "group",
            read_model_groups(topics),
            "prefixed",
            ("read",),
            "each read model's consumer group, one per view and topic",
        ),
        Grant(
            BACKOFFICE,
            "topic",
            topics.settlement,
            "literal",
            ("read",),
            "sscard settlement check/follow and the latency bench (no group)",
        ),
        Grant(
            SETTLEMENT,
            "topic",
            topics.settlement,
            "literal",
            ("read",),
            "settlement systems bootstrap their blocklist and follow it",
        ),
        Grant(
            SETTLEMENT,
            "group",
            settlement_groups(topics),
            "prefixed",
            ("read",),
            "settlement systems that commit offsets in a group of their own",
        ),
        *(
            Grant(ANALYTICS, "topic", name, "literal", ("read",), "analysts read public events")
            for name in public_topics(topics)
        ),
        Grant(
            ANALYTICS,
            "group",
            analytics_groups(topics),
            "prefixed",
            ("read",),
            "analysts' consumer groups",
        ),
    )


def principals_that(topics: Topics, topic: str, operation: Operation) -> tuple[str, ...]:
    """Who the table lets do ``operation`` on ``topic`` (the broker's own principal aside)."""
    found = [
        grant.principal
        for grant in access_table(topics)
        if grant.resource == "topic"
        and operation in grant.operations
        and (topic == grant.name if grant.pattern == "literal" else topic.startswith(grant.name))
    ]
    return tuple(dict.fromkeys(found))
