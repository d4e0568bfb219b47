"""The relay against the real broker, on both stores: completeness, order, contracts, resume."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from kafka.admin import KafkaAdminClient

from contract.envelope import parse_card_event
from domain.cardholder.events import CARDHOLDER_EVENTS
from domain.event import DomainEvent
from relay.publisher import RELAY
from relay.topics import TopicConfigConflict
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.settings import Settings
from tests.conftest import make_settings
from tests.kafka_support import read_topic
from tests.support import Clock, every_kind_of_event, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


@pytest.fixture
def kafka_settings(settings: Settings, kafka_bootstrap: str) -> Settings:
    return settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})


@pytest.fixture
def wired(kafka_settings: Settings, clock: Clock):
    ensure_topics(kafka_settings)
    with open_back_office(kafka_settings, clock=clock) as backoffice:
        yield backoffice


def stored_events(backoffice: BackOffice) -> list[DomainEvent]:
    return [
        p.event for p in backoffice.source.read(0, 100_000) if type(p.event) in CARDHOLDER_EVENTS
    ]


def test_every_event_reaches_kafka_in_order_with_its_facts_as_headers(
    wired: BackOffice, clock: Clock
):
    holders = every_kind_of_event(wired.office, clock)
    relay = relay_for(wired)
    try:
        published = relay.publish_pending()
    finally:
        relay.close()
    assert published == wired.source.head()
    assert relay.status().lag == 0

    names = topics(wired.settings)
    records = read_topic(wired.settings.bootstrap_servers, names.card_events)
    expected = stored_events(wired)
    assert len(records) == len(expected)  # one run, no crash: no duplicates either
    assert {parse_card_event(r.value).event_id for r in records} == {e.event_id for e in expected}
    assert {type(e).__name__ for e in expected} == {c.__name__ for c in CARDHOLDER_EVENTS}

    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        envelope = parse_card_event(record.value)
        by_key[record.key].append(envelope.stream_version)
        assert record.key == str(envelope.stream_id).encode()
        headers = dict(record.headers)
        assert headers["event_type"] == envelope.event_type.encode()
        assert headers["stream_version"] == str(envelope.stream_version).encode()
        assert headers["event_id"] == str(envelope.event_id).encode()
    for versions in by_key.values():
        assert versions == list(range(1, len(versions) + 1))
    assert set(by_key) == {str(wired.office.holder_id(h)).encode() for h in holders}


def test_the_settlement_topic_holds_each_cards_status_and_no_id_numbers(
    wired: BackOffice, clock: Clock
):
    holders = every_kind_of_event(wired.office, clock)
    relay = relay_for(wired)
    try:
        relay.publish_pending()
    finally:
        relay.close()
    records = read_topic(wired.settings.bootstrap_servers, topics(wired.settings).settlement)
    latest = {r.key.decode(): json.loads(r.value) for r in records}
    for holder in holders:
        state = wired.office.holder(holder)
        assert latest[state.card.number]["status"] == "active"
        for retired in state.retired_cards:
            assert latest[retired.number]["status"] == "cancelled"
        for rid in (holder,):
            assert all(rid.encode() not in r.value for r in records)
    assert all(b"resident_id" not in r.value for r in records)


def test_a_consumer_written_against_the_json_schema_accepts_every_message(
    wired: BackOffice, clock: Clock
):
    every_kind_of_event(wired.office, clock)
    relay = relay_for(wired)
    try:
        relay.publish_pending()
    finally:
        relay.close()
    names = topics(wired.settings)
    for topic, schema_file in (
        (names.card_events, "card-events.schema.json"),
        (names.settlement, "settlement-status.schema.json"),
    ):
        schema = json.loads((CONTRACTS / schema_file).read_text())
        validator = jsonschema.Draft202012Validator(schema)
        records = read_topic(wired.settings.bootstrap_servers, topic)
        assert records
        for record in records:
            errors = sorted(validator.iter_errors(json.loads(record.value)), key=str)
            assert errors == [], f"{topic}: {errors[0].message}"


def test_a_new_relay_resumes_where_the_last_one_stopped(wired: BackOffice, clock: Clock):
    every_kind_of_event(wired.office, clock)
    first = relay_for(wired)
    try:
        first.publish_pending()
    finally:
        first.close()
    published = wired.views.position(RELAY)
    every_kind_of_event(wired.office, clock)
    second = relay_for(wired)
    try:
        assert second.publish_pending() == wired.source.head() - published
    finally:
        second.close()
    records = read_topic(wired.settings.bootstrap_servers, topics(wired.settings).card_events)
    ids = [parse_card_event(r.value).event_id for r in records]
    assert len(ids) == len(set(ids)) == len(stored_events(wired))


def test_only_one_relay_is_active_per_store(kafka_settings: Settings):
    with open_back_office(kafka_settings) as one, open_back_office(kafka_settings) as two:
        assert one.views.try_exclusive(RELAY)
        assert not two.views.try_exclusive(RELAY)
    with open_back_office(kafka_settings) as three:
        assert three.views.try_exclusive(RELAY), "the lock dies with its holder"


def test_commands_are_accepted_while_kafka_is_down_and_the_outage_is_logged_once(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
):
    dead = make_settings(tmp_path, kafka_bootstrap_servers="127.0.0.1:1")
    caplog.set_level(logging.DEBUG, logger="relay.publisher")
    caplog.set_level(logging.DEBUG, logger="tracking.runner")
    with open_back_office(dead, clock=clock) as backoffice:
        relay = relay_for(backoffice)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,), kwargs={"max_backoff": 0.5})
        thread.start()
        try:
            for _ in range(3):
                every_kind_of_event(backoffice.office, clock)  # the store keeps taking commands
            stop.wait(10)
        finally:
            stop.set()
            thread.join(timeout=60)
            relay.close()
        assert not thread.is_alive(), "the relay did not stop"
        assert relay.status().published == 0
        assert relay.status().lag == backoffice.source.head() > 0
    ours = [r for r in caplog.records if r.name.startswith(("relay", "service", "tracking"))]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    attempts = [r for r in ours if "still unavailable" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "Kafka unavailable" in warnings[0].getMessage()
    assert attempts, "the relay should have kept retrying"


def test_topics_that_contradict_ours_are_refused(kafka_settings: Settings):
    names = topics(kafka_settings)
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    try:
        admin.create_topics(
            {
                names.settlement: {
                    "num_partitions": 3,
                    "replication_factor": 1,
                    "configs": {"cleanup.policy": "delete"},
                },
                names.card_events: {"num_partitions": 1, "replication_factor": 1},
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    with pytest.raises(TopicConfigConflict) as refused:
        ensure_topics(kafka_settings)
    message = str(refused.value)
    assert f"{names.settlement} has cleanup.policy=delete, the back office needs compact" in message
    assert f"{names.card_events} has 1 partitions, the back office needs 3" in message


def test_a_running_relay_is_woken_by_new_events(wired: BackOffice, clock: Clock):
    """On PostgreSQL the relay wakes on NOTIFY, on SQLite it polls; either way it keeps up.

    Its idle wait is ten minutes and the test waits for each event at most two: an event
    published in time was picked up because the relay was woken, never because it timed out,
    and a loaded machine has two minutes, not two seconds."""
    relay = relay_for(wired)
    stop = threading.Event()
    follower = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle_wait": 600.0})
    follower.start()
    recorded: list[DomainEvent] = []
    try:
        for _ in range(3):
            holder = resident_id()
            recorded.append(wired.office.issue_card(issue(holder)))
            recorded.append(wired.office.pre_report_loss(pre_report(holder)))
            head = wired.source.head()
            deadline = time.monotonic() + 120
            while wired.views.position(RELAY) < head:
                assert time.monotonic() < deadline, "the relay was not woken by a new event"
                time.sleep(0.01)
    finally:
        stop.set()
        # One more event wakes it to see the stop now rather than at the end of its idle wait.
        wired.office.issue_card(issue(resident_id()))
        follower.join(timeout=120)
        relay.close()
    assert not follower.is_alive(), "the relay did not stop"
    records = read_topic(wired.settings.bootstrap_servers, topics(wired.settings).card_events)
    on_the_topic = [parse_card_event(r.value).event_id for r in records]
    missing = [
        f"{type(e).__name__} v{e.originator_version}"
        for e in recorded
        if e.event_id not in on_the_topic
    ]
    assert missing == [], "events the relay was woken for are missing from the topic"
