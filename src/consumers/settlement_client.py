"""A settlement subscriber: which cards must a hospital or pharmacy refuse right now?

For settlement systems (HIS, the medical-insurance platform). It depends on nothing of the back
office but the published contract of ``sscard.settlement`` (the JSON Schema in
``contracts/schemas/settlement-status.schema.json``) and a Kafka client: copy this one file.

- It bootstraps from the compacted topic: every partition from its beginning up to the end
  offsets seen at start, keeping the latest status per card number (the message key);
- then follows the topic, and answers ``is_blocked(card_number)`` from memory;
- ``caught_up`` (and ``wait_caught_up``) say when the bootstrap is done: before that an answer
  may be stale.

Every status but ``active`` refuses settlement (``blocked``: may come back, ``cancelled``: for
good). A card the topic never named is unknown (``status`` returns None; ``is_blocked`` False).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

ACTIVE = "active"


@dataclass(frozen=True)
class CardSettlement:
    card_number: str
    status: str
    since: str
    reason: str

    @property
    def blocked(self) -> bool:
        return self.status != ACTIVE


class Contract:
    """What the JSON Schema says a message must hold: required fields, the known statuses and
    the shape of a card number. Checked on every message (a full JSON Schema validator costs
    more than the rest of the bootstrap together)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.required = tuple(schema.get("required", ()))
        properties = schema.get("properties", {})
        self.statuses = frozenset(
            self._resolve(schema, properties.get("status", {})).get("enum", ())
        )
        pattern = properties.get("card_number", {}).get("pattern")
        self.card_pattern = re.compile(pattern) if pattern else None

    @staticmethod
    def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            resolved: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
            return resolved
        return node

    @classmethod
    def from_file(cls, path: str) -> Contract:
        with open(path, encoding="utf-8") as file:
            return cls(json.load(file))

    def problem(self, message: Any) -> str | None:
        if not isinstance(message, dict):
            return "not a JSON object"
        missing = [name for name in self.required if name not in message]
        if missing:
            return f"missing {', '.join(missing)}"
        if self.statuses and message["status"] not in self.statuses:
            return f"unknown status {message['status']!r}"
        if self.card_pattern and not self.card_pattern.fullmatch(str(message["card_number"])):
            return "malformed card number"
        return None


class SettlementSubscriber:
    """The blocklist of one Kafka cluster's ``sscard.settlement`` topic, in memory."""

    def __init__(
        self,
        bootstrap_servers: str,
        contract: Contract,
        topic: str = "sscard.settlement",
        on_change: Callable[[CardSettlement], None] | None = None,
        client_id: str = "settlement-subscriber",
        poll_ms: int = 100,
    ) -> None:
        self.topic = topic
        self._contract = contract
        self._on_change = on_change
        self._poll_ms = poll_ms
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": None,  # no group: every subscriber reads every partition
            "client_id": client_id,
            "enable_auto_commit": False,
            # Following: a status change is handed over within tens of milliseconds.
            "fetch_max_wait_ms": 20,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
        }
        # card number -> (status, since, reason); status and reason strings are shared.
        self._cards: dict[str, tuple[str, str, str]] = {}
        self._interned: dict[str, str] = {}
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.messages = 0
        self.invalid = 0
        self.error: BaseException | None = None

    # ---- answers ---------------------------------------------------------------------------

    def is_blocked(self, card_number: str) -> bool:
        found = self._cards.get(card_number)
        return found is not None and found[0] != ACTIVE

    def status(self, card_number: str) -> CardSettlement | None:
        found = self._cards.get(card_number)
        return None if found is None else CardSettlement(card_number, *found)

    def cards(self) -> dict[str, tuple[str, str, str]]:
        """Every card's (status, since, reason), a copy."""
        return dict(self._cards)

    def __len__(self) -> int:
        return len(self._cards)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._caught_up.is_set():
            if self.error is not None:
                raise RuntimeError(f"the subscriber failed: {self.error}") from self.error
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._caught_up.wait(0.05 if left is None else min(left, 0.05))
        return True

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> SettlementSubscriber:
        """Bootstrap and follow in a background thread."""
        self._thread = threading.Thread(target=self._run_safely, name="settlement", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            log.exception("settlement subscriber stopped")

    def run(self) -> None:
        """Bootstrap, then follow until ``stop``; in the calling thread."""
        consumer = KafkaConsumer(**self._config)
        try:
            partitions = self._partitions(consumer)
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            targets = consumer.end_offsets(partitions)
            pending = {tp for tp in partitions if targets[tp] > 0}
            if not pending:
                self._caught_up.set()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=self._poll_ms).values():
                    for record in records:
                        self._take(record.key, record.value)
                if pending:
                    pending = {tp for tp in pending if consumer.position(tp) < targets[tp]}
                    if not pending:
                        log.debug("caught up: %d cards", len(self._cards))
                        self._caught_up.set()
        finally:
            consumer.close()

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        deadline = time.monotonic() + 30
        while True:
            found = consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {self.topic} not found")
            time.sleep(0.2)

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        self.messages += 1
        if value is None:  # a tombstone: the card is gone from the topic
            if key is not None:
                self._cards.pop(key.decode(), None)
            return
        try:
            message = json.loads(value)
        except ValueError:
            self.invalid += 1
            return
        if self._contract.problem(message) is not None:
            self.invalid += 1
            return
        intern = self._interned.setdefault
        card = message["card_number"]
        status = intern(message["status"], message["status"])
        reason = intern(message["reason"], message["reason"])
        self._cards[card] = (status, message["since"], reason)
        if self._on_change is not None:
            self._on_change(CardSettlement(card, status, message["since"], reason))


def main(argv: list[str]) -> int:
    """``python settlement_client.py BOOTSTRAP SCHEMA.json [CARD...]``: bootstrap, then print
    whether each card is blocked (a smoke test for a settlement system's operators)."""
    bootstrap, schema, *cards = argv
    subscriber = SettlementSubscriber(bootstrap, Contract.from_file(schema)).start()
    subscriber.wait_caught_up()
    for card in cards:
        print(card, "blocked" if subscriber.is_blocked(card) else "not blocked")
    subscriber.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
