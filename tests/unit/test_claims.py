"""Reimbursement claims: the story, and every claim rule attacked in turn.

Each refused command must name its reason and leave the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.application import CardOffice
from domain.cardholder.errors import HolderNotFound
from domain.claims.amounts import Computation, share_at_ratio
from domain.claims.errors import (
    CertificateNotHolders,
    ClaimAlreadyDecided,
    ClaimDocumentsMissing,
    ClaimNotFound,
    ClaimNotHolders,
    ClaimNotPayable,
    FilingDeadlinePassed,
    HospitalNotDesignated,
    InvoiceAlreadyClaimed,
    NoReimbursementPolicy,
    NotAuthorized,
    TreatmentInFuture,
    TreatmentOutsideWindow,
)
from domain.claims.events import (
    BenefitConsumed,
    Bill,
    ClaimDocument,
    ReimbursementClaimApproved,
    RejectionReason,
)
from domain.claims.office import ClaimContention
from domain.claims.state import (
    BenefitLedger,
    ClaimStatus,
    Step,
    apply_claim,
    apply_consumption,
    project_claim,
)
from domain.errors import DomainError, InvalidInput
from domain.event import Actor, Channel, Role
from domain.hospitals import HospitalRegistry
from domain.region_policy import RegionPolicies
from samples.claims import (
    BEIJING_HOSPITAL,
    CLAIM_DOCS,
    HOLDER_ONLINE,
    OFFICER,
    SHANGHAI_HOSPITAL,
    approve,
    bill,
    pay,
    reject,
    submit,
    withdraw,
)
from tests.support import (
    CLERK,
    OUTLET,
    Clock,
    activate,
    cancel,
    card_number,
    collect,
    head,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)

SHANGHAI_TIME = ZoneInfo("Asia/Shanghai")


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Beijing-time instant, as the UTC instant the store keeps."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI_TIME).astimezone(
        UTC
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(at_local(date(2026, 3, 2), 10))


@pytest.fixture
def office(clock: Clock) -> CardOffice:
    return memory_office(clock)


def blocked_holder(office: CardOffice, region: str = "110000") -> str:
    """A holder whose card was pre-reported lost now (a window open since the clock's now)."""
    rid = resident_id()
    office.issue_card(issue(rid, region=region))
    office.pre_report_loss(pre_report(rid))
    return rid


def refused(office: CardOffice, error: type[DomainError], attempt: Callable[[], Any]) -> str:
    before = head(office)
    with pytest.raises(error) as caught:
        attempt()
    assert head(office) == before, "a refused command wrote to the store"
    return str(caught.value)


# ---- the story ---------------------------------------------------------------------------------


def test_a_bill_paid_while_blocked_is_filed_approved_and_paid(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)
    clock.advance(days=3)
    submitted = office.submit_claim(
        submit(rid, date(2026, 3, 3), bill(total=520_000, in_scope=500_000, self_paid=20_000))
    )
    approved = office.approve_claim(approve(submitted.originator_id))
    # (5000.00 - 1800.00 deductible) x 70 % = 2240.00, well under the 20,000-yuan cap
    assert approved.payable_fen == 224_000
    assert approved.computation.deductible_applied_fen == 180_000
    assert approved.computation.eligible_fen == 320_000
    assert approved.benefit_year == 2026
    paid = office.pay_claim(pay(submitted.originator_id, "BANK-0001"))
    assert paid.payable_fen == 224_000

    claim = office.claim(submitted.originator_id)
    assert claim.status is ClaimStatus.PAID
    assert claim.payment_reference == "BANK-0001"
    assert [s.status for s in claim.steps] == [
        ClaimStatus.SUBMITTED,
        ClaimStatus.APPROVED,
        ClaimStatus.PAID,
    ]
    assert project_claim(None, office.claim_history(claim.id)) == claim
    ledger = office.benefit_ledger(claim.holder_id, 2026)
    assert (ledger.deductible_used_fen, ledger.paid_fen, ledger.claims) == (
        180_000,
        224_000,
        (claim.id,),
    )
    reservation = office.invoice_reservation(BEIJING_HOSPITAL, submitted.invoice_number)
    assert reservation is not None
    assert reservation.claim_id == claim.id


def test_the_holder_files_online_and_withdraws_online(office: CardOffice):
    rid = blocked_holder(office)
    submitted = office.submit_claim(submit(rid, date(2026, 3, 2), actor=HOLDER_ONLINE, outlet=None))
    withdrawn = office.withdraw_claim(withdraw(submitted.originator_id, rid))
    assert office.claim(withdrawn.originator_id).status is ClaimStatus.WITHDRAWN


def test_a_rejection_records_its_reason_and_consumes_nothing(office: CardOffice):
    rid = blocked_holder(office)
    submitted = office.submit_claim(submit(rid, date(2026, 3, 2)))
    office.reject_claim(reject(submitted.originator_id, RejectionReason.BILL_MISMATCH, "sums"))
    claim = office.claim(submitted.originator_id)
    assert claim.status is ClaimStatus.REJECTED
    assert claim.rejection == (RejectionReason.BILL_MISMATCH, "sums")
    assert office.benefit_ledger(claim.holder_id, 2026).version == 0


# ---- the treatment date lies inside a suspension window ----------------------------------------


def test_a_treatment_before_the_pre_report_is_refused(office: CardOffice):
    rid = blocked_holder(office)
    reason = refused(
        office,
        TreatmentOutsideWindow,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 1))),
    )
    assert "2026-03-02 to today" in reason


def test_a_holder_whose_card_was_never_blocked_has_no_window(office: CardOffice):
    rid = resident_id()
    office.issue_card(issue(rid))
    reason = refused(
        office, TreatmentOutsideWindow, lambda: office.submit_claim(submit(rid, date(2026, 3, 2)))
    )
    assert reason == (
        "treatment date 2026-03-02 lies outside every period in which the holder's card was "
        "blocked (the card was never blocked)"
    )


def test_a_cancelled_pre_report_closes_its_window(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)
    clock.advance(days=2)  # 2026-03-04 10:00 local
    office.cancel_pre_report(cancel(rid))
    clock.advance(days=3)
    office.submit_claim(submit(rid, date(2026, 3, 4)))  # the day of the cancellation counts
    refused(
        office, TreatmentOutsideWindow, lambda: office.submit_claim(submit(rid, date(2026, 3, 5)))
    )


def test_a_lapse_that_unblocks_closes_the_window(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)
    holder_id = office.holder_id(rid)
    pre = office.holder(rid).pre_report
    assert pre is not None
    lapsed = office.lapse_pre_report(holder_id, pre.version, clock.advance(days=11))
    assert lapsed is not None
    last_day = lapsed.occurred_at.astimezone(SHANGHAI_TIME).date()
    clock.advance(days=5)
    office.submit_claim(submit(rid, last_day))
    refused(
        office,
        TreatmentOutsideWindow,
        lambda: office.submit_claim(submit(rid, last_day + timedelta(days=1))),
    )


def test_a_lapse_that_cancels_the_card_keeps_the_window_open_until_the_new_card(
    office: CardOffice, clock: Clock
):
    rid = blocked_holder(office, region="440200")  # Shaoguan: a lapsed pre-report cancels
    pre = office.holder(rid).pre_report
    assert pre is not None
    office.lapse_pre_report(office.holder_id(rid), pre.version, clock.advance(days=16))
    clock.advance(days=4)
    office.submit_claim(submit(rid, clock.now.astimezone(SHANGHAI_TIME).date()))
    application = office.report_loss_formally(report(rid))
    new_card = card_number()
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(rid, application.certificate_number))
    activated_on = clock.advance(days=1).astimezone(SHANGHAI_TIME).date()
    office.activate_card(activate(rid, new_card))
    clock.advance(days=3)
    office.submit_claim(submit(rid, activated_on))
    refused(
        office,
        TreatmentOutsideWindow,
        lambda: office.submit_claim(submit(rid, activated_on + timedelta(days=1))),
    )


def test_an_open_window_counts_up_to_today_and_not_beyond(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)
    today = clock.advance(days=20).astimezone(SHANGHAI_TIME).date()
    office.submit_claim(submit(rid, today))
    refused(
        office,
        TreatmentInFuture,
        lambda: office.submit_claim(submit(rid, today + timedelta(days=1))),
    )


def test_windows_are_counted_in_local_dates_not_utc_dates(office: CardOffice, clock: Clock):
    """Pre-reported at 00:30 on 2 March Beijing time (still 1 March in UTC), unblocked at 07:00 on
    5 March Beijing time (4 March in UTC): the window is 2 to 5 March, as the holder lived it."""
    rid = resident_id()
    office.issue_card(issue(rid))
    clock.now = at_local(date(2026, 3, 2), 0, 30)
    office.pre_report_loss(pre_report(rid))
    clock.now = at_local(date(2026, 3, 5), 7)
    office.cancel_pre_report(cancel(rid))
    clock.advance(days=2)
    refused(
        office, TreatmentOutsideWindow, lambda: office.submit_claim(submit(rid, date(2026, 3, 1)))
    )
    office.submit_claim(submit(rid, date(2026, 3, 5)))
    office.submit_claim(submit(rid, date(2026, 3, 2)))


def test_a_treatment_between_two_windows_is_refused(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)  # window 1: 2 March
    office.cancel_pre_report(cancel(rid))
    clock.advance(days=5)  # 7 March
    office.pre_report_loss(pre_report(rid))  # window 2: from 7 March
    clock.advance(days=1)
    reason = refused(
        office, TreatmentOutsideWindow, lambda: office.submit_claim(submit(rid, date(2026, 3, 4)))
    )
    assert reason == (  # local (Beijing) dates
        "treatment date 2026-03-04 lies outside every period in which the holder's card was "
        "blocked (2026-03-02 to 2026-03-02; 2026-03-07 to today)"
    )
    window = office.submit_claim(submit(rid, date(2026, 3, 8))).window
    assert window.started_at == at_local(date(2026, 3, 7), 10)


# ---- the hospital is designated -----------------------------------------------------------------


def test_a_hospital_missing_from_the_registry_is_refused(office: CardOffice):
    rid = blocked_holder(office)
    reason = refused(
        office,
        HospitalNotDesignated,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), hospital="H11010599999")),
    )
    assert "H11010599999" in reason


def test_a_malformed_hospital_code_is_bad_input():
    with pytest.raises(InvalidInput, match="hospital code"):
        submit(resident_id(), date(2026, 3, 2), hospital="X1101059999")


def test_the_operators_registry_replaces_the_packaged_one(office: CardOffice):
    office.hospitals = HospitalRegistry.from_json(
        '{"hospitals": [{"code": "H11010200001", "name": "Xicheng", "region_code": "110102"}]}'
    )
    rid = blocked_holder(office)
    submitted = office.submit_claim(submit(rid, date(2026, 3, 2), hospital="H11010200001"))
    assert submitted.hospital_region_code == "110102"
    refused(
        office,
        HospitalNotDesignated,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), hospital=BEIJING_HOSPITAL)),
    )


def test_a_registry_whose_code_contradicts_its_region_is_refused():
    with pytest.raises(InvalidInput, match="carries region 110102"):
        HospitalRegistry.from_json(
            '{"hospitals": [{"code": "H11010200001", "name": "x", "region_code": "110105"}]}'
        )


# ---- the invoice was never claimed before -------------------------------------------------------


def _withdrawn(office: CardOffice, claim_id: UUID, rid: str) -> None:
    office.withdraw_claim(withdraw(claim_id, rid))


def _rejected(office: CardOffice, claim_id: UUID, rid: str) -> None:
    office.reject_claim(reject(claim_id))


def _approved(office: CardOffice, claim_id: UUID, rid: str) -> None:
    office.approve_claim(approve(claim_id))


def _paid(office: CardOffice, claim_id: UUID, rid: str) -> None:
    office.approve_claim(approve(claim_id))
    office.pay_claim(pay(claim_id, "BANK-0001"))


def _pending(office: CardOffice, claim_id: UUID, rid: str) -> None:
    """The first claim is still waiting for its decision."""


@pytest.mark.parametrize(
    "first_outcome", [_pending, _withdrawn, _rejected, _approved, _paid], ids=lambda f: f.__name__
)
def test_an_invoice_is_claimed_once_whatever_became_of_the_first_claim(
    office: CardOffice, first_outcome: Callable[[CardOffice, UUID, str], None]
):
    rid = blocked_holder(office)
    first = office.submit_claim(submit(rid, date(2026, 3, 2), invoice="0012345678"))
    first_outcome(office, first.originator_id, rid)
    for someone in (rid, blocked_holder(office)):
        reason = refused(
            office,
            InvoiceAlreadyClaimed,
            lambda who=someone: office.submit_claim(
                submit(who, date(2026, 3, 2), invoice="0012345678")
            ),
        )
        assert str(first.originator_id) in reason


def test_the_same_invoice_number_of_another_hospital_is_another_invoice(office: CardOffice):
    rid = blocked_holder(office)
    office.submit_claim(submit(rid, date(2026, 3, 2), invoice="0012345678"))
    office.submit_claim(
        submit(rid, date(2026, 3, 2), invoice="0012345678", hospital=SHANGHAI_HOSPITAL)
    )


def test_invoice_numbers_are_compared_in_one_spelling(office: CardOffice):
    rid = blocked_holder(office)
    office.submit_claim(submit(rid, date(2026, 3, 2), invoice="ab-123456"))
    refused(
        office,
        InvoiceAlreadyClaimed,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), invoice=" AB-123456 ")),
    )


# ---- filed within the region's deadline ---------------------------------------------------------


def test_a_claim_is_filed_at_the_latest_on_the_deadline_day(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)  # Beijing: 365 days
    clock.advance(days=1)
    office.cancel_pre_report(cancel(rid))
    clock.now = at_local(date(2027, 3, 2), 23, 59)  # 365 days after 2 March 2026
    office.submit_claim(submit(rid, date(2026, 3, 2)))
    clock.now = at_local(date(2027, 3, 3), 0, 1)
    reason = refused(
        office,
        FilingDeadlinePassed,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2))),
    )
    assert "by 2027-03-02" in reason
    office.submit_claim(submit(rid, date(2026, 3, 3)))  # that bill is still within its year


# ---- required documents -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({ClaimDocument.INVOICE_ORIGINAL}, "invoice_original"),
        ({ClaimDocument.ITEMISED_LIST}, "itemised_list"),
        ({ClaimDocument.PRESCRIPTION}, "prescription or discharge_summary"),
    ],
)
def test_a_claim_without_its_documents_is_refused(
    office: CardOffice, missing: set[ClaimDocument], named: str
):
    rid = blocked_holder(office)
    documents = CLAIM_DOCS - missing
    reason = refused(
        office,
        ClaimDocumentsMissing,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), documents=documents)),
    )
    assert named in reason


def test_a_discharge_summary_stands_for_the_prescription(office: CardOffice):
    rid = blocked_holder(office)
    documents = CLAIM_DOCS - {ClaimDocument.PRESCRIPTION} | {ClaimDocument.DISCHARGE_SUMMARY}
    office.submit_claim(submit(rid, date(2026, 3, 2), documents=documents))


def test_the_collection_certificate_shown_as_voucher_must_be_the_holders(office: CardOffice):
    rid, other = blocked_holder(office), blocked_holder(office)
    own = office.report_loss_formally(report(rid)).certificate_number
    theirs = office.report_loss_formally(report(other)).certificate_number
    documents = CLAIM_DOCS | {ClaimDocument.COLLECTION_CERTIFICATE}
    refused(
        office,
        CertificateNotHolders,
        lambda: office.submit_claim(
            submit(rid, date(2026, 3, 2), documents=documents, collection_certificate=theirs)
        ),
    )
    submitted = office.submit_claim(
        submit(rid, date(2026, 3, 2), documents=documents, collection_certificate=own)
    )
    assert submitted.collection_certificate == own


def test_a_certificate_shown_needs_its_number_and_a_number_needs_the_certificate():
    rid = resident_id()
    with pytest.raises(ValidationError, match="give its number"):
        submit(rid, date(2026, 3, 2), documents=CLAIM_DOCS | {ClaimDocument.COLLECTION_CERTIFICATE})
    with pytest.raises(ValidationError, match="not among the documents"):
        submit(rid, date(2026, 3, 2), collection_certificate="110000-0123456789")


# ---- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "in_scope", "self_paid", "message"),
    [
        (0, 0, 0, "greater than or equal to 1"),
        (-100, 50, 0, "greater than or equal to 1"),
        (10_000, 0, 0, "greater than or equal to 1"),
        (10_000, 10_001, 0, "exceeds the total"),
        (10_000, 9_000, 1_001, "exceed the total"),
        (10_000, 9_000, -1, "greater than or equal to 0"),
    ],
)
def test_a_bill_that_does_not_add_up_is_bad_input(
    total: int, in_scope: int, self_paid: int, message: str
):
    with pytest.raises(ValidationError, match=message):
        Bill(total_fen=total, in_scope_fen=in_scope, fully_self_paid_fen=self_paid)


def test_money_is_never_a_float():
    with pytest.raises(ValidationError, match="valid integer"):
        Bill(total_fen=100.0, in_scope_fen=100)  # type: ignore[arg-type]


# ---- who may do what ----------------------------------------------------------------------------


def test_only_claims_officers_decide_and_pay(office: CardOffice):
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    at_the_counter = {"actor": CLERK, "outlet": OUTLET}
    for verb, attempt in (
        (
            "approve",
            lambda: office.approve_claim(approve(claim_id).model_copy(update=at_the_counter)),
        ),
        ("approve", lambda: office.approve_claim(approve(claim_id, actor=HOLDER_ONLINE))),
        ("reject", lambda: office.reject_claim(reject(claim_id).model_copy(update=at_the_counter))),
        ("record", lambda: office.pay_claim(pay(claim_id).model_copy(update=at_the_counter))),
    ):
        assert f"may not {verb}" in refused(office, NotAuthorized, attempt)
    office.approve_claim(approve(claim_id))


def test_an_officer_does_not_withdraw_a_holders_claim(office: CardOffice):
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    reason = refused(
        office, NotAuthorized, lambda: office.withdraw_claim(withdraw(claim_id, rid, OFFICER))
    )
    assert "claims_officer may not withdraw" in reason
    office.withdraw_claim(withdraw(claim_id, rid, CLERK))  # at the counter, for the holder


def test_the_hotline_takes_no_claims_and_clerks_name_their_outlet(office: CardOffice):
    rid = blocked_holder(office)
    hotline = Actor(role=Role.CARDHOLDER, channel=Channel.HOTLINE_12333)
    refused(
        office,
        NotAuthorized,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), actor=hotline, outlet=None)),
    )
    refused(
        office,
        NotAuthorized,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), outlet=None)),
    )
    reason = refused(
        office,
        NotAuthorized,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), actor=HOLDER_ONLINE)),
    )
    assert reason == "a holder acting through a channel names no outlet"
    filed = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    reason = refused(office, NotAuthorized, lambda: office.approve_claim(approve(filed, CLERK)))
    assert reason.endswith("allowed roles: claims_officer"), reason
    reason = refused(
        office,
        NotAuthorized,
        lambda: office.withdraw_claim(withdraw(filed, rid, actor=OFFICER)),
    )
    assert reason == (
        "a claims_officer may not withdraw a claim; allowed roles: cardholder, outlet_clerk"
    )


def test_a_holder_withdraws_only_their_own_claim(office: CardOffice):
    rid, other = blocked_holder(office), blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    refused(office, ClaimNotHolders, lambda: office.withdraw_claim(withdraw(claim_id, other)))


# ---- a claim's life: decided once, paid once ----------------------------------------------------


def test_a_decided_claim_is_not_decided_again(office: CardOffice):
    rid = blocked_holder(office)
    approved_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    office.approve_claim(approve(approved_id))
    rejected_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    office.reject_claim(reject(rejected_id))
    for claim_id in (approved_id, rejected_id):
        for attempt in (
            lambda c=claim_id: office.approve_claim(approve(c)),
            lambda c=claim_id: office.reject_claim(reject(c)),
            lambda c=claim_id: office.withdraw_claim(withdraw(c, rid)),
        ):
            refused(office, ClaimAlreadyDecided, attempt)


def test_a_claim_is_paid_once_and_only_after_approval(office: CardOffice):
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    refused(office, ClaimNotPayable, lambda: office.pay_claim(pay(claim_id)))
    office.approve_claim(approve(claim_id))
    office.pay_claim(pay(claim_id, "BANK-0001"))
    reason = refused(office, ClaimNotPayable, lambda: office.pay_claim(pay(claim_id, "BANK-0002")))
    assert "BANK-0001" in reason


def test_a_claim_absorbed_by_the_deductible_is_approved_with_nothing_to_pay(office: CardOffice):
    rid = blocked_holder(office)
    small = office.submit_claim(submit(rid, date(2026, 3, 2), bill(total=100_000)))
    approved = office.approve_claim(approve(small.originator_id))
    assert approved.payable_fen == 0
    assert approved.computation.deductible_applied_fen == 100_000
    assert not office.claim(small.originator_id).awaiting_action
    message = refused(office, ClaimNotPayable, lambda: office.pay_claim(pay(small.originator_id)))
    assert message == (
        f"claim {small.originator_id} was approved with nothing payable (the deductible or the "
        "annual cap absorbed it)"
    )


def test_unknown_claims_and_holders_are_not_found(office: CardOffice):
    rid = blocked_holder(office)
    with pytest.raises(ClaimNotFound):
        office.claim(uuid4())
    with pytest.raises(ClaimNotFound):
        office.claim(office.holder_id(rid))  # a holder's stream is no claim
    refused(office, ClaimNotFound, lambda: office.approve_claim(approve(uuid4())))
    unknown = uuid4()
    with pytest.raises(ClaimNotFound) as caught:
        office.claim_history(unknown)
    assert str(caught.value) == f"no claim {unknown}"
    refused(
        office, HolderNotFound, lambda: office.submit_claim(submit(resident_id(), date(2026, 3, 2)))
    )


def test_a_region_without_a_reimbursement_policy_takes_no_claims(clock: Clock):
    packaged = RegionPolicies.packaged()
    policies = RegionPolicies(
        regions=tuple(
            p.model_copy(update={"reimbursement": None}) if p.region_code == "110000" else p
            for p in packaged.regions
        )
    )
    office = memory_office(clock, policies=policies)
    rid = blocked_holder(office)
    refused(
        office,
        NoReimbursementPolicy,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2))),
    )


# ---- the amount: deductible and cap consumed across the holder's claims of a year --------------


def test_the_deductible_and_cap_are_consumed_across_the_years_claims(
    office: CardOffice, clock: Clock
):
    rid = blocked_holder(office)  # Beijing: deductible 1800, 70 %, cap 20,000 yuan
    claims = [
        office.submit_claim(submit(rid, date(2026, 3, 2), bill(total=fen))).originator_id
        for fen in (100_000, 200_000, 1_500_000, 2_000_000, 50_000)
    ]
    payable = [office.approve_claim(approve(c)).computation for c in claims]
    # 1000: all deductible. 2000: 800 deductible, 1200 x 70 % = 840.
    assert [c.deductible_applied_fen for c in payable] == [100_000, 80_000, 0, 0, 0]
    assert [c.payable_fen for c in payable] == [0, 84_000, 1_050_000, 866_000, 0]
    assert sum(c.payable_fen for c in payable) == 2_000_000  # the cap, exactly
    assert payable[3].fund_share_fen == 1_400_000  # cut to what was left of the cap
    assert payable[4].cap_remaining_fen == 0
    ledger = office.benefit_ledger(office.holder_id(rid), 2026)
    assert (ledger.deductible_used_fen, ledger.paid_fen, ledger.version) == (180_000, 2_000_000, 5)


def test_each_calendar_year_of_treatment_has_its_own_deductible_and_cap(
    office: CardOffice, clock: Clock
):
    rid = resident_id()
    office.issue_card(issue(rid))
    clock.now = at_local(date(2026, 12, 30), 9)
    office.pre_report_loss(pre_report(rid))
    clock.now = at_local(date(2027, 1, 5), 9)
    december = office.submit_claim(submit(rid, date(2026, 12, 31))).originator_id
    january = office.submit_claim(submit(rid, date(2027, 1, 1))).originator_id
    for claim_id, year in ((december, 2026), (january, 2027)):
        approved = office.approve_claim(approve(claim_id))
        assert approved.benefit_year == year
        assert approved.computation.deductible_used_before_fen == 0
        assert approved.payable_fen == 224_000


@pytest.mark.parametrize(
    ("eligible", "ratio", "share"),
    [(5, 7_000, 4), (1, 5_000, 1), (3, 5_000, 2), (1, 4_999, 0), (7, 1, 0), (10_000, 3_333, 3_333)],
)
def test_the_fund_share_is_rounded_half_up_to_the_fen(eligible: int, ratio: int, share: int):
    assert share_at_ratio(eligible, ratio) == share


def test_an_approval_rounds_its_share_half_up(office: CardOffice):
    rid = blocked_holder(office)
    amounts = bill(total=180_005)  # 1800.05 yuan: 5 fen above the deductible, 70 % = 3.5 fen
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2), amounts)).originator_id
    assert office.approve_claim(approve(claim_id)).payable_fen == 4


def test_a_stored_computation_that_does_not_add_up_is_refused(office: CardOffice):
    policy = RegionPolicies.packaged().policy_for("110000").reimbursement
    assert policy is not None
    good = Computation.of(500_000, policy, 0, 0)
    with pytest.raises(ValidationError, match="does not add up at payable_fen"):
        Computation.model_validate(good.model_dump() | {"payable_fen": good.payable_fen + 1})
    with pytest.raises(ValidationError, match="payable_fen differs"):
        ReimbursementClaimApproved(
            originator_id=uuid4(),
            originator_version=2,
            event_id=uuid4(),
            occurred_at=datetime.now(UTC),
            actor=OFFICER,
            holder_id=uuid4(),
            benefit_year=2026,
            payable_fen=1,
            computation=good,
        )


def test_the_ledger_event_carries_the_running_totals(office: CardOffice):
    rid = blocked_holder(office)
    for _ in range(2):
        claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
        office.approve_claim(approve(claim_id))
    holder_id = office.holder_id(rid)
    ledger = office.benefit_ledger(holder_id, 2026)
    events = list(office.events.get(ledger.id))
    assert all(isinstance(e, BenefitConsumed) for e in events)
    assert [(e.deductible_used_fen, e.paid_fen) for e in events] == [  # type: ignore[union-attr]
        (180_000, 224_000),
        (180_000, 574_000),
    ]


class OneMeddle(Clock):
    """A clock that, the first time the office reads it after ``meddle`` is set, lets another
    officer write first: the office then decides on a claim that is already stale."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.meddle: Callable[[], object] | None = None

    def __call__(self) -> datetime:
        meddle, self.meddle = self.meddle, None
        if meddle is not None:
            meddle()
        return self.now


def test_a_decision_that_loses_a_race_is_decided_again_on_the_claim_as_it_now_is():
    clock = OneMeddle(at_local(date(2026, 3, 2), 10))
    office = memory_office(clock)
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    clock.meddle = lambda: office.reject_claim(reject(claim_id))  # another officer, first
    # Not the store's conflict: the approval is decided again and refused on the rejected claim.
    with pytest.raises(ClaimAlreadyDecided):
        office.approve_claim(approve(claim_id))
    assert [s.status for s in office.claim(claim_id).steps] == [
        ClaimStatus.SUBMITTED,
        ClaimStatus.REJECTED,
    ]


def test_a_withdrawal_records_the_holders_explanation(office: CardOffice):
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    command = withdraw(claim_id, rid).model_copy(update={"explanation": "paid by my employer"})
    assert office.withdraw_claim(command).explanation == "paid by my employer"


def test_a_benefit_ledger_is_built_from_consumptions_only(office: CardOffice):
    issued = office.issue_card(issue(resident_id()))
    with pytest.raises(ValueError, match=r"^unknown benefit ledger event CardIssued$"):
        apply_consumption(None, issued)


def test_a_claims_state_says_what_its_events_say(office: CardOffice, clock: Clock):
    rid = blocked_holder(office)
    command = submit(rid, date(2026, 3, 2))
    submitted = office.submit_claim(command)
    claim_id = submitted.originator_id
    claim = office.claim(claim_id)
    assert (
        claim.hospital_code,
        claim.filed_on,
        claim.invoice_number,
        claim.documents,
        claim.collection_certificate,
        claim.window,
    ) == (
        BEIJING_HOSPITAL,
        date(2026, 3, 2),
        command.invoice_number,
        CLAIM_DOCS,
        None,
        submitted.window,
    )
    assert claim.steps == (Step(ClaimStatus.SUBMITTED, submitted.occurred_at, CLERK, OUTLET),)
    clock.advance(hours=1)
    rejected = office.reject_claim(reject(claim_id))
    assert office.claim(claim_id).steps[1:] == (
        Step(ClaimStatus.REJECTED, rejected.occurred_at, OFFICER, None),
    )
    assert office.claim(claim_id, version=1) == claim  # as it was before the rejection
    assert [e.originator_version for e in office.claim_history(claim_id)] == [1, 2]
    assert all(e.outlet == OUTLET for e in office.claim_history(claim_id)[:1])

    other = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    at_the_counter = withdraw(other, rid, actor=CLERK).model_copy(update={"explanation": "paid"})
    withdrawn = office.withdraw_claim(at_the_counter)
    state = office.claim(other)
    assert (state.steps[-1], state.withdrawal_explanation) == (
        Step(ClaimStatus.WITHDRAWN, withdrawn.occurred_at, CLERK, OUTLET),
        "paid",
    )
    approved_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    office.approve_claim(approve(approved_id))
    assert office.claim(approved_id).benefit_year == 2026


def test_each_holder_has_a_ledger_of_their_own(office: CardOffice):
    first, second = blocked_holder(office), blocked_holder(office)
    office.approve_claim(
        approve(office.submit_claim(submit(first, date(2026, 3, 2))).originator_id)
    )
    ledger = office.benefit_ledger(office.holder_id(second), 2026)
    assert (ledger.holder_id, ledger.paid_fen, ledger.claims) == (office.holder_id(second), 0, ())


def test_a_decision_that_keeps_losing_gives_up_and_says_so(office: CardOffice):
    rid = blocked_holder(office)
    target = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    others = iter(
        [
            office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
            for _ in range(CardOffice.MAX_CLAIM_ATTEMPTS)
        ]
    )
    read_ledger = office.benefit_ledger

    def a_ledger_another_approval_moves_on(holder_id: UUID, year: int) -> BenefitLedger:
        ledger = read_ledger(holder_id, year)
        office.benefit_ledger = read_ledger  # type: ignore[method-assign]
        office.approve_claim(approve(next(others)))  # the same holder's, first
        office.benefit_ledger = a_ledger_another_approval_moves_on  # type: ignore[method-assign]
        return ledger

    office.benefit_ledger = a_ledger_another_approval_moves_on  # type: ignore[method-assign]
    with pytest.raises(ClaimContention) as caught:
        office.approve_claim(approve(target))
    assert str(caught.value) == (
        f"claim {target} or its holder's benefit ledger changed repeatedly while this command "
        "ran; try again"
    )


def test_a_claim_without_any_document_names_everything_missing(office: CardOffice):
    rid = blocked_holder(office)
    reason = refused(
        office,
        ClaimDocumentsMissing,
        lambda: office.submit_claim(submit(rid, date(2026, 3, 2), documents=frozenset())),
    )
    assert reason.startswith("a claim needs: "), reason
    assert reason.endswith(", prescription or discharge_summary"), reason


def test_a_claim_stream_starts_with_a_submission_and_holds_claim_events_only(office: CardOffice):
    rid = blocked_holder(office)
    claim_id = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    rejected = office.reject_claim(reject(claim_id))
    with pytest.raises(
        ValueError, match=r"^ReimbursementClaimRejected cannot start a claim stream$"
    ):
        apply_claim(None, rejected)
    issued = office.issue_card(issue(resident_id()))
    with pytest.raises(ValueError, match=r"^unknown claim event CardIssued$"):
        apply_claim(office.claim(claim_id), issued)
