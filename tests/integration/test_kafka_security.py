"""The back office on a broker secured as production runs it: TLS, SASL/SCRAM, and the ACLs of
``relay.access`` (nothing allowed that the table does not grant).

One private broker for the module (starting it takes seconds). Each refusal is checked against
what the same client is allowed a moment later, so a refusal means the rule, not a broken
broker, and the back office keeps working on the same broker throughout."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from consumers.settlement_client import Contract, SettlementSubscriber
from devinfra.kafka_security import apply_access_table
from devinfra.local_kafka import LocalKafka
from relay.access import ANALYTICS, BACKOFFICE, SETTLEMENT, settlement_groups
from relay.contracts import settlement_schema
from relay.topics import Topics
from service.bootstrap import open_back_office
from service.kafka_wiring import client_config, kafka_security, topics
from service.settings import Settings
from tests.back_office import SSCARD, sscard_env
from tests.conftest import make_settings, used_real_server
from tests.integration.test_java_settlement_client import JavaClient
from tests.integration.test_settlement_subscriber import SCHEMA
from tests.kafka_support import read_topic, secured_broker
from tests.support import Clock, issue, pre_report, resident_id
from tests.views_support import consume_until_caught_up, publish_all

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

VIEW = "settlement_blocklist"
# A refused client gives up this soon (kafka-python waits 30 s to bootstrap by default).
REFUSED_WITHIN_MS = 4_000


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    with secured_broker(tmp_path_factory.mktemp("secured")) as broker:
        yield broker


@pytest.fixture
def broker(secured: LocalKafka, request: pytest.FixtureRequest) -> LocalKafka:
    used_real_server(request, "kafka")
    return secured


def as_principal(broker: LocalKafka, folder: Path, principal: str, **overrides: Any) -> Settings:
    """Settings as the environment would give them to a client of ``principal``."""
    return make_settings(
        folder,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=principal,
        kafka_sasl_password=broker.security.password(principal),
        kafka_ssl_cafile=broker.security.ca_file,
        **overrides,
    )


@pytest.fixture(scope="module")
def office(secured: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The back office's settings (principal ``backoffice``), its topics created through the
    CLI, and two holders' events published: one card blocked, one accepted."""
    settings = as_principal(secured, tmp_path_factory.mktemp("office"), BACKOFFICE)
    apply_access_table(secured.bootstrap_servers, secured.security, topics(settings))
    created = sscard(settings, "relay", "topics")
    assert created.returncode == 0, created.stderr
    assert "created:" in created.stdout
    lost, kept = resident_id(), resident_id()
    with open_back_office(settings, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(lost))
        backoffice.office.issue_card(issue(kept))
        backoffice.office.pre_report_loss(pre_report(lost))
    publish_all(settings)
    return settings


def sscard(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSCARD, *args],
        env=sscard_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def consumer(settings: Settings, **overrides: Any) -> KafkaConsumer:
    return KafkaConsumer(
        **(client_config(settings) | {"bootstrap_timeout_ms": REFUSED_WITHIN_MS} | overrides),
        group_id=None,
        request_timeout_ms=10_000,
    )


def end_offsets(settings: Settings, topic: str, **overrides: Any) -> dict[TopicPartition, int]:
    """What every subscriber asks first (where the topic ends), as the settings' principal."""
    reader = consumer(settings, **overrides)
    try:
        # A topic the principal may not describe shows no partitions; partition 0 is then
        # asked for, and refused.
        numbers = reader.partitions_for_topic(topic) or {0}
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        return dict(reader.end_offsets(partitions))
    finally:
        reader.close()


def send(settings: Settings, topic: str) -> None:
    # Not idempotent: the refusal must be the topic's WRITE, not the producer-id request.
    producer = KafkaProducer(
        **client_config(settings),
        enable_idempotence=False,
        acks="all",
        max_block_ms=10_000,
    )
    try:
        producer.send(topic, key=b"forged", value=b"{}").get(timeout=10)
    finally:
        producer.close(timeout=1)


def assert_back_office_reads(office: Settings, topic: str) -> None:
    assert sum(end_offsets(office, topic).values()) > 0, f"the back office cannot read {topic}"


def broker_log_since(broker: LocalKafka, offset: int) -> str:
    with broker.log_file.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


# ---- the back office's whole Kafka path ------------------------------------------------------


def test_the_back_office_publishes_consumes_and_verifies_on_the_secured_broker(broker, office):
    consume_until_caught_up(office, VIEW)
    verified = sscard(office, "verify", VIEW)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "equal" in verified.stdout
    # Its lag check read the topics' ends as the back office too (a refusal would be a note).
    assert "not reachable" not in verified.stdout + verified.stderr
    assert sorted(settlement_statuses(office).values()) == [b"active", b"blocked"]


# ---- authentication ---------------------------------------------------------------------------


def test_a_wrong_password_is_refused(broker, office, tmp_path):
    offset = broker.log_file.stat().st_size
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        end_offsets(office, topics(office).card_events, sasl_plain_password="not-the-password")
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in broker_log_since(
        broker, offset
    )
    wrong = sscard(office, "relay", "topics", KAFKA_SASL_PASSWORD="not-the-password")
    assert wrong.returncode == 3, wrong
    assert wrong.stderr.startswith("sscard: infrastructure error:"), wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert_back_office_reads(office, topics(office).card_events)


def test_a_client_without_the_brokers_ca_certificate_is_refused(broker, office, caplog):
    caplog.set_level(logging.INFO, logger="kafka")
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        end_offsets(office, topics(office).card_events, ssl_cafile=None)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert_back_office_reads(office, topics(office).card_events)


def test_a_plaintext_client_is_refused(broker, office):
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        end_offsets(office, topics(office).card_events, security_protocol="PLAINTEXT")
    assert_back_office_reads(office, topics(office).card_events)


# ---- authorization: the access table ---------------------------------------------------------


def test_settlement_reads_the_settlement_topic_and_nothing_else(broker, office, tmp_path):
    names = topics(office)
    settlement = as_principal(broker, tmp_path, SETTLEMENT, topic_prefix=office.topic_prefix)
    assert sorted(settlement_statuses(settlement).values()) == [b"active", b"blocked"]
    for topic in (names.card_events, names.reimbursement_events, names.dead_letter):
        with pytest.raises(TopicAuthorizationFailedError):
            end_offsets(settlement, topic)
    # A status it could forge would unblock a stolen card.
    with pytest.raises(TopicAuthorizationFailedError):
        send(settlement, names.settlement)
    # Its consumer groups are its own: a read model's group is refused, its prefix is not.
    with pytest.raises(GroupAuthorizationFailedError):
        group_member(settlement, names.settlement, f"{office.topic_prefix}.view.{VIEW}")
    group_member(settlement, names.settlement, f"{settlement_groups(names)}his")
    assert_back_office_reads(office, names.card_events)


def test_analytics_reads_the_public_topics_only_and_writes_nothing(broker, office, tmp_path):
    names = topics(office)
    analytics = as_principal(broker, tmp_path, ANALYTICS, topic_prefix=office.topic_prefix)
    assert sum(end_offsets(analytics, names.card_events).values()) > 0
    end_offsets(analytics, names.reimbursement_events)
    for topic in (names.settlement, names.dead_letter):
        with pytest.raises(TopicAuthorizationFailedError):
            end_offsets(analytics, topic)
    for topic in (names.card_events, names.reimbursement_events, names.dead_letter):
        with pytest.raises(TopicAuthorizationFailedError):
            send(analytics, topic)
    admin = KafkaAdminClient(**client_config(analytics), request_timeout_ms=10_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            admin.create_topics({f"{office.topic_prefix}.mine": {"num_partitions": 1}})
    finally:
        admin.close()
    assert_back_office_reads(office, names.card_events)


def test_a_prefix_the_table_was_not_applied_to_is_closed_even_to_the_back_office(broker, tmp_path):
    stranger = as_principal(broker, tmp_path, BACKOFFICE, topic_prefix="unlisted")
    result = sscard(stranger, "relay", "topics")
    assert result.returncode == 3, result
    assert "ACLs refuse this principal access to unlisted.card-events" in result.stderr
    assert Topics("unlisted").card_events not in _topic_names(broker)


def group_member(settings: Settings, topic: str, group: str) -> None:
    """Join ``group`` on ``topic`` and commit an offset (what a group's READ is checked on)."""
    member = KafkaConsumer(
        **client_config(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
    )
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 60
        while not member.assignment():
            assert time.monotonic() < deadline, f"no partitions of {topic} assigned to {group}"
            member.poll(timeout_ms=500)
        member.commit()
    finally:
        member.close()


def settlement_statuses(settings: Settings) -> dict[bytes, bytes]:
    """Card number -> its latest status on the settlement topic, read as the settings' principal."""
    security = client_config(settings)
    bootstrap = security.pop("bootstrap_servers")
    records = read_topic(bootstrap, topics(settings).settlement, **security)
    return {r.key: dict(r.headers)["status"] for r in records}


def _topic_names(broker: LocalKafka) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, **broker.client_config())
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def settlement_environment(broker: LocalKafka) -> dict[str, str]:
    """What a settlement system's host sets for its subscriber (the principal ``settlement``)."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": SETTLEMENT,
        "KAFKA_SASL_PASSWORD": broker.security.password(SETTLEMENT),
        "KAFKA_SSL_CAFILE": str(broker.security.ca_file),
    }


def test_the_python_subscriber_reads_settlement_as_the_settlement_principal(
    broker: LocalKafka, office: Settings
):
    topic = topics(office).settlement
    subscriber = SettlementSubscriber.from_env(
        broker.bootstrap_servers,
        Contract(settlement_schema()),
        topic,
        environ=settlement_environment(broker),
    ).start()
    try:
        assert subscriber.wait_caught_up(60), subscriber.refusal()
        statuses = sorted(status for status, _, _ in subscriber.cards().values())
        assert statuses == ["active", "blocked"]
        blocked = [card for card, (s, _, _) in subscriber.cards().items() if s == "blocked"]
        assert subscriber.is_blocked(blocked[0])
    finally:
        subscriber.stop()


def test_the_java_client_reads_settlement_as_the_settlement_principal(
    broker: LocalKafka, office: Settings, java_client: list[str]
):
    topic = topics(office).settlement
    env = dict(os.environ) | settlement_environment(broker)
    client = JavaClient([*java_client, broker.bootstrap_servers, str(SCHEMA), topic], env=env)
    try:
        client.expect("caught-up cards=2", timeout=90)
        answers = [client.ask(f"status {card}") for card in _cards(broker, office)]
        assert sorted(a.split()[2] for a in answers) == ["active", "blocked"], answers
    finally:
        client.close()


def _cards(broker: LocalKafka, office: Settings) -> list[str]:
    """The card numbers on the settlement topic, read as the back office."""
    topic = topics(office).settlement
    records = read_topic(broker.bootstrap_servers, topic, **kafka_security(office))
    return sorted({m.key.decode() for m in records if m.key is not None})
