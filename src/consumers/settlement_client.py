"""A settlement subscriber: which cards must a hospital or pharmacy refuse right now?

For settlement systems (HIS, the medical-insurance platform). It depends on nothing of the back
office but the published contract of the settlement topic (the JSON Schema in
``contracts/schemas/settlement-status.schema.json``), kafka-python and fastjsonschema: copy this
one file.

- It bootstraps from the compacted topic (every partition from its beginning, or from a local
  snapshot's offsets), keeping the latest status per card number (the message key), then follows
  the topic and answers from memory.
- It fails safe. At least every ``confirm_every`` seconds it asks the broker for each partition's
  end offset and confirms once it has read up to it; ``age_seconds()`` is the time since the last
  confirmation. ``is_blocked`` raises ``SubscriberStale`` when that age passes ``stale_after``, or
  when its thread has stopped: the caller decides (refuse the card, or ask the back office's HTTP
  lookup). ``status(card)`` always answers, with the age beside the card's status.
- Every message is checked against the full JSON Schema (compiled by fastjsonschema). A message
  that breaks it marks the card it names *suspect*: blocked by default, or, with
  ``suspect="raise"``, ``is_blocked`` raises ``CardSuspect`` for it. Never the previous status.
- With ``snapshot_path`` it keeps a local snapshot (card statuses and offsets, written atomically,
  mode 0600): a restart reads only what is new.

Every status but ``active`` refuses settlement (``blocked``: may come back, ``cancelled``: for
good). A card the topic never named is ``unknown`` (not blocked).

Smoke test: ``python settlement_client.py BOOTSTRAP SCHEMA.json TOPIC [CARD...]``. The Kafka
security settings come from the environment (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``,
``KAFKA_SSL_CAFILE``; see ``security_from_env``).
"""

from __future__ import annotations

import array
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import fastjsonschema
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

log = logging.getLogger(__name__)

ACTIVE = "active"
UNKNOWN = "unknown"
SUSPECT = "suspect"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"
# A card's stored value is one int: (microseconds since the epoch << _PAIR_BITS) | the index of
# its (status, reason) pair. One int per card instead of a tuple of three strings is what keeps a
# million cards near the bare consumer's memory.
_PAIR_BITS = 10
_PAIR_MASK = (1 << _PAIR_BITS) - 1
# A card number of nine [0-9A-Z] is kept as its base-36 value (an int key, not a str).
_COMPACT_CARD = re.compile(r"[0-9A-Z]{9}")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SNAPSHOT_MAGIC = b"sscard-settlement-snapshot 1\n"


class SubscriberStale(RuntimeError):
    """``is_blocked`` refuses to answer: the subscriber has not confirmed within its bound that
    it has read the topic to its end, or its thread has stopped. Refuse the card, or ask the
    back office's HTTP lookup; never treat it as "not blocked"."""

    def __init__(self, reason: str, age_seconds: float) -> None:
        super().__init__(reason)
        self.age_seconds = age_seconds


class CardSuspect(RuntimeError):
    """The card's latest message broke the contract (raised only with ``suspect="raise"``)."""


@dataclass(frozen=True)
class CardSettlement:
    """A change of one card's status, as handed to ``on_change``."""

    card_number: str
    status: str
    since: str
    reason: str

    @property
    def blocked(self) -> bool:
        return self.status != ACTIVE


@dataclass(frozen=True)
class CardStatus:
    """One card's answer: its status (``active``, ``blocked``, ``cancelled``, ``unknown`` when the
    topic never named it, ``suspect`` when its latest message broke the contract), when and why
    (for a suspect card: what broke), and how old the subscriber's knowledge is
    (``age_seconds``: seconds since it last confirmed having read everything; inf: never)."""

    card_number: str
    status: str
    since: str | None
    reason: str | None
    age_seconds: float

    @property
    def blocked(self) -> bool:
        return self.status not in (ACTIVE, UNKNOWN)


class Contract:
    """The settlement message's JSON Schema, compiled: every message is checked against all of
    it (about 2 µs a message)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema_id = str(schema.get("$id", ""))
        self._validate = fastjsonschema.compile(dict(schema))

    @classmethod
    def from_file(cls, path: str | Path) -> Contract:
        with open(path, encoding="utf-8") as file:
            return cls(json.load(file))

    def problem(self, message: Any) -> str | None:
        try:
            self._validate(message)
        except fastjsonschema.JsonSchemaException as exc:
            return str(exc)
        return None


def security_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """kafka-python's security settings from ``KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL,
    SASL_PLAINTEXT, SASL_SSL; default PLAINTEXT), ``KAFKA_SASL_MECHANISM`` (SCRAM-SHA-256 or
    SCRAM-SHA-512), ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD`` and ``KAFKA_SSL_CAFILE``
    (a PEM file of the CA). Raises ValueError, naming the variable, on a bad value."""
    protocol = environ.get("KAFKA_SECURITY_PROTOCOL", "") or "PLAINTEXT"
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: one of {SECURITY_PROTOCOLS}")
    config: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        mechanism = environ.get("KAFKA_SASL_MECHANISM", "") or SASL_MECHANISMS[0]
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={mechanism!r}: one of {SASL_MECHANISMS}")
        username = environ.get("KAFKA_SASL_USERNAME", "")
        password = environ.get("KAFKA_SASL_PASSWORD", "")
        if not username or not password:
            raise ValueError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        config |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    cafile = environ.get("KAFKA_SSL_CAFILE", "")
    if protocol.endswith("SSL") and cafile:
        if not os.path.isfile(cafile):
            raise ValueError(f"KAFKA_SSL_CAFILE={cafile!r}: no such file")
        config["ssl_cafile"] = cafile
    return config


def _compact(card: str) -> int | None:
    return int(card, 36) if _COMPACT_CARD.fullmatch(card) else None


def _card_text(code: int) -> str:
    digits = []
    for _ in range(9):
        code, digit = divmod(code, 36)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


def _micros(instant: str) -> int:
    moment = datetime.fromisoformat(instant)
    if moment.tzinfo is None:  # the schema's date-time has an offset; be sure anyway
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _instant(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).strftime(_INSTANT)


def _now_text() -> str:
    return datetime.now(UTC).strftime(_INSTANT)


class SettlementSubscriber:
    """The blocklist of one Kafka cluster's settlement topic, in memory, that knows its age.

    ``stale_after``: seconds without a confirmation after which ``is_blocked`` raises;
    ``confirm_every``: how often it asks for the end offsets; ``suspect``: ``"block"`` (default)
    or ``"raise"`` for a card whose latest message broke the contract; ``consumer_config``:
    passed to kafka-python as is (security settings, e.g. ``security_from_env()``);
    ``snapshot_path``: a local snapshot to restart from, rewritten every ``snapshot_every``
    seconds and on ``stop``."""

    def __init__(
        self,
        bootstrap_servers: str,
        contract: Contract,
        topic: str,
        on_change: Callable[[CardSettlement], None] | None = None,
        client_id: str = "settlement-subscriber",
        poll_ms: int = 100,
        stale_after: float = 10.0,
        confirm_every: float = 1.0,
        suspect: Literal["block", "raise"] = "block",
        consumer_config: Mapping[str, Any] | None = None,
        snapshot_path: str | Path | None = None,
        snapshot_every: float = 60.0,
        topic_wait: float = 30.0,
    ) -> None:
        if suspect not in ("block", "raise"):
            raise ValueError(f"suspect={suspect!r}: 'block' or 'raise'")
        if not 0 < confirm_every < stale_after:
            raise ValueError("confirm_every must be positive and below stale_after")
        self.topic = topic
        self.stale_after = stale_after
        self.confirm_every = confirm_every
        self.suspect = suspect
        self._contract = contract
        self._on_change = on_change
        self._poll_ms = poll_ms
        self._topic_wait = topic_wait
        self.snapshot_path = None if snapshot_path is None else Path(snapshot_path)
        self._snapshot_every = snapshot_every
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": None,  # no group: every subscriber reads every partition
            "client_id": client_id,
            "enable_auto_commit": False,
            # Following: a status change is handed over within tens of milliseconds.
            "fetch_max_wait_ms": 20,
            # Back after a broker restart within a second of its first answer, not up to 30 s
            # later (kafka-python's default cap on its doubling reconnect wait): a subscriber
            # must not stay behind suspensions once the broker answers again.
            "reconnect_backoff_max_ms": 1_000,
            **(consumer_config or {}),
        }
        # card code (base 36) -> packed (since, pair); cards of another shape by their text.
        self._cards: dict[int, int] = {}
        self._odd: dict[str, int] = {}
        self._suspects: dict[str, tuple[str, str]] = {}  # card -> (seen at, what broke)
        self._pairs: list[tuple[str, str]] = []
        self._pair_index: dict[tuple[str, str], int] = {}
        self._pair_blocked: list[bool] = []
        self._confirmed_at: float | None = None  # time.monotonic() of the last confirmation
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.messages = 0
        self.invalid = 0
        self.restored_from_snapshot = False
        self.error: BaseException | None = None

    @classmethod
    def from_env(
        cls,
        bootstrap_servers: str,
        contract: Contract,
        topic: str,
        environ: Mapping[str, str] = os.environ,
        **options: Any,
    ) -> SettlementSubscriber:
        """A subscriber whose Kafka security settings come from the environment."""
        config = {**security_from_env(environ), **options.pop("consumer_config", {})}
        return cls(bootstrap_servers, contract, topic, consumer_config=config, **options)

    # ---- answers ---------------------------------------------------------------------------

    def age_seconds(self) -> float:
        """Seconds since it last confirmed having read every partition to its end (inf: never)."""
        confirmed = self._confirmed_at
        return math.inf if confirmed is None else time.monotonic() - confirmed

    def refusal(self) -> str | None:
        """Why ``is_blocked`` would refuse to answer now, or None."""
        thread = self._thread
        if thread is None:
            return "the subscriber was not started"
        if self.error is not None:
            return f"the subscriber's thread failed: {self.error}"
        if not thread.is_alive():
            return "the subscriber's thread has stopped"
        age = self.age_seconds()
        if age > self.stale_after:
            if age == math.inf:
                return "not yet caught up with the topic"
            return f"not confirmed up to date for {age:.1f} s (bound {self.stale_after:g} s)"
        return None

    def is_blocked(self, card_number: str) -> bool:
        """Whether settlement on the card must be refused. Raises ``SubscriberStale`` when the
        subscriber is not fresh (see ``refusal``); a card never named is not blocked."""
        refusal = self.refusal()
        if refusal is not None:
            raise SubscriberStale(refusal, self.age_seconds())
        if self._suspects and card_number in self._suspects:
            if self.suspect == "raise":
                raise CardSuspect(f"{card_number}: {self._suspects[card_number][1]}")
            return True
        code = _compact(card_number)
        packed = self._odd.get(card_number) if code is None else self._cards.get(code)
        return packed is not None and self._pair_blocked[packed & _PAIR_MASK]

    def status(self, card_number: str) -> CardStatus:
        """The card's status and the subscriber's age; never raises."""
        age = self.age_seconds()
        suspect = self._suspects.get(card_number)
        if suspect is not None:
            return CardStatus(card_number, SUSPECT, suspect[0], suspect[1], age)
        code = _compact(card_number)
        packed = self._odd.get(card_number) if code is None else self._cards.get(code)
        if packed is None:
            return CardStatus(card_number, UNKNOWN, None, None, age)
        status, reason = self._pairs[packed & _PAIR_MASK]
        return CardStatus(card_number, status, _instant(packed >> _PAIR_BITS), reason, age)

    def cards(self) -> dict[str, tuple[str, str, str]]:
        """Every card's (status, since, reason), decoded: suspect cards with what broke."""
        found: dict[str, tuple[str, str, str]] = {}
        named = [(_card_text(code), packed) for code, packed in self._cards.items()]
        for card, packed in [*named, *self._odd.items()]:
            status, reason = self._pairs[packed & _PAIR_MASK]
            found[card] = (status, _instant(packed >> _PAIR_BITS), reason)
        for card, (seen, problem) in self._suspects.items():
            found[card] = (SUSPECT, seen, problem)
        return found

    def __len__(self) -> int:
        return len(self._cards) + len(self._odd) + len(self._suspects)

    @property
    def running(self) -> bool:
        """Its thread is alive (started and neither stopped nor failed)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def caught_up(self) -> bool:
        """Fresh now: ``is_blocked`` would answer."""
        return self.refusal() is None

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Wait for the first confirmation; False on timeout, ``SubscriberStale`` if the thread
        stopped first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._caught_up.is_set():
            if self._thread is not None and not self._thread.is_alive():
                raise SubscriberStale(self.refusal() or "stopped", self.age_seconds())
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

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            # Kafka's and our own refusals say it all in one line; anything else is a bug worth
            # its traceback.
            expected = isinstance(exc, (RuntimeError, KafkaError))
            log.error("settlement subscriber stopped: %s", exc, exc_info=not expected)

    def run(self) -> None:
        """Bootstrap, then follow until ``stop``; in the calling thread. A broker that cannot be
        reached while following is retried for ever (the age grows meanwhile), and at the start
        for ``topic_wait`` seconds; anything else ends the thread, and ``is_blocked`` refuses
        from then on."""
        connected = self._connect()
        if connected is None:
            return  # stopped before the broker answered
        consumer, partitions = connected
        try:
            self._follow(consumer, partitions)
            if self.snapshot_path is not None and self._caught_up.is_set():
                self._write_snapshot(consumer, partitions)
        finally:
            consumer.close()

    def _connect(self) -> tuple[KafkaConsumer, list[TopicPartition]] | None:
        """A consumer assigned the topic's partitions, at the snapshot's offsets or the
        beginning. A broker away (or going away meanwhile) is tried again until ``topic_wait``
        has passed since the start: a subscriber started during a broker's restart comes up
        with the broker instead of ending for good (seen under ``sscard chaos``)."""
        deadline = time.monotonic() + self._topic_wait
        while not self._stop.is_set():
            consumer: KafkaConsumer | None = None
            try:
                consumer = KafkaConsumer(**self._config)
                partitions = self._partitions(consumer, deadline)
                consumer.assign(partitions)
                if not self._restore(consumer, partitions):
                    consumer.seek_to_beginning(*partitions)
                return consumer, partitions
            except KafkaError as exc:
                if consumer is not None:
                    consumer.close()
                if time.monotonic() >= deadline:
                    raise
                log.warning("settlement subscriber: %s at the start; retrying", exc)
                self._stop.wait(0.5)
            except BaseException:
                if consumer is not None:
                    consumer.close()
                raise
        return None

    def _follow(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        target: tuple[float, dict[TopicPartition, int]] | None = None
        next_check = 0.0
        next_snapshot = 0.0
        while not self._stop.is_set():
            try:
                for records in consumer.poll(timeout_ms=self._poll_ms).values():
                    for record in records:
                        self._take(record.key, record.value, record.timestamp)
                now = time.monotonic()
                if target is None and now >= next_check:
                    target = (now, consumer.end_offsets(partitions, timeout_ms=5_000))
                    next_check = now + self.confirm_every
                if target is not None and self._reached(consumer, target[1]):
                    self._confirmed_at = target[0]
                    target = None
                    if not self._caught_up.is_set():
                        log.debug("caught up: %d cards", len(self))
                        self._caught_up.set()
                    if self.snapshot_path is not None and now >= next_snapshot:
                        next_snapshot = time.monotonic() + self._snapshot_every
                        try:
                            self._write_snapshot(consumer, partitions)
                        except OSError as exc:  # a full disk costs the next restart, no more
                            log.warning("snapshot %s not written: %s", self.snapshot_path, exc)
            except KafkaError as exc:
                # The broker is unreachable or slow: keep trying; is_blocked refuses once the
                # last confirmation is older than the bound.
                log.warning("settlement subscriber: %s; retrying", exc)
                target = None
                self._stop.wait(0.5)

    @staticmethod
    def _reached(consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        return all(consumer.position(tp, timeout_ms=5_000) >= end for tp, end in ends.items())

    def _partitions(self, consumer: KafkaConsumer, deadline: float) -> list[TopicPartition]:
        while True:
            found = consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {self.topic} not found")
            time.sleep(0.2)

    # ---- messages --------------------------------------------------------------------------

    def _pair(self, status: str, reason: str) -> int:
        pair = (status, reason)
        index = self._pair_index.get(pair)
        if index is None:
            index = len(self._pairs)
            if index > _PAIR_MASK:
                raise ValueError("more distinct (status, reason) pairs than the store holds")
            self._pairs.append(pair)
            self._pair_index[pair] = index
            self._pair_blocked.append(status != ACTIVE)
        return index

    def _forget(self, card: str) -> None:
        code = _compact(card)
        if code is None:
            self._odd.pop(card, None)
        else:
            self._cards.pop(code, None)
        self._suspects.pop(card, None)

    def _take(self, key: bytes | None, value: bytes | None, timestamp_ms: int = -1) -> None:
        """One record: ``timestamp_ms`` (the record's) dates a breach; -1: now."""
        self.messages += 1
        named = None if key is None else key.decode("utf-8", "replace")
        if value is None:  # a tombstone: the card is gone from the topic
            if named is not None:
                self._forget(named)
            return
        try:
            message = json.loads(value)
        except ValueError:
            self._breach(named, None, "not JSON", timestamp_ms)
            return
        problem = self._contract.problem(message)
        if problem is None and named is not None and message["card_number"] != named:
            problem = f"key {named!r} is not the card number {message['card_number']!r}"
        if problem is not None:
            self._breach(named, message, problem, timestamp_ms)
            return
        card: str = message["card_number"]
        status: str = message["status"]
        reason: str = message["reason"]
        try:
            since = _micros(message["since"])
        except ValueError:  # a date-time the schema's format allows but Python cannot read
            self._breach(named, message, f"unreadable since {message['since']!r}", timestamp_ms)
            return
        packed = (since << _PAIR_BITS) | self._pair(status, reason)
        if self._suspects:
            self._suspects.pop(card, None)
        code = _compact(card)
        if code is None:
            self._odd[card] = packed
        else:
            self._cards[code] = packed
        if self._on_change is not None:
            self._on_change(CardSettlement(card, status, message["since"], reason))

    def _breach(self, named: str | None, message: Any, problem: str, timestamp_ms: int) -> None:
        """A message that breaks the contract: the card(s) it names become suspect, never keep
        their previous status."""
        self.invalid += 1
        cards = {named} if named is not None else set()
        if isinstance(message, dict) and isinstance(message.get("card_number"), str):
            cards.add(message["card_number"])
        log.warning("settlement message breaks the contract (%s): cards %s", problem, cards)
        seen = _now_text() if timestamp_ms < 0 else _instant(timestamp_ms * 1000)
        for card in cards:
            self._forget(card)
            self._suspects[card] = (seen, problem)
            if self._on_change is not None:
                self._on_change(CardSettlement(card, SUSPECT, seen, problem))

    # ---- the snapshot ----------------------------------------------------------------------

    def _write_snapshot(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Every card and the offsets they were read up to, written beside the target and
        renamed over it (a crash leaves the old snapshot or the new, never half of one)."""
        assert self.snapshot_path is not None
        header = {
            "topic": self.topic,
            "schema": self._contract.schema_id,
            "offsets": {str(tp.partition): consumer.position(tp) for tp in partitions},
            "pairs": self._pairs,
            "odd": self._odd,
            "suspects": self._suspects,
            "cards": len(self._cards),
            "written_at": _now_text(),
        }
        keys = array.array("q", self._cards.keys())
        values = array.array("q", self._cards.values())
        path = self.snapshot_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(_SNAPSHOT_MAGIC)
                file.write(json.dumps(header).encode() + b"\n")
                file.write(keys.tobytes())
                file.write(values.tobytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _restore(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
        """Load the snapshot and seek to its offsets; False (a full bootstrap) when there is
        none, or it does not fit this topic, schema or the topic's current offsets."""
        if self.snapshot_path is None or not self.snapshot_path.is_file():
            return False
        try:
            with open(self.snapshot_path, "rb") as file:
                if file.readline() != _SNAPSHOT_MAGIC:
                    raise ValueError("not a settlement snapshot")
                header = json.loads(file.readline())
                keys = array.array("q")
                values = array.array("q")
                count = int(header["cards"])
                keys.fromfile(file, count)
                values.fromfile(file, count)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log.warning("snapshot %s unusable (%s): full bootstrap", self.snapshot_path, exc)
            return False
        offsets = {int(p): int(o) for p, o in header["offsets"].items()}
        unfit = self._unfit(consumer, partitions, header, offsets)
        if unfit is not None:
            log.warning("snapshot %s %s: full bootstrap", self.snapshot_path, unfit)
            return False
        self._pairs = [(str(s), str(r)) for s, r in header["pairs"]]
        self._pair_index = {pair: n for n, pair in enumerate(self._pairs)}
        self._pair_blocked = [status != ACTIVE for status, _ in self._pairs]
        self._cards = dict(zip(keys, values, strict=True))
        self._odd = {str(card): int(packed) for card, packed in header["odd"].items()}
        self._suspects = {str(c): (str(s), str(p)) for c, (s, p) in header["suspects"].items()}
        for tp in partitions:
            consumer.seek(tp, offsets[tp.partition])
        self.restored_from_snapshot = True
        return True

    def _unfit(
        self,
        consumer: KafkaConsumer,
        partitions: list[TopicPartition],
        header: dict[str, Any],
        offsets: dict[int, int],
    ) -> str | None:
        if header.get("topic") != self.topic:
            return f"is of topic {header.get('topic')!r}"
        if header.get("schema") != self._contract.schema_id:
            return f"was read with schema {header.get('schema')!r}"
        if set(offsets) != {tp.partition for tp in partitions}:
            return "has other partitions than the topic"
        begins = consumer.beginning_offsets(partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            if not begins[tp] <= offsets[tp.partition] <= ends[tp]:
                return f"offset {offsets[tp.partition]} is outside partition {tp.partition}'s"
        return None


USAGE = "usage: python settlement_client.py BOOTSTRAP SCHEMA.json TOPIC [CARD...]"


def main(argv: list[str]) -> int:
    """Bootstrap, then print each card's status and the subscriber's age (a smoke test for a
    settlement system's operators). Exit 2: bad arguments or settings; 3: Kafka unreachable,
    the topic missing, or not caught up within 120 s."""
    if len(argv) < 3 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    bootstrap, schema, topic, *cards = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        contract = Contract.from_file(schema)
        subscriber = SettlementSubscriber.from_env(bootstrap, contract, topic, topic_wait=10)
    except (OSError, ValueError, fastjsonschema.JsonSchemaDefinitionException) as exc:
        print(f"settlement_client: {exc}", file=sys.stderr)
        return 2
    subscriber.start()
    try:
        if not subscriber.wait_caught_up(120):
            print(f"settlement_client: not caught up with {topic} in 120 s", file=sys.stderr)
            return 3
        for card in cards:
            answer = subscriber.status(card)
            verdict = "blocked" if subscriber.is_blocked(card) else "not blocked"
            print(f"{card} {verdict} ({answer.status}, age {answer.age_seconds:.1f} s)")
    except (SubscriberStale, CardSuspect) as exc:
        print(f"settlement_client: {exc}", file=sys.stderr)
        return 3
    finally:
        subscriber.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
