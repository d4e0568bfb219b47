"""Client request ids on the claim commands: the card commands' mechanism (``domain.requests``),
one ledger for every write path. A retry with the same id records nothing and answers with the
first result; the same id with another command is refused and writes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.application import CardOffice
from domain.claims.errors import ClaimAlreadyDecided, InvoiceAlreadyClaimed
from domain.claims.events import RejectionReason
from domain.requests import RequestIdReused, RequestRecorded
from samples.claims import approve, bill, pay, reject, submit, withdraw
from store.persistence import upcast
from tests.support import Clock, head, issue, memory_office, pre_report, resident_id


@pytest.fixture
def office() -> CardOffice:
    return memory_office(Clock())


def blocked(office: CardOffice) -> str:
    rid = resident_id()
    office.issue_card(issue(rid))
    office.pre_report_loss(pre_report(rid))
    return rid


def with_id(command: Any, request_id: str) -> Any:
    return command.model_copy(update={"request_id": request_id})


def test_a_retried_submission_gets_the_first_claim_and_reserves_nothing_more(office):
    rid = blocked(office)
    command = with_id(submit(rid, date(2026, 3, 2)), "submit-1")
    first = office.submit_claim(command)
    before = head(office)
    again = office.submit_claim(command)
    assert again == first
    assert head(office) == before
    # without the request id the same invoice is a second claim, and refused
    with pytest.raises(InvoiceAlreadyClaimed):
        office.submit_claim(command.model_copy(update={"request_id": None}))


def test_every_decision_answers_a_retry_with_its_first_result(office):
    rid = blocked(office)
    approved_claim = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    rejected_claim = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    withdrawn_claim = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    commands = [
        (office.approve_claim, with_id(approve(approved_claim), "approve-1")),
        (office.pay_claim, with_id(pay(approved_claim, "BANK-0001"), "pay-1")),
        (office.reject_claim, with_id(reject(rejected_claim), "reject-1")),
        (office.withdraw_claim, with_id(withdraw(withdrawn_claim, rid), "withdraw-1")),
    ]
    firsts = [use_case(command) for use_case, command in commands]
    before = head(office)
    assert [use_case(command) for use_case, command in commands] == firsts
    assert head(office) == before
    # the rule still refuses a new request on a decided claim
    with pytest.raises(ClaimAlreadyDecided):
        office.approve_claim(with_id(approve(approved_claim), "approve-2"))


def test_the_same_request_id_with_another_command_is_refused_and_writes_nothing(office):
    rid = blocked(office)
    claim_id = office.submit_claim(
        with_id(submit(rid, date(2026, 3, 2), bill(total=100_000)), "shared-id")
    ).originator_id
    before = head(office)
    with pytest.raises(RequestIdReused, match="different SubmitClaim"):
        office.submit_claim(
            with_id(submit(rid, date(2026, 3, 2), bill(total=200_000)), "shared-id")
        )
    with pytest.raises(RequestIdReused):
        office.approve_claim(with_id(approve(claim_id), "shared-id"))
    reason = RejectionReason.BILL_MISMATCH
    with pytest.raises(RequestIdReused):
        office.reject_claim(with_id(reject(claim_id, reason), "shared-id"))
    assert head(office) == before
    # a card command under a claim's request id is refused too: one ledger for the office
    with pytest.raises(RequestIdReused):
        office.execute(with_id(pre_report(resident_id()), "shared-id"))


def test_a_request_record_of_the_card_commands_first_form_is_upcast():
    old = {
        "originator_id": "6f0c1b1e-0000-5000-8000-000000000001",
        "originator_version": 1,
        "schema_version": 1,
        "request_id": "old-1",
        "command_type": "PreReportLoss",
        "fingerprint": "0" * 64,
        "holder_id": "6f0c1b1e-0000-5000-8000-000000000002",
        "event_version": 2,
    }
    holder = old["holder_id"]
    state = upcast(RequestRecorded, old)
    assert state["stream_id"] == holder
    assert "holder_id" not in state
    assert state["schema_version"] == 3
    assert state["fingerprint_form"] == "sha256"  # compared as the plain digest it is
