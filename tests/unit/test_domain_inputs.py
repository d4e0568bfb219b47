"""Domain entry points that only the CLI and the servers reached so far: yuan typed by people,
the computation as an officer reads it, registries an operator loads from a file, the dates and
zones the office checks. Held here in memory, so mutation testing of src/domain reaches them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.claims.amounts import Computation, parse_yuan
from domain.errors import InvalidInput
from domain.hospitals import HospitalRegistry
from domain.outlets import OutletRegistry
from domain.region_policy import ReimbursementPolicy
from domain.values import not_in_future
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
