"""The claim results of the application layer (``application.claims``), on the in-memory store:
a retry says it is one and otherwise answers the first result unchanged; instants and local
dates are the claim's region's, not UTC; the age of a claim counts to today while it waits and
to its decision once decided; money is yuan with two places beside its fen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from application.claim_results import ClaimApproval, ClaimPayment, ClaimSubmission
from application.claims import (
    approve_claim,
    claim_steps,
    pay_claim,
    reject_claim,
    show_claim,
    submit_claim,
    withdraw_claim,
)
from domain.application import CardOffice
from samples.claims import approve, bill, pay, reject, submit, withdraw
from tests.support import Clock, head, issue, memory_office, pre_report, resident_id

# 01:00 UTC on 2 March is 09:00 in Beijing; 17:00 UTC on 3 March is already 4 March there.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LATE_EVENING_UTC = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def office(clock: Clock) -> CardOffice:
    return memory_office(clock)


def blocked(office: CardOffice) -> str:
    rid = resident_id()
    office.issue_card(issue(rid))
    office.pre_report_loss(pre_report(rid))
    return rid


def masked(rid: str) -> str:
    return f"{rid[:6]}***********{rid[-1]}"


def with_id(command: Any, request_id: str) -> Any:
    return command.model_copy(update={"request_id": request_id})


def test_a_retry_answers_the_first_result_unchanged_but_says_it_is_a_replay(office: CardOffice):
    rid = blocked(office)
    filing = with_id(submit(rid, date(2026, 3, 2), bill(total=520_050)), "submit-1")
    first = submit_claim(office, filing)
    assert isinstance(first, ClaimSubmission)
    assert (first.status, first.replayed, first.holder_id) == ("recorded", False, masked(rid))
    before = head(office)
    again = submit_claim(office, filing)
    assert head(office) == before
    assert again.replayed is True
    assert again.model_copy(update={"replayed": False}) == first

    claim_id = first.claim_id
    approving = with_id(approve(UUID(claim_id)), "approve-1")
    approved = approve_claim(office, approving)
    pay_claim(office, pay(UUID(claim_id)))  # the claim moves on after the approval
    retried = approve_claim(office, approving)
    assert (retried.replayed, retried.claim_status) == (True, "approved")
    assert retried.model_copy(update={"replayed": False}) == approved


def test_every_step_is_dated_in_the_regions_time_and_local_dates(office: CardOffice, clock: Clock):
    rid = blocked(office)
    filed = submit_claim(office, submit(rid, date(2026, 3, 2), bill(total=520_050)))
    assert filed.at == "2026-03-02T09:00:00+08:00"
    assert filed.window.started_at.endswith("+08:00")
    clock.now = LATE_EVENING_UTC
    approved = approve_claim(office, approve(UUID(filed.claim_id)))
    assert isinstance(approved, ClaimApproval)
    assert (approved.at, approved.decided_on) == ("2026-03-04T01:00:00+08:00", "2026-03-04")
    paid = pay_claim(office, pay(UUID(filed.claim_id), "BANK-1"))
    assert isinstance(paid, ClaimPayment)
    assert paid.paid_on == "2026-03-04"

    shown = show_claim(office, UUID(filed.claim_id), now=LATE_EVENING_UTC)
    assert (shown.submitted_at, shown.decided_on, shown.paid_on) == (
        "2026-03-02T09:00:00+08:00",
        "2026-03-04",
        "2026-03-04",
    )
    assert [s.at for s in shown.steps] == [
        "2026-03-02T09:00:00+08:00",
        "2026-03-04T01:00:00+08:00",
        "2026-03-04T01:00:00+08:00",
    ]
    assert [s.model_dump() for s in claim_steps(office, UUID(filed.claim_id))] == [
        s.model_dump() for s in (filed, approved, paid)
    ]


def test_money_is_yuan_with_two_places_beside_its_fen(office: CardOffice):
    rid = blocked(office)
    filed = submit_claim(
        office, submit(rid, date(2026, 3, 2), bill(total=520_050, in_scope=500_000))
    )
    assert filed.bill is not None
    assert (filed.bill.total_yuan, filed.bill.total_fen) == ("5200.50", 520_050)
    assert (filed.bill.fully_self_paid_yuan, filed.bill.fully_self_paid_fen) == ("0.00", 0)
    approved = approve_claim(office, approve(UUID(filed.claim_id)))
    # in scope 5000.00 - deductible 1800.00 = 3200.00, x 70 % = 2240.00
    assert (approved.payable_yuan, approved.payable_fen) == ("2240.00", 224_000)
    computation = approved.computation
    assert (computation.deductible_applied_yuan, computation.deductible_applied_fen) == (
        "1800.00",
        180_000,
    )
    assert computation.lines[-1].value == "2240.00"
    shown = show_claim(office, UUID(filed.claim_id))
    assert (shown.payable_yuan, shown.paid_yuan, shown.paid_fen) == ("2240.00", None, None)


def test_a_claims_age_counts_to_today_while_it_waits_and_to_its_decision_after(
    office: CardOffice, clock: Clock
):
    rid = blocked(office)
    waiting = submit_claim(office, submit(rid, date(2026, 3, 2)))
    decided = submit_claim(office, submit(rid, date(2026, 3, 2)))
    withdrawn = submit_claim(office, submit(rid, date(2026, 3, 2)))
    clock.now = LATE_EVENING_UTC  # 4 March in Beijing: two days after filing
    reject_claim(office, reject(UUID(decided.claim_id)))
    withdraw_claim(office, withdraw(UUID(withdrawn.claim_id), rid))
    ten_days_on = datetime(2026, 3, 12, 3, 0, tzinfo=UTC)
    ages = {
        name: show_claim(office, UUID(result.claim_id), now=ten_days_on).age_days
        for name, result in (("waiting", waiting), ("decided", decided), ("withdrawn", withdrawn))
    }
    assert ages == {"waiting": 10, "decided": 2, "withdrawn": 2}
    rejected = show_claim(office, UUID(decided.claim_id))
    assert (rejected.claim_status, rejected.reason, rejected.decided_on) == (
        "rejected",
        "documents_illegible",
        "2026-03-04",
    )
