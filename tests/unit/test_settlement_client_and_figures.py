"""The settlement subscriber's reading of the contract, and the analysts' figures."""

from __future__ import annotations

import math
from datetime import date

import orjson
import pytest

from consumers.settlement_client import (
    Contract,
    SettlementSubscriber,
    SubscriberStale,
    security_from_env,
)
from projections.analytics import CaseCalculator, outlet_months, percentile
from relay.contracts import settlement_schema
from tests.support import CALENDAR


def message(card: str, status: str) -> bytes:
    return orjson.dumps(
        {
            "message_version": 1,
            "card_number": card,
            "status": status,
            "since": "2026-11-26T01:02:03.000000Z",
            "reason": "loss_pre_reported",
            "event_id": "00000000-0000-0000-0000-000000000001",
            "position": 1,
        }
    )


def test_the_subscriber_keeps_the_latest_status_and_marks_a_contract_breach_suspect():
    subscriber = SettlementSubscriber("unused:9092", Contract(settlement_schema()), "t")
    subscriber._take(b"A00000001", message("A00000001", "blocked"))
    subscriber._take(b"A00000002", message("A00000002", "cancelled"))
    subscriber._take(b"A00000003", message("A00000003", "active"))
    answers = {card: subscriber.status(card).status for card in ("A00000001", "A00000003")}
    assert answers == {"A00000001": "blocked", "A00000003": "active"}
    assert subscriber.status("A00000002").blocked
    assert not subscriber.status("A00000003").blocked
    never = subscriber.status("Z99999999")
    assert (never.status, never.blocked, never.age_seconds) == ("unknown", False, math.inf)
    subscriber._take(b"A00000001", message("A00000001", "active"))
    assert subscriber.status("A00000001").status == "active"
    assert subscriber.status("A00000001").since == "2026-11-26T01:02:03.000000Z"
    subscriber._take(b"A00000002", None)  # a tombstone
    assert subscriber.status("A00000002").status == "unknown"
    # A card's message that breaks the contract: the card is suspect (blocked), whatever its
    # previous status; a key that is not its value's card number breaks it too.
    subscriber._take(b"A00000003", message("A00000003", "lost"))
    subscriber._take(b"A00000004", b"{")
    subscriber._take(b"A00000005", orjson.dumps({"card_number": "A00000005"}))
    subscriber._take(b"A00000006", message("A00000007", "active"))
    subscriber._take(b"A00000008", message("A00000008", "active")[:-1] + b',"extra":1}')
    suspects = {f"A0000000{n}" for n in (3, 4, 5, 6, 7, 8)}
    assert {card for card in suspects if subscriber.status(card).status == "suspect"} == suspects
    assert all(subscriber.status(card).blocked for card in suspects)
    assert "data.status must be one of" in (subscriber.status("A00000003").reason or "")
    assert subscriber.invalid == 5
    # Its next valid message is its status again.
    subscriber._take(b"A00000003", message("A00000003", "blocked"))
    assert subscriber.status("A00000003").status == "blocked"
    assert subscriber.cards()["A00000001"] == (
        "active",
        "2026-11-26T01:02:03.000000Z",
        "loss_pre_reported",
    )
    assert len(subscriber) == len(subscriber.cards()) == 7


def test_a_subscriber_that_never_confirmed_refuses_to_answer():
    subscriber = SettlementSubscriber("unused:9092", Contract(settlement_schema()), "t")
    subscriber._take(b"A00000001", message("A00000001", "blocked"))
    with pytest.raises(SubscriberStale, match="not started"):
        subscriber.is_blocked("A00000001")
    assert not subscriber.caught_up


def test_the_kafka_security_settings_come_from_the_environment(tmp_path):
    assert security_from_env({}) == {"security_protocol": "PLAINTEXT"}
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert security_from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "settlement",
            "KAFKA_SASL_PASSWORD": "secret",
            "KAFKA_SSL_CAFILE": str(ca),
        }
    ) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "settlement",
        "sasl_plain_password": "secret",
        "ssl_cafile": str(ca),
    }
    for bad, variable in (
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KAFKA_SASL_USERNAME"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"},
            "KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent"}, "CAFILE"),
    ):
        with pytest.raises(ValueError, match=variable):
            security_from_env(bad)


def case(applied_on: str, produced_on: str | None, outlet: str = "BJ-HD-003") -> dict:
    return {
        "stream_id": f"s-{applied_on}-{produced_on}",
        "case_version": 3,
        "region_code": "110000",
        "kind": "loss",
        "applicant": "holder",
        "applied_outlet": "BJ-DC-001",
        "collection_outlet": outlet,
        "month": applied_on[:7],
        "pre_reported_at": f"{applied_on}T01:00:00.000000Z",
        "applied_at": f"{applied_on}T02:00:00.000000Z",
        "applied_on": applied_on,
        "production_due_on": "2026-03-23",
        "produced_at": None if produced_on is None else f"{produced_on}T02:00:00.000000Z",
        "produced_on": produced_on,
        "collected_at": None,
        "activated_at": None,
    }


def test_sla_is_counted_in_working_days_on_the_calendar():
    calculator = CaseCalculator(CALENDAR)
    # 2026-03-02 is a Monday: 15 working days later is Monday 2026-03-23.
    on_time = calculator.figures(case("2026-03-02", "2026-03-23"))
    late = calculator.figures(case("2026-03-02", "2026-03-24"))
    assert on_time.application_to_production_working_days == 15
    assert on_time.sla_met is True
    assert late.application_to_production_working_days == 16
    assert late.sla_met is False
    assert calculator.figures(case("2026-03-02", None)).sla_met is None
    assert on_time.sla_working_days == 15
    # Over the Qingming holiday (2026-04-04..06) the days off do not count.
    assert (
        calculator.figures(case("2026-04-03", "2026-04-08")).application_to_production_working_days
        == 2
    )


def test_the_sla_is_the_due_date_recorded_with_the_application_not_todays_policy():
    """A region that later promised 10 working days judges its old cases by the 15 it promised
    then: the recorded due date, whatever the policy or the outlet says today."""
    calculator = CaseCalculator(CALENDAR)
    promised_then = case("2026-03-02", "2026-03-20") | {"production_due_on": "2026-03-23"}
    assert calculator.figures(promised_then).sla_met is True
    instant_issue = case("2026-03-02", "2026-03-02") | {"production_due_on": "2026-03-02"}
    figures = calculator.figures(instant_issue)
    assert (figures.sla_working_days, figures.sla_met) == (0, True)
    late_instant = case("2026-03-02", "2026-03-03") | {"production_due_on": "2026-03-02"}
    assert calculator.figures(late_instant).sla_met is False


def test_outlet_months_give_counts_percentiles_and_the_hit_rate():
    calculator = CaseCalculator(CALENDAR)
    rows = [
        case("2026-03-02", "2026-03-23"),
        case("2026-03-02", "2026-03-24"),
        case("2026-03-03", None),
    ]
    [summary] = outlet_months(calculator.figures(r) for r in rows)
    assert (summary.outlet, summary.month, summary.cases, summary.produced) == (
        "BJ-DC-001",
        "2026-03",
        3,
        2,
    )
    assert summary.sla_hit_rate == 0.5
    assert summary.application_to_production_p50_working_days == 15
    assert summary.application_to_production_p90_working_days == 16
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert date(2026, 3, 23).weekday() == 0
