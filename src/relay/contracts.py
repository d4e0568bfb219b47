"""The public contracts, generated from the pydantic models: JSON Schema for every message value
and event payload, and an AsyncAPI 3 document for the topics. ``contracts/`` in the repository
holds the generated files; a test fails when they drift from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contract.envelope import (
    CLAIM_TYPED_ENVELOPES,
    ENVELOPE_VERSION,
    TYPED_ENVELOPES,
    CardEventMessage,
    ClaimEventMessage,
    SettlementStatusMessage,
)
from contract.public_form import PUBLIC_MODELS
from domain.event import DomainEvent, current_schema_version
from relay.access import PRINCIPALS, principals_that
from relay.topics import Topics, topic_specs
from relay.wire import CARD_EVENT_HEADERS

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The schema of an event's PUBLIC payload (what consumers receive), not the stored event."""
    schema = PUBLIC_MODELS[cls].model_json_schema(mode="serialization")
    schema["$id"] = f"urn:sscard:event:{cls.__name__}:v{current_schema_version(cls)}"
    schema["$schema"] = DRAFT
    return schema


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def card_events_schema() -> dict[str, Any]:
    schema = CardEventMessage.model_json_schema(mode="serialization")
    schema["title"] = "sscard.card-events message value"
    schema["$schema"] = DRAFT
    schema["$id"] = f"urn:sscard:message:card-events:v{ENVELOPE_VERSION}"
    return schema


def claim_events_schema() -> dict[str, Any]:
    schema = ClaimEventMessage.model_json_schema(mode="serialization")
    schema["title"] = "sscard.reimbursement-events message value"
    schema["$schema"] = DRAFT
    schema["$id"] = f"urn:sscard:message:reimbursement-events:v{ENVELOPE_VERSION}"
    return schema


def settlement_schema() -> dict[str, Any]:
    schema = SettlementStatusMessage.model_json_schema(mode="serialization")
    schema["$schema"] = DRAFT
    schema["$id"] = "urn:sscard:message:settlement-status:v1"
    return schema


def asyncapi(topics: Topics) -> dict[str, Any]:
    mode: Literal["serialization"] = "serialization"
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, mode) for m in (*TYPED_ENVELOPES.values(), *CLAIM_TYPED_ENVELOPES.values())
    ]
    models.append((SettlementStatusMessage, mode))
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    specs = {spec.name: spec for spec in topic_specs(topics)}
    string_headers = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in CARD_EVENT_HEADERS},
    }

    def event_message(name: str, envelope: type[BaseModel], key: str) -> dict[str, Any]:
        return {
            "name": name,
            "title": name,
            "summary": (envelope.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": string_headers,
            "payload": {"$ref": f"#/components/schemas/{name}Message"},
            "bindings": {
                "kafka": {"key": {"type": "string", "format": "uuid", "description": key}}
            },
        }

    messages: dict[str, Any] = {
        name: event_message(name, envelope, "holder stream id")
        for name, envelope in TYPED_ENVELOPES.items()
    }
    messages |= {
        name: event_message(name, envelope, "claim id")
        for name, envelope in CLAIM_TYPED_ENVELOPES.items()
    }
    messages["SettlementStatus"] = {
        "name": "SettlementStatus",
        "title": "Current settlement status of one card",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/SettlementStatusMessage"},
        "bindings": {
            "kafka": {"key": {"type": "string", "pattern": "^[0-9A-Z]{9}$"}},
        },
    }

    def binding(name: str) -> dict[str, Any]:
        spec = specs[name]
        return {
            "kafka": {
                "topic": name,
                "partitions": spec.partitions,
                "replicas": spec.replication_factor,
                "topicConfiguration": {
                    "cleanup.policy": [spec.required["cleanup.policy"]],
                    **(
                        {"retention.ms": int(spec.defaults["retention.ms"])}
                        if "retention.ms" in spec.defaults
                        else {}
                    ),
                },
            }
        }

    def access(name: str) -> dict[str, Any]:
        return {
            "read": list(principals_that(topics, name, "read")),
            "write": list(principals_that(topics, name, "write")),
        }

    card_event_refs = {n: {"$ref": f"#/components/messages/{n}"} for n in TYPED_ENVELOPES}
    claim_event_refs = {n: {"$ref": f"#/components/messages/{n}"} for n in CLAIM_TYPED_ENVELOPES}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "sscard: social security card loss and replacement events",
            "version": f"{ENVELOPE_VERSION}.0.0",
            "description": (
                "The public form of every stored card lifecycle and reimbursement claim event, "
                "published in store order by the relay (at least once; drop duplicates by "
                "stream_id + stream_version), and the current settlement status of every card "
                "on a compacted topic. No topic carries an ID number, a full name or a claim's "
                "medical details: holders appear by opaque stream id, with masked forms "
                "(王**, 110105***********X) and derived facts (age band) only."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "the local single-node broker (sscard infra up), no security",
            },
            "secured": {
                "host": "{brokers}",
                "protocol": "kafka-secure",
                "description": (
                    "A broker as production runs it: TLS (the brokers' CA in KAFKA_SSL_CAFILE), "
                    "SASL/SCRAM (KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SASL_MECHANISM, "
                    "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD) and ACLs: a principal reads and "
                    "writes only what each channel's x-access names; nothing else is allowed. "
                    "`sscard infra up --kafka --secure` runs one locally."
                ),
                "variables": {
                    "brokers": {
                        "default": "127.0.0.1:19092",
                        "description": "host:port of the brokers' SASL_SSL listener",
                    }
                },
                "security": [
                    {"$ref": "#/components/securitySchemes/scramSha512"},
                    {"$ref": "#/components/securitySchemes/scramSha256"},
                ],
            },
        },
        "channels": {
            "cardEvents": {
                "address": topics.card_events,
                "description": (
                    "All lifecycle events, public form; key = holder stream id; ordered per key."
                ),
                "messages": card_event_refs,
                "bindings": binding(topics.card_events),
                "x-access": access(topics.card_events),
            },
            "settlement": {
                "address": topics.settlement,
                "description": (
                    "Compacted: the latest message per card number is its current status. "
                    "Bootstrap a blocklist by reading from the beginning, then follow. The "
                    "address is <prefix>.settlement, the prefix being the deployment's "
                    "SSCARD_TOPIC_PREFIX: subscribers take the topic as a parameter. A "
                    "subscriber confirms every few seconds that it has read each partition to "
                    "its end offset, refuses to answer past its freshness bound, and treats a "
                    "message breaking this schema as a suspect (blocked) card."
                ),
                "messages": {
                    "SettlementStatus": {"$ref": "#/components/messages/SettlementStatus"}
                },
                "bindings": binding(topics.settlement),
                "x-access": access(topics.settlement),
            },
            "reimbursementEvents": {
                "address": topics.reimbursement_events,
                "description": (
                    "Reimbursement claim events, public form (status, amounts, dates; no "
                    "medical details); key = claim id; ordered per key."
                ),
                "messages": claim_event_refs,
                "bindings": binding(topics.reimbursement_events),
                "x-access": access(topics.reimbursement_events),
            },
        },
        "operations": {
            "publishCardEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/cardEvents"},
                "messages": [
                    {"$ref": f"#/channels/cardEvents/messages/{n}"} for n in TYPED_ENVELOPES
                ],
            },
            "publishReimbursementEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/reimbursementEvents"},
                "messages": [
                    {"$ref": f"#/channels/reimbursementEvents/messages/{n}"}
                    for n in CLAIM_TYPED_ENVELOPES
                ],
            },
            "publishSettlementStatus": {
                "action": "send",
                "channel": {"$ref": "#/channels/settlement"},
                "messages": [{"$ref": "#/channels/settlement/messages/SettlementStatus"}],
            },
            **_reader_operations(
                topics,
                {
                    "cardEvents": topics.card_events,
                    "settlement": topics.settlement,
                    "reimbursementEvents": topics.reimbursement_events,
                },
            ),
        },
        "components": {
            "messages": messages,
            "schemas": defs["$defs"],
            "securitySchemes": {
                mechanism: {
                    "type": mechanism,
                    "description": (
                        f"SASL/{label} over TLS. Principals: {', '.join(PRINCIPALS)} (the "
                        "first is the brokers' own)."
                    ),
                }
                for mechanism, label in (
                    ("scramSha512", "SCRAM-SHA-512"),
                    ("scramSha256", "SCRAM-SHA-256"),
                )
            },
        },
    }


def _reader_operations(topics: Topics, channels: dict[str, str]) -> dict[str, Any]:
    """One receive operation per principal the access table lets read a channel."""
    operations: dict[str, Any] = {}
    for channel, topic in channels.items():
        for principal in principals_that(topics, topic, "read"):
            operations[f"{principal}Receives{channel[0].upper()}{channel[1:]}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"the {principal} principal reads {topic}",
                "security": [
                    {"$ref": "#/components/securitySchemes/scramSha512"},
                    {"$ref": "#/components/securitySchemes/scramSha256"},
                ],
            }
    return operations


def build_contracts(topics: Topics | None = None) -> dict[str, str]:
    """Every contract file, by path relative to the contracts directory."""
    files = {
        "asyncapi.json": _json(asyncapi(topics or Topics())),
        "schemas/card-events.schema.json": _json(card_events_schema()),
        "schemas/reimbursement-events.schema.json": _json(claim_events_schema()),
        "schemas/settlement-status.schema.json": _json(settlement_schema()),
    }
    for cls in PUBLIC_MODELS:
        files[f"schemas/events/{cls.__name__}.schema.json"] = _json(event_schema(cls))
    return files


def export_contracts(directory: Path) -> list[Path]:
    written = []
    for relative, text in build_contracts().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
