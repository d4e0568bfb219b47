"""What the relay publishes, byte for byte, held to a committed fixture.

The Java client and the settlement subscriber read these bytes; a refactoring of the framing must
not change one of them. ``tests/fixtures/published_messages.json`` holds the stored forms of a
store with every event type (card lifecycle, erasure, claims, internal bookkeeping) and, for each,
the messages the relay sent for it when the fixture was made (topic, key, value, headers): none
for bookkeeping, one card-events or reimbursement-events message, plus the settlement-status
messages a card event causes.

A deliberate contract change bumps ``ENVELOPE_VERSION``, regenerates ``contracts/`` and this
fixture (``python -m tests.unit.test_published_bytes``), and says so in the commit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.utils import get_topic, resolve_topic

from contract.envelope import public_envelope
from contract.public_form import StoredForm
from relay.topics import Topics
from relay.wire import Message, messages_for

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "published_messages.json"
TOPICS = Topics()


def _message(message: Message) -> dict[str, Any]:
    return {
        "topic": message.topic,
        "key": message.key.decode(),
        "value": message.value.decode(),
        "headers": [[name, value.decode()] for name, value in message.headers],
    }


def _stored(record: dict[str, Any]) -> StoredForm:
    return StoredForm(record["position"], resolve_topic(record["topic"]), record["form"])


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["records"]
    return records


def test_every_published_byte_is_what_it_was():
    records = _records()
    for record in records:
        sent = [_message(m) for m in messages_for(_stored(record), TOPICS)]
        assert sent == record["messages"], f"{record['topic']} at {record['position']}"


def test_the_fixture_covers_every_topic_and_some_bookkeeping():
    topics = {m["topic"] for r in _records() for m in r["messages"]}
    assert topics == {TOPICS.card_events, TOPICS.reimbursement_events, TOPICS.settlement}
    assert any(not r["messages"] for r in _records()), "bookkeeping is never published"
    assert len({r["topic"] for r in _records() if r["messages"]}) >= 16


def test_a_replay_hands_the_views_the_published_envelope():
    for record in _records():
        if not record["messages"]:
            continue
        value = record["messages"][0]["value"].encode()
        envelope = public_envelope(_stored(record))
        assert orjson.dumps(envelope) == value, f"{record['topic']} at {record['position']}"


def _regenerate() -> None:
    from tests.unit.test_disclosure import stored_forms

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    records = [
        {
            "position": stored.position,
            "topic": get_topic(stored.event_type),
            "form": stored.form,
            "messages": [_message(m) for m in messages_for(stored, TOPICS)],
        }
        for stored in stored_forms()
    ]
    document = {"made_with": commit, "records": records}
    FIXTURE.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    _regenerate()
