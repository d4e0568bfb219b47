"""Issue 12, item 4: one place per kind of value, and errors that quote at most ~40 characters."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInput
from domain.identifiers import validate_card_number, validate_resident_id
from domain.outlets import OutletRegistry
from domain.values import parse_date, parse_number, positive_number, quote, validate_name
from tests.support import Clock, issue, memory_office, pre_report, report, resident_id

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    "name",
    [
        "   ",
        "",
        "张\x00三",
        "张三\r\n李四",
        "\x1b[31m张三\x1b[0m",
        "\u202e三张",  # right-to-left override
        "张\u200b三",  # zero-width space
        "张\t三",
        "x" * 65,
    ],
)
def test_names_must_be_printable_trimmed_and_sane(name: str):
    with pytest.raises(InvalidInput):
        validate_name(name)


def test_a_name_is_trimmed_and_normalised():
    assert validate_name("  王 秀英 ") == "王 秀英"
    assert validate_name("Zoe\u0301") == "Zoé"


def test_resident_ids_are_ascii_digits_and_born_in_the_past():
    with pytest.raises(InvalidInput, match="digits 0-9"):
        validate_resident_id("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")
    with pytest.raises(InvalidInput, match="birth date"):
        validate_resident_id("110105205012310025")
    with pytest.raises(InvalidInput, match="18th"):
        validate_resident_id("11010519491231002Y")


def test_errors_quote_at_most_forty_characters_of_the_input():
    huge = "A" * 10_000
    for check in (validate_card_number, validate_resident_id, validate_name):
        with pytest.raises(InvalidInput) as caught:
            check(huge)
        assert len(str(caught.value)) < 200, check
    assert len(quote(huge)) < 70
    with pytest.raises(InvalidInput) as caught:
        parse_date(huge)
    assert len(str(caught.value)) < 200


def test_dates_and_numbers():
    with pytest.raises(InvalidInput):
        parse_date("2026-02-30")
    for bad in ("nan", "inf", "-inf", "0", "-1", "x"):
        with pytest.raises(InvalidInput):
            parse_number(bad, "--rate")
    assert positive_number(2.5, "--rate") == 2.5
    with pytest.raises(InvalidInput):
        positive_number(math.nan, "--rate")


def test_unknown_outlets_are_refused_and_nothing_is_written():
    office = memory_office(Clock())
    holder = resident_id()
    with pytest.raises(InvalidInput, match="unknown outlet 'XX-NOPE-999'"):
        office.issue_card(issue(holder).model_copy(update={"outlet": "XX-NOPE-999"}))
    office.issue_card(issue(holder))
    with pytest.raises(InvalidInput, match="unknown outlet"):
        office.pre_report_loss(pre_report(holder, outlet="XX-NOPE-999"))
    with pytest.raises(InvalidInput, match="unknown outlet"):
        office.report_loss_formally(report(holder, collection_outlet="XX-NOPE-999"))
    assert office.holder(holder).version == 1


def test_instant_issue_is_a_fact_about_the_outlet():
    office = memory_office(Clock())
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    event = office.report_loss_formally(report(holder, collection_outlet="SH-XUHUI-01"))
    assert event.production_due_on == event.occurred_at.astimezone(SHANGHAI).date()
    registry = OutletRegistry.packaged()
    assert registry.outlet("SH-XUHUI-01").instant_issue
    assert not registry.outlet("BJ-HD-003").instant_issue


def test_a_malformed_outlet_file_is_refused_with_its_place():
    with pytest.raises(InvalidInput, match="outlet code 'bad code' is not valid"):
        OutletRegistry.from_json(
            '{"outlets": [{"code": "bad code", "region_code": "110101", "name": "x"}]}'
        )
    with pytest.raises(InvalidInput, match="twice"):
        OutletRegistry.from_json(
            '{"outlets": [{"code": "BJ-1", "region_code": "110101", "name": "x"},'
            '{"code": "BJ-1", "region_code": "110101", "name": "y"}]}'
        )
