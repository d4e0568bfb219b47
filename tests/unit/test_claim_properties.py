"""Property: across many claims and decisions, in any order, over a window that spans a new year,
the fund never pays a holder more than the annual cap, and what it pays equals a recomputation
from the recorded events by an independent reference.

A hypothesis state machine keeps a small model beside the office: it predicts whether each
command is accepted (and the refusal code when not) and what each approval pays, and checks the
office agrees.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as count_case
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import CardOffice
from domain.claims.errors import ClaimAlreadyDecided, ClaimNotPayable
from domain.claims.events import (
    BenefitConsumed,
    ReimbursementClaimApproved,
    ReimbursementClaimSubmitted,
)
from domain.region_policy import RegionPolicies, ReimbursementPolicy
from samples.claims import approve, bill, pay, reject, submit, withdraw
from tests.support import Clock, issue, memory_office, pre_report, resident_id

ZONE = ZoneInfo("Asia/Shanghai")
# Small enough that a handful of claims reaches the cap; an odd ratio so rounding matters.
POLICY = ReimbursementPolicy(
    deductible_fen=50_000, ratio_basis_points=6_667, annual_cap_fen=150_000, filing_deadline_days=90
)
WINDOW_START = date(2026, 12, 20)
TODAY = date(2027, 1, 10)


def _policies() -> RegionPolicies:
    packaged = RegionPolicies.packaged()
    return RegionPolicies(
        regions=tuple(
            p.model_copy(update={"reimbursement": POLICY}) if p.region_code == "110000" else p
            for p in packaged.regions
        )
    )


def reference_payable(in_scope: int, deductible_used: int, paid: int) -> tuple[int, int]:
    """(deductible applied, payable), written apart from the domain's ``Computation``."""
    applied = min(in_scope, max(0, POLICY.deductible_fen - deductible_used))
    numerator = (in_scope - applied) * POLICY.ratio_basis_points
    share = numerator // 10_000 + (1 if numerator % 10_000 >= 5_000 else 0)
    return applied, max(0, min(share, POLICY.annual_cap_fen - paid))


def recompute_from_events(office: CardOffice) -> dict[tuple[UUID, int], tuple[int, int]]:
    """Replay every approval in store order with the reference: (deductible used, paid) per
    holder and year. Fails if any recorded approval differs from the recomputation."""
    notifications = office.recorder.select_notifications(start=1, limit=1_000_000)
    events = [office.mapper.to_domain_event(n) for n in notifications]
    in_scope = {
        e.originator_id: e.bill.in_scope_fen
        for e in events
        if isinstance(e, ReimbursementClaimSubmitted)
    }
    totals: dict[tuple[UUID, int], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for event in events:
        if not isinstance(event, ReimbursementClaimApproved):
            continue
        key = (event.holder_id, event.benefit_year)
        used, paid = totals[key]
        applied, payable = reference_payable(in_scope[event.originator_id], used, paid)
        assert (event.computation.deductible_applied_fen, event.payable_fen) == (applied, payable)
        totals[key] = (used + applied, paid + payable)
    return dict(totals)


class ClaimsMachine(RuleBasedStateMachine):
    @initialize()
    def open_window(self) -> None:
        self.clock = Clock(datetime(2026, 12, 20, 9, tzinfo=ZONE).astimezone(UTC))
        self.office = memory_office(self.clock, policies=_policies())
        self.rid = resident_id()
        self.office.issue_card(issue(self.rid))
        self.office.pre_report_loss(pre_report(self.rid))
        self.clock.now = datetime(2027, 1, 10, 9, tzinfo=ZONE).astimezone(UTC)
        self.holder_id = self.office.holder_id(self.rid)
        # The model: per benefit year, (deductible used, paid); per claim, its in-scope amount.
        self.model: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
        self.in_scope: dict[UUID, tuple[int, int]] = {}
        self.payable: dict[UUID, int] = {}
        self.pending: list[UUID] = []
        self.approved: list[UUID] = []

    @rule(
        day=st.integers(0, (TODAY - WINDOW_START).days),
        in_scope=st.integers(1, 400_000),
        self_paid=st.integers(0, 50_000),
    )
    def submit_claim(self, day: int, in_scope: int, self_paid: int) -> None:
        treated_on = WINDOW_START + timedelta(days=day)
        amounts = bill(total=in_scope + self_paid, in_scope=in_scope, self_paid=self_paid)
        claim_id = self.office.submit_claim(submit(self.rid, treated_on, amounts)).originator_id
        self.in_scope[claim_id] = (treated_on.year, in_scope)
        self.pending.append(claim_id)

    # Rules pick claims by index from plain lists (not bundles): every rule is always enabled,
    # so hypothesis never gives up a run looking for one that is.
    @rule(
        pick=st.integers(0, 1_000),
        decision=st.sampled_from(["approve", "approve", "reject", "withdraw"]),
    )
    def decide(self, pick: int, decision: str) -> None:
        if not self.pending:
            return
        claim_id = self.pending.pop(pick % len(self.pending))
        if decision == "reject":
            self.office.reject_claim(reject(claim_id))
            return
        if decision == "withdraw":
            self.office.withdraw_claim(withdraw(claim_id, self.rid))
            return
        year, in_scope = self.in_scope[claim_id]
        used, paid = self.model[year]
        applied, payable = reference_payable(in_scope, used, paid)
        approval = self.office.approve_claim(approve(claim_id))
        assert approval.payable_fen == payable
        assert approval.computation.deductible_applied_fen == applied
        self.model[year] = (used + applied, paid + payable)
        self.payable[claim_id] = payable
        self.approved.append(claim_id)
        if paid + payable == POLICY.annual_cap_fen:
            count_case("an approval reached the annual cap")

    @rule(pick=st.integers(0, 1_000), pay_it=st.booleans())
    def follow_up(self, pick: int, pay_it: bool) -> None:
        """Pay once when something is payable, else refused; never decided twice. A refusal
        writes nothing."""
        if not self.approved:
            return
        claim_id = self.approved[pick % len(self.approved)]
        before = self.office.recorder.max_notification_id()
        if not pay_it:
            with pytest.raises(ClaimAlreadyDecided):
                self.office.approve_claim(approve(claim_id))
        elif self.payable[claim_id] == 0:  # nothing payable, or already paid
            with pytest.raises(ClaimNotPayable):
                self.office.pay_claim(pay(claim_id, f"PAY-{claim_id.hex[:8]}"))
        else:
            paid = self.office.pay_claim(pay(claim_id, f"PAY-{claim_id.hex[:8]}"))
            assert paid.payable_fen == self.payable[claim_id]
            self.payable[claim_id] = 0  # a second payment must be refused
            return
        assert self.office.recorder.max_notification_id() == before

    @invariant()
    def never_above_the_cap_and_equal_to_a_recomputation(self) -> None:
        if not hasattr(self, "office"):
            return
        recomputed = recompute_from_events(self.office)
        for year in (2026, 2027):
            used, paid = self.model[year]
            assert paid <= POLICY.annual_cap_fen
            assert used <= POLICY.deductible_fen
            assert recomputed.get((self.holder_id, year), (0, 0)) == (used, paid)
            ledger = self.office.benefit_ledger(self.holder_id, year)
            assert (ledger.deductible_used_fen, ledger.paid_fen) == (used, paid)
            ledger_events = list(self.office.events.get(ledger.id))
            assert all(isinstance(e, BenefitConsumed) for e in ledger_events)
            assert len(ledger_events) == ledger.version


ClaimsMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_claims_state_machine = ClaimsMachine.TestCase
