"""The read models' commands that need the broker, as people and scripts use them: ``verify``
of a view whose consumer lags says so, ``settlement check`` and ``settlement follow``, ``relay
topics``; under ``--json`` each answers with one JSON object (a follow: one per line)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from typing import Any

import pytest

from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, topics
from service.settings import Settings
from tests.back_office import SSCARD, sscard_env
from tests.conftest import make_settings
from tests.support import Clock, card_number, issue, resident_id
from tests.views_support import consume_until_caught_up, publish_all

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

VIEW = "settlement_blocklist"


def sscard(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSCARD, *args],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def one_object(result: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    assert result.returncode == code, (result.stdout, result.stderr)
    [line] = result.stdout.splitlines()
    found = json.loads(line)
    assert next(iter(found)) == "status"
    return dict(found)


def issued(settings: Settings) -> str:
    number = card_number()
    rid = resident_id()
    with open_back_office(settings, clock=Clock(datetime.now().astimezone())) as backoffice:
        backoffice.office.issue_card(issue(rid, number=number))
    return number


@pytest.fixture
def office(tmp_path, kafka_bootstrap) -> Settings:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    return settings


def test_verify_of_a_view_whose_consumer_lags_says_so(office):
    issued(office)
    publish_all(office)
    consume_until_caught_up(office, VIEW)
    issued(office)
    publish_all(office)  # on the topic, not yet applied: the consumer lags
    found = one_object(sscard(office, "verify", VIEW, "--wait", "1", "--json"), 1)
    assert (found["status"], found["equal"]) == ("ok", False)
    [view] = found["views"]
    assert view["equal"] is False
    assert view["consumer_lag"] >= 1, view
    said = sscard(office, "verify", VIEW, "--wait", "1")
    assert said.returncode == 1
    lag = view["consumer_lag"]
    message = "message" if lag == 1 else "messages"
    assert f"{VIEW}: DIFFERENT (its consumer is {lag} {message} behind Kafka" in said.stdout, (
        said.stdout
    )
    consume_until_caught_up(office, VIEW)
    caught_up = one_object(sscard(office, "verify", VIEW, "--wait", "5", "--json"), 0)
    assert caught_up["equal"] is True
    assert caught_up["views"][0]["consumer_lag"] == 0


def test_settlement_check_and_follow_and_topics_as_json(office):
    number = issued(office)
    publish_all(office)
    found = one_object(sscard(office, "settlement", "check", number, "--json"), 0)
    assert found["status"] == "ok"
    card = found["card"]
    assert (card["card_number"], card["blocked"], card["card_status"]) == (number, False, "active")
    assert card["since"].endswith("+08:00"), card
    assert found["cards_bootstrapped"] == 1
    said = sscard(office, "settlement", "check", number)
    assert said.stdout.startswith(f"{number}: accepted (active, ")
    assert "(1 card bootstrapped in" in said.stdout
    unknown = one_object(sscard(office, "settlement", "check", "Z99999999", "--json"), 1)
    assert (unknown["status"], unknown["code"]) == ("refused", "not_found")

    followed = sscard(office, "--json", "settlement", "follow", "--seconds", "2")
    assert followed.returncode == 0, followed.stderr
    notices = [json.loads(line) for line in followed.stdout.splitlines()]
    assert notices[0] == {
        "status": "ok",
        "event": "caught_up",
        "card": None,
        "cards": 1,
        "blocked": 0,
        "reason": None,
    }

    names = topics(office)
    provisioned = one_object(sscard(office, "relay", "topics", "--json"), 0)
    assert provisioned["status"] == "ok"
    assert provisioned["created"] == []  # there already: a no-op
    assert names.settlement in provisioned["topics"]
