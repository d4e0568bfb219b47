"""Running the real ``sscard`` as a separate process against a test's own store and topics, and
checking what reached Kafka."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from contract.envelope import parse_card_event
from domain.cardholder.events import CARDHOLDER_EVENTS
from relay.publisher import RELAY
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import topics
from service.settings import Settings
from tests.kafka_support import read_topic
from tests.support import HOLDER_ID_KEY, Clock, cancel, issue, pre_report, resident_id

SSCARD = str(Path(sys.executable).parent / "sscard")


def sscard_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes ``sscard`` use exactly ``settings``' store and topics."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SSCARD_", "POSTGRES_", "KAFKA_SASL_", "KAFKA_SSL_"))
    }
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_SECURITY_PROTOCOL", None)
    env |= {
        "SSCARD_DATA_DIR": str(settings.data_dir),
        "SSCARD_STATE_DIR": str(settings.state_dir),
        "SSCARD_HOLDER_ID_KEY": HOLDER_ID_KEY,
        "SSCARD_TOPIC_PREFIX": settings.topic_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        # Processes of the suite run side by side: none takes the metrics port unless asked.
        "SSCARD_METRICS_PORT": "0",
    }
    env |= kafka_security_env(settings)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.postgres_schema:
        env["POSTGRES_SCHEMA"] = settings.postgres_schema
    return env | extra


def kafka_security_env(settings: Settings) -> dict[str, str]:
    """The KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_CAFILE variables of ``settings``."""
    env = {"KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol}
    optional = {
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "KAFKA_SASL_PASSWORD": (
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None
        ),
        "KAFKA_SSL_CAFILE": str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
    }
    return env | {name: value for name, value in optional.items() if value is not None}


def start_sscard(
    args: list[str], settings: Settings, log: Path, **extra: str
) -> subprocess.Popen[bytes]:
    """``sscard args...`` in a process group of its own (so the group can be killed)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [SSCARD, *args],
            env=sscard_env(settings, **extra),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def published_events(backoffice: BackOffice) -> dict[UUID, tuple[UUID, int]]:
    return {
        p.event.event_id: (p.event.originator_id, p.event.originator_version)
        for p in backoffice.source.read(0, 10**7)
        if type(p.event) in CARDHOLDER_EVENTS
    }


def check_topic(settings: Settings, expected: dict[UUID, tuple[UUID, int]]) -> int:
    """Every stored event is on the topic, per-key order never skips ahead; returns duplicates."""
    records = read_topic(settings.bootstrap_servers, topics(settings).card_events, timeout=120)
    seen: dict[bytes, int] = defaultdict(int)
    received: set[UUID] = set()
    for record in records:
        envelope = parse_card_event(record.value)
        # A consumer that drops versions it has seen gets every event exactly once, in order:
        # a redelivered batch may step back, but nothing may jump past a missing version.
        assert envelope.stream_version <= seen[record.key] + 1, (
            f"stream {record.key!r} jumped from v{seen[record.key]} to v{envelope.stream_version}"
        )
        seen[record.key] = max(seen[record.key], envelope.stream_version)
        received.add(envelope.event_id)
    missing = set(expected) - received
    assert not missing, f"{len(missing)} events never reached Kafka"
    assert received <= set(expected)
    return len(records) - len(received)


def wait_until_published(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with open_back_office(settings) as backoffice:
        while backoffice.views.position(RELAY) < backoffice.source.head():
            assert time.monotonic() < deadline, "the relay did not catch up"
            time.sleep(0.2)


def write_burst(
    settings: Settings,
    holders: int,
    seconds: float,
    done: threading.Event,
    until: threading.Event | None = None,
) -> None:
    """Five published events per holder (issue, pre-report, cancel, pre-report, cancel), paced
    at ``holders`` per ``seconds``; with ``until``, going on past ``holders`` until it is set.
    Dated now: a pre-report dated in the past would be due to lapse, and a running
    ``sscard run`` would lapse it before its cancellation."""
    try:
        with open_back_office(settings, clock=Clock(datetime.now(UTC))) as backoffice:
            office = backoffice.office
            start = time.monotonic()
            for i in itertools.count():
                if i >= holders and (until is None or until.is_set()):
                    return
                holder = resident_id()
                office.issue_card(issue(holder))
                for _ in range(2):
                    office.pre_report_loss(pre_report(holder))
                    office.cancel_pre_report(cancel(holder))
                ahead = start + seconds * (i + 1) / holders - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        done.set()
