"""Kafka security comes from the environment, whole or not at all; the access table grants each
principal what its job needs and nothing more; the contract says so."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from cli.main import main
from domain.errors import ConfigurationError
from relay.access import (
    ANALYTICS,
    BACKOFFICE,
    BROKER,
    SETTLEMENT,
    access_table,
    principals_that,
)
from relay.contracts import build_contracts
from relay.topics import Topics
from service.kafka_wiring import client_config, producer_config
from service.settings import load_settings

SECURITY_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SSCARD_STATE_DIR", str(tmp_path / "state"))
    return monkeypatch


def whole(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    env.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    env.setenv("KAFKA_SASL_USERNAME", "backoffice")
    env.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    env.setenv("KAFKA_SSL_CAFILE", str(ca))


def test_unset_means_plaintext_as_today(env):
    config = client_config(load_settings())
    assert config["security_protocol"] == "PLAINTEXT"
    assert not {k for k in config if k.startswith(("sasl_", "ssl_"))}


def test_a_whole_configuration_reaches_every_client_argument(env, tmp_path):
    whole(env, tmp_path)
    settings = load_settings()
    expected = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "backoffice",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_check_hostname": True,
    }
    assert client_config(settings).items() >= expected.items()
    assert producer_config(settings).items() >= expected.items()
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD"),
        ("KAFKA_SASL_USERNAME", "KAFKA_SASL_USERNAME"),
        ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_MECHANISM"),
    ],
)
def test_sasl_without_one_of_its_settings_is_refused_naming_it(env, tmp_path, unset, named):
    whole(env, tmp_path)
    env.delenv(unset)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == named


def test_credentials_without_a_protocol_that_sends_them_are_refused(env):
    env.setenv("KAFKA_SASL_USERNAME", "backoffice")
    env.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == "KAFKA_SASL_USERNAME"
    assert "KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in str(refused.value)


def test_a_ca_file_that_is_not_there_is_refused(env, tmp_path):
    whole(env, tmp_path)
    env.setenv("KAFKA_SSL_CAFILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == "KAFKA_SSL_CAFILE"


def test_an_unknown_protocol_or_mechanism_is_refused(env, tmp_path):
    whole(env, tmp_path)
    env.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == "KAFKA_SASL_MECHANISM"
    env.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    env.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert refused.value.variable == "KAFKA_SECURITY_PROTOCOL"


def test_the_cli_refuses_half_a_configuration_with_exit_2_and_one_line(env, tmp_path, capsys):
    whole(env, tmp_path)
    env.delenv("KAFKA_SASL_PASSWORD")
    assert main(["relay", "topics"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sscard: configuration error: KAFKA_SASL_PASSWORD must be set")
    assert len(err.strip().splitlines()) == 1


# ---- the access table -------------------------------------------------------------------------

TOPICS = Topics("sscard")


def test_settlement_may_read_the_settlement_topic_only_and_write_nothing():
    grants = [g for g in access_table(TOPICS) if g.principal == SETTLEMENT]
    assert {(g.resource, g.name) for g in grants if "read" in g.operations} == {
        ("topic", "sscard.settlement"),
        ("group", "sscard.settlement."),
    }
    assert all(g.operations == ("read",) for g in grants)


def test_analytics_may_read_the_public_topics_only_and_write_nothing():
    grants = [g for g in access_table(TOPICS) if g.principal == ANALYTICS]
    assert {g.name for g in grants if g.resource == "topic"} == {
        "sscard.card-events",
        "sscard.reimbursement-events",
    }
    assert all(g.operations == ("read",) for g in grants)


def test_only_the_back_office_writes_and_nobody_else_is_granted_anything():
    for topic in (
        TOPICS.card_events,
        TOPICS.settlement,
        TOPICS.reimbursement_events,
        TOPICS.dead_letter,
    ):
        assert principals_that(TOPICS, topic, "write") == (BACKOFFICE,)
    assert {g.principal for g in access_table(TOPICS)} == {BACKOFFICE, SETTLEMENT, ANALYTICS}
    assert principals_that(TOPICS, TOPICS.dead_letter, "read") == ()
    # The broker's own principal is the super user; no grant names it.
    assert BROKER not in {g.principal for g in access_table(TOPICS)}


def test_the_contract_states_the_security_schemes_and_each_channels_readers():
    document = json.loads(build_contracts()["asyncapi.json"])
    secured = document["servers"]["secured"]
    assert secured["protocol"] == "kafka-secure"
    schemes = document["components"]["securitySchemes"]
    assert {schemes[s]["type"] for s in schemes} == {"scramSha256", "scramSha512"}
    channels = document["channels"]
    assert channels["settlement"]["x-access"] == {
        "read": [BACKOFFICE, SETTLEMENT],
        "write": [BACKOFFICE],
    }
    assert channels["cardEvents"]["x-access"]["read"] == [BACKOFFICE, ANALYTICS]
    receivers = {
        op["summary"] for op in document["operations"].values() if op["action"] == "receive"
    }
    assert "the settlement principal reads sscard.settlement" in receivers
    assert not any("analytics principal reads sscard.settlement" in r for r in receivers)


def test_the_admin_clients_debug_log_never_shows_the_password(env, tmp_path, caplog):
    whole(env, tmp_path)
    caplog.set_level(logging.DEBUG, logger="kafka")
    config = client_config(load_settings()) | {"bootstrap_servers": "127.0.0.1:1"}
    with contextlib.suppress(Exception):
        KafkaAdminClient(**config, bootstrap_timeout_ms=100).close()
    assert "Starting KafkaAdminClient" in caplog.text
    assert "s3cret" not in caplog.text
