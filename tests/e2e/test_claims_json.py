"""The output contract of ``sscard claims``, ``sscard audit`` and ``sscard db migrate`` under
``--json``, as a client reads it: real processes, a real SQLite store, the real clock.

Every answer is one JSON object on stdout with a ``status``, whether ``--json`` comes before the
command or after it: an accepted command (``recorded``), a retry with the same request id
(the first answer unchanged but for ``"replayed": true``, nothing written), a refusal
(``refused`` with a ``code``, exit 1, nothing written) and bad input (``invalid``, exit 2). The
claim is named ``claim_id`` (never ``originator_id``), the holder ``holder_id`` (the ID number
masked), every instant carries ``+08:00`` and money is yuan with two places beside its fen.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_claims_cli import CLERK, OFFICER, blocked_holder, submit_args
from tests.e2e.test_cli import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_YUAN = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def answer(cli: Cli, exit_code: int, *args: str, json_after: bool = False) -> dict[str, Any]:
    """Run ``sscard --json ARGS`` (or ``sscard ARGS --json``): one JSON object on stdout, with
    a status, the exit code expected, no traceback."""
    argv = [*args, "--json"] if json_after else ["--json", *args]
    result = cli(*argv)
    assert result.returncode == exit_code, (argv, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"one object on one line, got {result.stdout!r}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    assert next(iter(data)) == "status", "status comes first"
    return data


def both_ways(cli: Cli, exit_code: int, *args: str) -> dict[str, Any]:
    """The same query with --json before and after the command: the same answer."""
    before = answer(cli, exit_code, *args)
    assert answer(cli, exit_code, *args, json_after=True) == before
    return before


def refusal(cli: Cli, exit_code: int, code: str, *args: str, json_after: bool) -> None:
    """A command not carried out: status refused (exit 1) or invalid (exit 2), its code and a
    message, and nothing written."""
    before = cli.head()
    data = answer(cli, exit_code, *args, json_after=json_after)
    expected = "refused" if exit_code == 1 else "invalid"
    assert (data["status"], data["code"]) == (expected, code), data
    assert data["message"]
    assert cli.head() == before, "a refused command changed the store"


def check_contract(data: Any, masked: str | None = None) -> None:
    """Everywhere in an answer: local instants with the offset, money as two-place yuan with
    its fen, no stream-library names, the holder's ID number masked."""
    text = json.dumps(data, ensure_ascii=False)
    assert "originator_id" not in text
    if masked is not None:
        assert masked in text
    for key, value in _walk(data):
        if isinstance(value, str) and _INSTANT.match(value):
            assert value.endswith("+08:00"), (key, value)
        if key.endswith("_yuan") and value is not None:
            assert _YUAN.match(value), (key, value)
            fen_key = key.removesuffix("_yuan") + "_fen"
            assert fen_key in _keys_beside(data, key), key
        if key == "holder_id":
            assert "*" in value or value == "[erased]", value


def _walk(data: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [pair for k, v in data.items() for pair in _walk(v, k)] + list(data.items())
    if isinstance(data, list):
        return [pair for item in data for pair in _walk(item, key)]
    return []


def _keys_beside(data: Any, key: str) -> set[str]:
    """Every key of each object that holds ``key``."""
    found: set[str] = set()
    if isinstance(data, dict):
        if key in data:
            found |= set(data)
        for value in data.values():
            found |= _keys_beside(value, key)
    elif isinstance(data, list):
        for item in data:
            found |= _keys_beside(item, key)
    return found


def masked_id(rid: str) -> str:
    return f"{rid[:6]}***********{rid[-1]}"


def accepted_and_replayed(cli: Cli, *args: str, request_id: str) -> dict[str, Any]:
    """An accepted command (--json before it), then its retry (--json after it): the same
    answer but for ``replayed``, and nothing written by the retry."""
    first = answer(cli, 0, *args, "--request-id", request_id)
    assert (first["status"], first["replayed"]) == ("recorded", False)
    head = cli.head()
    again = answer(cli, 0, *args, "--request-id", request_id, json_after=True)
    assert again["replayed"] is True
    assert again | {"replayed": False} == first, "a retry answers the first result unchanged"
    assert cli.head() == head, "a retry wrote something"
    return first


def test_every_claim_command_answers_one_object_recorded_replayed_or_refused(cli: Cli):
    rid = blocked_holder(cli)
    masked = masked_id(rid)

    filing = submit_args(rid, "INV-JSON-0001", *CLERK)
    filed = accepted_and_replayed(cli, *filing, request_id="json-submit-1")
    check_contract(filed, masked)
    claim = filed["claim_id"]
    assert (filed["event"], filed["claim_status"], filed["version"]) == (
        "ReimbursementClaimSubmitted",
        "submitted",
        1,
    )
    assert (filed["holder_id"], filed["bill"]["total_yuan"], filed["bill"]["total_fen"]) == (
        masked,
        "5000.00",
        500_000,
    )
    assert filed["actor"] == {"role": "outlet_clerk", "staff_id": "clerk-01", "channel": None}
    assert filed["window"]["started_at"].endswith("+08:00")
    refusal(cli, 1, "invoice_already_claimed", *filing, json_after=True)

    approving = ["claims", "approve", "--claim", claim, *OFFICER]
    approved = accepted_and_replayed(cli, *approving, request_id="json-approve-1")
    check_contract(approved, masked)
    # in scope 5000.00 - deductible 1800.00 = 3200.00, x 70 % = 2240.00
    assert (approved["claim_id"], approved["payable_yuan"], approved["payable_fen"]) == (
        claim,
        "2240.00",
        224_000,
    )
    assert approved["computation"]["deductible_applied_yuan"] == "1800.00"
    refusal(cli, 1, "claim_already_decided", *approving, json_after=False)

    paying = ["claims", "pay", "--claim", claim, *OFFICER, "--reference", "BANK-JSON-1"]
    paid = accepted_and_replayed(cli, *paying, request_id="json-pay-1")
    check_contract(paid, masked)
    assert (paid["claim_status"], paid["paid_yuan"], paid["payment_reference"]) == (
        "paid",
        "2240.00",
        "BANK-JSON-1",
    )
    refusal(cli, 1, "claim_not_payable", *paying, json_after=True)

    rejected_claim = answer(cli, 0, *submit_args(rid, "INV-JSON-0002", *CLERK))["claim_id"]
    rejecting = ["claims", "reject", "--claim", rejected_claim, *OFFICER, "--reason"]
    rejecting += ["documents_illegible", "--explanation", "the itemised list cannot be read"]
    rejected = accepted_and_replayed(cli, *rejecting, request_id="json-reject-1")
    check_contract(rejected, masked)
    assert (rejected["claim_status"], rejected["reason"]) == ("rejected", "documents_illegible")
    refusal(cli, 1, "claim_already_decided", *rejecting, json_after=False)
    # the rejected claim's invoice stays claimed
    refusal(cli, 1, "invoice_already_claimed", *submit_args(rid, "INV-JSON-0002", *CLERK),
            json_after=False)  # fmt: skip

    withdrawn_claim = answer(cli, 0, *submit_args(rid, "INV-JSON-0003", *CLERK))["claim_id"]
    withdrawing = ["claims", "withdraw", "--claim", withdrawn_claim, "--resident-id", rid]
    withdrawing += ["--channel", "online", "--explanation", "filed twice"]
    withdrawn = accepted_and_replayed(cli, *withdrawing, request_id="json-withdraw-1")
    check_contract(withdrawn, masked)
    assert (withdrawn["claim_status"], withdrawn["withdrawal_explanation"]) == (
        "withdrawn",
        "filed twice",
    )
    assert withdrawn["actor"]["channel"] == "online"
    refusal(cli, 1, "claim_already_decided", *withdrawing, json_after=True)

    # the same request id with another command: bad input, one object, nothing written
    refusal(cli, 2, "request_id_reused", *paying[:-1], "BANK-JSON-2", "--request-id",
            "json-pay-1", json_after=False)  # fmt: skip


def test_claims_show_and_list_give_the_same_fields_under_the_same_names(cli: Cli):
    rid = blocked_holder(cli)
    claim = answer(cli, 0, *submit_args(rid, "INV-SHOW-0001", *CLERK, total="5200.50"))
    claim_id = claim["claim_id"]
    answer(cli, 0, "claims", "approve", "--claim", claim_id, *OFFICER)

    shown = both_ways(cli, 0, "claims", "show", "--claim", claim_id)
    check_contract(shown, masked_id(rid))
    assert (shown["status"], shown["claim_status"], shown["holder_id"]) == (
        "ok",
        "approved",
        masked_id(rid),
    )
    assert (shown["payable_yuan"], shown["bill"]["total_yuan"], shown["paid_yuan"]) == (
        "2380.35",  # (5200.50 - 1800.00) x 70 %
        "5200.50",
        None,
    )
    assert [step["claim_status"] for step in shown["steps"]] == ["submitted", "approved"]
    assert shown["decided_on"] == shown["steps"][1]["at"][:10]  # the local date
    refusal(cli, 1, "claim_not_found", "claims", "show", "--claim",
            "7d1b2b8e-0c7a-4c55-9a55-111111111111", json_after=True)  # fmt: skip
    refusal(cli, 2, "invalid_arguments", "claims", "show", "--claim", "not-a-claim-id",
            json_after=False)  # fmt: skip

    cli.ok("replay", "claims")
    listing = both_ways(cli, 0, "claims", "list")
    check_contract(listing, masked_id(rid))
    assert (listing["status"], listing["count"]) == ("ok", 1)
    [row] = listing["claims"]
    assert set(row) < set(shown), set(row) - set(shown)
    assert row == {name: shown[name] for name in row}, "list and show disagree"
    mine = both_ways(cli, 0, "claims", "list", "--resident-id", rid, "--status", "approved")
    assert mine["claims"] == [row]
    refusal(cli, 2, "invalid_input", "claims", "list", "--resident-id", "110105194912310021",
            json_after=True)  # fmt: skip


def test_audit_and_migration_answer_one_object(cli: Cli, tmp_path: Path):
    rid = blocked_holder(cli)
    nothing = both_ways(cli, 0, "audit", "unmasked-reads")
    assert nothing == {
        "status": "ok",
        "count": 0,
        "reads": [],
        "total": None,
        "page": None,
        "page_size": None,
    }
    cli.ok("holder", "show", "--resident-id", rid, "--unmasked", "--staff", "auditor-01",
           "--reason", "audit")  # fmt: skip
    reads = both_ways(cli, 0, "audit", "unmasked-reads", "--resident-id", rid)
    check_contract(reads, masked_id(rid))
    [read] = reads["reads"]
    assert (read["holder_id"], read["scope"], read["actor"]["staff_id"]) == (
        masked_id(rid),
        "state",
        "auditor-01",
    )
    refusal(cli, 1, "holder_not_found", "audit", "unmasked-reads", "--resident-id",
            "11010519491231002X", json_after=False)  # fmt: skip

    verified = answer(cli, 0, "audit", "verify-chain")
    assert (verified["status"], verified["intact"], verified["findings"]) == ("ok", True, [])
    assert (verified["audited"], verified["added"]) == (0, verified["records"])
    # a second run compares what the first audited, and adds nothing
    again = answer(cli, 0, "audit", "verify-chain", json_after=True)
    assert again | {"audited": 0, "added": verified["added"]} == verified
    assert again["audited"] == verified["records"]
    anchor = f"{verified['head_position']}:{verified['head_digest']}"
    held = answer(cli, 0, "audit", "verify-chain", "--anchor", anchor, json_after=True)
    assert held["anchor"]["holds"] is True
    wrong = f"{verified['head_position']}:{'0' * 64}"
    broken = answer(cli, 1, "audit", "verify-chain", "--anchor", wrong)
    assert (broken["status"], broken["intact"], broken["anchor"]["holds"]) == ("ok", False, False)
    refusal(cli, 2, "invalid_arguments", "audit", "verify-chain", "--anchor", "12", json_after=True)

    current = both_ways(cli, 0, "db", "migrate")
    assert (current["status"], current["migrated"], current["streams"]) == ("ok", False, 0)

    old = Cli(tmp_path / "old")
    facts = json.loads((FIXTURES / "store_v1.json").read_text(encoding="utf-8"))
    old.env["SSCARD_HOLDER_ID_KEY"] = facts["holder_id_key"]
    (tmp_path / "old" / "data").mkdir(parents=True)
    store = sqlite3.connect(tmp_path / "old" / "data" / "sscard.sqlite")
    store.executescript((FIXTURES / "store_v1.sql").read_text(encoding="utf-8"))
    store.close()
    unlinked = answer(old, 1, "audit", "verify-chain", json_after=True)
    assert (unlinked["intact"], unlinked["unlinked"] > 0) == (False, True)
    migrated = answer(old, 0, "db", "migrate", json_after=True)
    assert (migrated["status"], migrated["migrated"], migrated["streams"] > 0) == (
        "ok",
        True,
        True,
    )
    assert migrated["sealed"] > 0
    again = answer(old, 0, "db", "migrate")
    assert (again["migrated"], again["streams"]) == (False, 0)
    assert answer(old, 0, "audit", "verify-chain")["intact"] is True
