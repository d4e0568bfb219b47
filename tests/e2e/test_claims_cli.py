"""``sscard claims`` as a clerk, a claims officer and a holder use it: real processes, a real
SQLite store in a temporary folder, the real clock.

A refusal exits 1 (the rules) or 2 (bad input) with exactly one line and writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_cli import Cli
from tests.support import card_number, resident_id

CLERK = ["--outlet", "BJ-DC-001", "--staff", "clerk-01"]
OFFICER = ["--officer", "officer-01"]
DOCS = "invoice_original,itemised_list,prescription"
HOSPITAL = "H11010500007"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def blocked_holder(cli: Cli) -> str:
    rid = resident_id()
    cli.ok(
        "card",
        "issue",
        "--resident-id",
        rid,
        "--name",
        "张三",
        "--region",
        "110000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    cli.ok("loss", "pre-report", "--resident-id", rid, *CLERK)
    return rid


def submit_args(rid: str, invoice: str, *extra: str, total: str = "5000.00") -> list[str]:
    return [
        "claims",
        "submit",
        "--resident-id",
        rid,
        "--hospital",
        HOSPITAL,
        "--treatment-date",
        today(),
        "--invoice",
        invoice,
        "--total",
        total,
        "--in-scope",
        total,
        "--documents",
        DOCS,
        *extra,
    ]


def submit(cli: Cli, rid: str, invoice: str, *extra: str, total: str = "5000.00") -> str:
    out = cli.ok("--json", *submit_args(rid, invoice, *(extra or CLERK), total=total))
    return str(json.loads(out)["claim_id"])


def test_a_claim_is_filed_approved_paid_and_shown(cli: Cli):
    rid = blocked_holder(cli)
    args = submit_args(rid, "0012345678", *CLERK, total="5200.50")
    args[args.index("--in-scope") + 1] = "5000"
    out = cli.ok(*args, "--self-paid", "200.5")
    assert "submitted" in out
    assert "total 5200.50 yuan, in scope 5000.00 yuan" in out
    assert "+08:00" in out  # local time for people
    claim = out.split("claim ", 1)[1].split()[0]

    approved = cli.ok("claims", "approve", "--claim", claim, *OFFICER)
    # in scope 5000.00 - deductible 1800.00 = 3200.00, x 70 % = 2240.00
    assert "payable 2240.00 yuan" in approved
    assert "deductible applied to this bill" in approved
    assert "1800.00" in approved

    paid = cli.ok("claims", "pay", "--claim", claim, *OFFICER, "--reference", "BANK-2026-0001")
    assert "paid 2240.00 yuan, reference BANK-2026-0001" in paid

    shown = cli.ok("claims", "show", "--claim", claim)
    for expected in ("status      paid", "payable     2240.00 yuan", "fully self-paid 200.50 yuan"):
        assert expected in shown
    assert rid not in shown, "the full ID number must not be printed"
    as_json = json.loads(cli.ok("--json", "claims", "show", "--claim", claim))
    assert (as_json["claim_id"], as_json["claim_status"], as_json["payable_yuan"]) == (
        claim,
        "paid",
        "2240.00",
    )
    assert as_json["computation"]["deductible_applied_fen"] == 180_000
    assert as_json["steps"][0]["at"].endswith("+08:00")


def test_a_second_claim_on_the_same_invoice_is_refused(cli: Cli):
    rid = blocked_holder(cli)
    first = submit(cli, rid, "0099887766")
    line = cli.refused(1, *submit_args(rid, "0099887766", *CLERK))
    assert "refused (invoice_already_claimed)" in line
    assert first in line


def test_a_treatment_outside_every_window_is_refused(cli: Cli):
    rid = resident_id()
    cli.ok(
        "card",
        "issue",
        "--resident-id",
        rid,
        "--name",
        "张三",
        "--region",
        "110000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    line = cli.refused(1, *submit_args(rid, "0011223344", *CLERK))
    assert "treatment_outside_window" in line


def test_an_undesignated_hospital_is_refused_and_a_malformed_one_is_bad_input(cli: Cli):
    rid = blocked_holder(cli)
    args = submit_args(rid, "0011223355", *CLERK)
    args[args.index(HOSPITAL)] = "H11010599999"
    assert "hospital_not_designated" in cli.refused(1, *args)
    args[args.index("H11010599999")] = "HOSPITAL-1"
    assert "hospital code" in cli.refused(2, *args)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("-5.00", "must not be negative"),
        ("NaN", "not a number"),
        ("12.345", "more than 2 decimal places"),
        ("1e3", "at most 2 decimals"),
        ("１２", "at most 2 decimals"),  # full-width digits
    ],
)
def test_money_that_is_not_yuan_with_two_decimals_is_bad_input(cli: Cli, amount: str, reason: str):
    line = cli.refused(2, *submit_args(resident_id(), "0011223366", *CLERK, total=amount))
    assert reason in line


def test_an_in_scope_amount_above_the_total_is_bad_input(cli: Cli):
    rid = blocked_holder(cli)
    args = submit_args(rid, "0011223377", *CLERK, total="100.00")
    args[args.index("--in-scope") + 1] = "100.01"
    assert "exceeds the total" in cli.refused(2, *args)


def test_the_caller_must_say_who_takes_the_claim(cli: Cli):
    rid = blocked_holder(cli)
    line = cli.refused(2, *submit_args(rid, "0011223388"))
    assert "say who takes it" in line
    both = cli.refused(2, *submit_args(rid, "0011223388", *CLERK, *OFFICER))
    assert "say who takes it" in both
    no_outlet = cli.refused(2, *submit_args(rid, "0011223388", "--staff", "clerk-01"))
    assert "names the outlet" in no_outlet


def test_a_rejected_claim_is_not_approved_afterwards(cli: Cli):
    rid = blocked_holder(cli)
    claim = submit(cli, rid, "0022334455")
    out = cli.ok(
        "claims",
        "reject",
        "--claim",
        claim,
        *OFFICER,
        "--reason",
        "documents_illegible",
        "--explanation",
        "the itemised list cannot be read",
    )
    assert "rejected (documents_illegible)" in out
    line = cli.refused(1, "claims", "approve", "--claim", claim, *OFFICER)
    assert "claim_already_decided" in line


def test_the_holder_files_online_and_withdraws_by_hotline(cli: Cli):
    rid = blocked_holder(cli)
    claim = submit(cli, rid, "0033445566", "--channel", "online")
    other = blocked_holder(cli)
    line = cli.refused(
        1, "claims", "withdraw", "--claim", claim, "--resident-id", other, "--channel", "online"
    )
    assert "claim_not_holders" in line
    out = cli.ok(
        "claims",
        "withdraw",
        "--claim",
        claim,
        "--resident-id",
        rid,
        "--channel",
        "hotline_12333",
        "--explanation",
        "filed twice by mistake",
    )
    assert "withdrawn: filed twice by mistake" in out


def test_unknown_and_malformed_claim_ids(cli: Cli):
    blocked_holder(cli)  # a store exists
    assert "claim_not_found" in cli.refused(
        1, "claims", "show", "--claim", "7d1b2b8e-0c7a-4c55-9a55-111111111111"
    )
    assert "not a claim id" in cli.refused(2, "claims", "show", "--claim", "not-a-uuid")


def test_after_the_demo_the_claims_list_shows_one_paid_and_one_rejected_claim(cli: Cli):
    out = cli.ok("demo")
    assert "refused, nothing recorded: treatment date" in out
    assert "rejected (bill_mismatch)" in out
    listed = json.loads(cli.ok("claims", "list", "--json"))["claims"]
    assert sorted(c["claim_status"] for c in listed) == ["paid", "rejected"]
    [paid] = [c for c in listed if c["claim_status"] == "paid"]
    assert paid["payable_yuan"] == paid["paid_yuan"] != "0.00"
    [rejected] = [c for c in listed if c["claim_status"] == "rejected"]
    assert (rejected["reason"], rejected["payable_yuan"]) == ("bill_mismatch", None)
    # the refused filing wrote nothing: two claims in all
    assert len(listed) == 2


def test_claims_list_reads_the_view_and_filters_by_status_and_holder(cli: Cli):
    rid, other = blocked_holder(cli), blocked_holder(cli)
    first = submit(cli, rid, "INV-LIST-0001")
    second = submit(cli, other, "INV-LIST-0002")
    cli.ok("claims", "approve", "--claim", first, *OFFICER)
    empty = json.loads(cli.ok("claims", "list", "--json"))  # the view is not fed yet
    assert (empty["status"], empty["count"], empty["claims"]) == ("ok", 0, [])
    assert cli.ok("claims", "list").strip() == "0 claims"
    cli.ok("replay", "claims")
    listed = json.loads(cli.ok("claims", "list", "--json"))["claims"]
    assert {c["claim_id"]: c["claim_status"] for c in listed} == {
        first: "approved",
        second: "submitted",
    }
    waiting = json.loads(cli.ok("claims", "list", "--status", "submitted", "--json"))["claims"]
    assert [c["claim_id"] for c in waiting] == [second]
    mine = json.loads(cli.ok("claims", "list", "--resident-id", rid, "--json"))["claims"]
    assert [(c["claim_id"], c["payable_yuan"]) for c in mine] == [(first, "2240.00")]
    assert mine[0]["holder_id"] == f"{rid[:6]}***********{rid[-1]}"  # masked
    text = cli.ok("claims", "list")
    header, *rows, count = text.splitlines()
    assert header.split()[:3] == ["claim", "status", "holder"]
    assert count == "2 claims"
    assert any(row.split()[:2] == [first, "approved"] for row in rows)
    assert rid not in text
    assert "INV-LIST" not in text  # no invoice, hospital or treatment date in the view
    assert HOSPITAL not in text
    assert cli("claims", "list", "--status", "lost").returncode == 2


def test_every_claims_command_takes_a_request_id_and_a_retry_prints_the_first_result(cli: Cli):
    rid = blocked_holder(cli)
    filing = submit_args(rid, "INV-RETRY-0001", *CLERK, "--request-id", "file-1")
    first = cli.ok(*filing)
    before = cli.head()
    assert cli.ok(*filing) == first
    assert cli.head() == before
    claim = first.split("claim ", 1)[1].split(" ", 1)[0]
    approving = ["claims", "approve", "--claim", claim, *OFFICER, "--request-id", "approve-1"]
    approved = cli.ok(*approving)
    assert cli.ok(*approving) == approved
    paying = ["claims", "pay", "--claim", claim, *OFFICER, "--reference", "BANK-1", "--request-id"]
    paid = cli.ok(*paying, "pay-1")
    assert cli.ok(*paying, "pay-1") == paid
    # the same id with another command: bad input, one line, nothing written
    line = cli.refused(2, *paying[:-2], "BANK-2", "--request-id", "pay-1")
    assert "pay-1" in line
    for action in ("reject", "withdraw"):
        assert "--request-id" in cli.ok("claims", action, "--help")


def test_an_erased_holders_claim_is_shown_with_its_medical_details_erased(cli: Cli):
    rid = blocked_holder(cli)
    claim = submit(cli, rid, "0077001122")
    cli.ok("holder", "erase", "--resident-id", rid, "--staff", "auditor-01")
    shown = cli.ok("claims", "show", "--claim", claim)
    assert "[erased]" in shown
    assert HOSPITAL not in shown
    data = json.loads(cli.ok("--json", "claims", "show", "--claim", claim))
    assert data["hospital_code"] == "[erased]"
