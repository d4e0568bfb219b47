"""Domain entry points that only the CLI and the servers reached so far: yuan typed by people,
the computation as an officer reads it, registries an operator loads from a file, the dates and
zones the office checks. Held here in memory, so mutation testing of src/domain reaches them."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from domain.cardholder.events import ProxyScope
from domain.claims.amounts import Computation, format_yuan, parse_yuan
from domain.claims.events import validate_payment_reference
from domain.errors import InvalidInput
from domain.hospitals import HospitalRegistry
from domain.identifiers import validate_resident_id
from domain.keyed_digests import DigestKeys
from domain.outlets import OutletRegistry
from domain.region_policy import ReimbursementPolicy
from domain.requests import content_digest, fingerprint
from domain.values import (
    not_in_future,
    parse_date,
    parse_instant,
    parse_number,
    positive_number,
    quote,
)
from domain.working_days import PublishedCalendar, PublishedDays
from tests.support import issue, memory_office, resident_id


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.5", 123_450),
        (" 0.01 ", 1),
        ("0", 0),
        ("12345678.99", 1_234_567_899),
        ("7.00", 700),
    ],
)
def test_yuan_are_read_exactly_into_fen(text: str, fen: int):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "fee 'abc' is not a number of yuan (e.g. 1234.50)"),
        ("NaN", "fee 'NaN' is not a number of yuan (e.g. 1234.50)"),
        ("Infinity", "fee 'Infinity' is not a number of yuan (e.g. 1234.50)"),
        ("-1", "fee '-1' must not be negative"),
        ("-0", "fee '-0' must not be negative"),
        ("1.234", "fee '1.234' has more than 2 decimal places (fen)"),
        ("1e3", "fee '1e3' must be written as yuan with at most 2 decimals, e.g. 1234.50"),
        (
            "123456789",
            "fee '123456789' must be written as yuan with at most 2 decimals, e.g. 1234.50",
        ),
        (
            "1" * 50,
            f"fee '{'1' * 40}' must be written as yuan with at most 2 decimals, e.g. 1234.50",
        ),
    ],
)
def test_yuan_that_are_not_an_amount_are_refused_with_what_was_typed(text: str, message: str):
    with pytest.raises(InvalidInput) as caught:
        parse_yuan(text, "fee")
    assert str(caught.value) == message


def test_an_amount_is_named_amount_unless_told_otherwise():
    with pytest.raises(InvalidInput, match=r"^amount 'x' is not a number of yuan"):
        parse_yuan("x")


def test_the_computation_reads_as_the_officer_checks_it():
    policy = ReimbursementPolicy(
        deductible_fen=180_000,
        ratio_basis_points=7_050,
        annual_cap_fen=2_000_000,
        filing_deadline_days=180,
    )
    computation = Computation.of(
        500_000, policy, deductible_used_before_fen=30_000, paid_before_fen=1_900_000
    )
    assert computation.lines() == [
        ("amount within policy scope", "5000.00"),
        ("annual deductible", "1800.00, used earlier this year 300.00, remaining 1500.00"),
        ("deductible applied to this bill", "1500.00"),
        ("eligible = in scope - deductible applied", "3500.00"),
        ("fund share = eligible x 70.5 %, half up", "2467.50"),
        ("annual cap", "20000.00, paid earlier this year 19000.00, remaining 1000.00"),
        ("payable = min(fund share, cap remaining)", "1000.00"),
    ]
    used_up = Computation.of(100_000, policy, deductible_used_before_fen=200_000, paid_before_fen=0)
    assert used_up.lines()[1] == (
        "annual deductible",
        "1800.00, used earlier this year 2000.00, remaining 0.00",
    )


def _packaged_text(name: str) -> str:
    return (Path(__file__).resolve().parents[2] / "src" / "domain" / name).read_text("utf-8")


def test_an_operators_outlet_and_hospital_files_load_like_the_packaged_ones(tmp_path: Path):
    outlets, hospitals = tmp_path / "outlets.json", tmp_path / "hospitals.json"
    # Non-ASCII names: the files are read as UTF-8 whatever the host's locale.
    outlets.write_text(_packaged_text("outlets.json"), encoding="utf-8")
    hospitals.write_text(_packaged_text("hospitals.json"), encoding="utf-8")
    assert OutletRegistry.from_file(outlets) == OutletRegistry.packaged()
    assert HospitalRegistry.from_file(hospitals) == HospitalRegistry.packaged()


@pytest.mark.parametrize(
    ("registry", "kind"), [(OutletRegistry, "outlet file"), (HospitalRegistry, "hospital registry")]
)
def test_an_invalid_registry_file_is_named_in_the_refusal(
    tmp_path: Path, registry: type[OutletRegistry] | type[HospitalRegistry], kind: str
):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"unexpected": True}), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        registry.from_file(path)
    assert str(caught.value).startswith(f"{kind} {path} is invalid"), str(caught.value)


def test_a_day_after_today_is_in_the_future_and_today_is_not():
    today = date(2026, 3, 2)
    assert not_in_future(today, today, "treatment date") == today
    with pytest.raises(InvalidInput) as caught:
        not_in_future(date(2026, 3, 3), today, "treatment date")
    assert str(caught.value) == "treatment date 2026-03-03 is in the future"


def test_only_published_years_are_official():
    published = PublishedCalendar.packaged()
    days = PublishedDays(published)
    years = sorted(published.years)
    assert days.is_official(years[0])
    assert days.is_official(years[-1])
    assert not days.is_official(years[-1] + 1)


def test_a_holder_s_times_are_shown_in_the_zone_of_their_region():
    office = memory_office()
    rid = resident_id()
    office.issue_card(issue(rid))
    zone = office.zone_of(office.holder_id(rid))
    assert zone == ZoneInfo("Asia/Shanghai")
    assert zone == office.policies.policy_for("110000").zone


class _Sample(BaseModel):
    """A command-shaped model with every kind of field the canonical form handles."""

    request_id: str | None = None
    text: str
    at: date
    kinds: frozenset[ProxyScope]
    items: tuple[int, date]
    mapping: dict[Any, Any]


def test_a_fingerprint_is_the_hash_of_one_canonical_text_without_the_request_id():
    """Fingerprints are stored with request records and compared in later releases and other
    processes: the canonical text is pinned here, character for character."""
    sample = _Sample(
        text="发票遗失",
        at=date(2026, 3, 2),
        kinds=frozenset({ProxyScope.COLLECT, ProxyScope.APPLY}),
        items=(1, date(2026, 3, 3)),
        mapping={"b": 1, 2: ["x", date(2026, 3, 4)]},
    )
    canonical = (
        '["_Sample", {"at": "2026-03-02", "items": [1, "2026-03-03"], '
        '"kinds": ["apply", "collect"], "mapping": {"2": ["x", "2026-03-04"], "b": 1}, '
        '"text": "发票遗失"}]'
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert content_digest(sample) == expected
    assert content_digest(sample.model_copy(update={"request_id": "req-1"})) == expected
    # What is stored is that digest keyed: the store file alone cannot confirm a guess.
    keys = DigestKeys.from_holder_id_key(b"test-holder-id-key-000000")
    stored = hmac.new(keys.fingerprints, expected.encode(), hashlib.sha256).hexdigest()
    assert fingerprint(sample, keys) == stored


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(123_450, "1234.50"), (5, "0.05"), (0, "0.00"), (-1, "-0.01"), (-12_345, "-123.45")],
)
def test_fen_are_shown_as_yuan_with_two_places(fen: int, shown: str):
    assert format_yuan(fen) == shown


def test_quotes_are_cut_after_the_limit_and_say_how_long_the_text_was():
    assert quote("a" * 40) == repr("a" * 40)
    assert quote("a" * 41) == repr("a" * 40 + "…") + " (41 characters)"
    assert quote("ab\x1b", limit=3) == repr("ab\x1b")


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),
        ("2000-01-01T08:00:00+08:00", datetime(2000, 1, 1, tzinfo=UTC)),
        ("9000-12-31T23:59:59Z", datetime(9000, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_instants_at_the_edges_of_the_range_are_accepted_in_utc(text: str, utc: datetime):
    parsed = parse_instant(text)
    assert parsed == utc
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "at 'soon' is not an ISO-8601 instant"),
        (
            "2026-03-02T10:00:00",
            "at '2026-03-02T10:00:00' has no time zone offset (add Z or +08:00)",
        ),
        ("1999-12-31T23:59:59Z", "at '1999-12-31T23:59:59Z' is out of range (from 2000-01-01 on)"),
        ("9001-01-01T00:00:00Z", "at '9001-01-01T00:00:00Z' is out of range (from 2000-01-01 on)"),
        ("0001-01-01T00:00:00+01:00", "at '0001-01-01T00:00:00+01:00' is out of range"),
    ],
)
def test_instants_out_of_shape_or_range_are_refused_with_what_was_typed(text: str, message: str):
    with pytest.raises(InvalidInput) as caught:
        parse_instant(text, "at")
    assert str(caught.value) == message


def test_numbers_are_finite_and_above_zero():
    assert parse_number("0.5", "rate") == 0.5
    assert positive_number(0.25, "rate") == 0.25
    for text, message in [
        ("fast", "rate 'fast' is not a number"),
        ("0", "rate must be a finite number above 0, got 0.0"),
        ("nan", "rate must be a finite number above 0, got nan"),
        ("-inf", "rate must be a finite number above 0, got -inf"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            parse_number(text, "rate")
        assert str(caught.value) == message


def test_outside_the_published_years_the_published_days_are_plain_weekdays():
    published = PublishedCalendar.packaged()
    days = PublishedDays(published)
    later = max(published.years) + 1
    monday = next(date(later, 1, d) for d in range(1, 8) if date(later, 1, d).weekday() == 0)
    assert days.is_working_day(monday)
    assert not days.is_working_day(monday + timedelta(days=5))


@pytest.mark.parametrize(
    ("text", "start"),
    [
        (
            '{"years": {"2027": {"notice": []}}}',
            "holiday calendar <string> is invalid at years.2027.",
        ),
        ("[]", "holiday calendar <string> is invalid at top level: "),
        ("{", "holiday calendar <string> is invalid: "),
    ],
)
def test_an_invalid_holiday_calendar_says_where(text: str, start: str):
    with pytest.raises(InvalidInput) as caught:
        PublishedCalendar.from_json(text)
    assert str(caught.value).startswith(start), str(caught.value)


def test_an_invalid_holiday_file_is_named_in_the_refusal(tmp_path: Path):
    path = tmp_path / "holidays.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        PublishedCalendar.from_file(path)
    assert str(caught.value).startswith(f"holiday calendar {path} is invalid at top level")


def test_a_payment_reference_out_of_shape_is_refused_with_its_shape():
    assert validate_payment_reference(" BANK-0001 ") == "BANK-0001"
    with pytest.raises(InvalidInput) as caught:
        validate_payment_reference("x" * 70)
    assert str(caught.value) == (
        f"payment reference {quote('x' * 60)} is not valid: 4-40 characters of letters, "
        "digits, '.', '_', '/', '-'"
    )


def test_an_x_before_the_check_character_is_named_as_such():
    with pytest.raises(InvalidInput) as caught:
        validate_resident_id("1101051949123X002X")
    assert str(caught.value) == (
        "resident ID number: the first 17 characters must be the digits 0-9"
    )


def test_values_are_named_by_their_defaults_unless_told_otherwise():
    with pytest.raises(InvalidInput, match=r"^date 'soon' is not a date \(YYYY-MM-DD\)$"):
        parse_date("soon")
    with pytest.raises(InvalidInput, match=r"^instant 'soon' is not an ISO-8601 instant$"):
        parse_instant("soon")


def test_a_holiday_span_that_ends_before_it_starts_is_refused():
    text = json.dumps({"years": {"2027": {"notice": "x", "days_off": ["2027-02-10/2027-02-01"]}}})
    with pytest.raises(InvalidInput) as caught:
        PublishedCalendar.from_json(text)
    assert str(caught.value).endswith("2027-02-10/2027-02-01: the span ends before it starts")
