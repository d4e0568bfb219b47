"""Claims on real stores: every test runs once on SQLite and once on PostgreSQL.

Races use separate back offices (separate connections and caches), started together on a barrier,
as two outlets or two claims officers would be.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.claims.errors import ClaimAlreadyDecided, InvoiceAlreadyClaimed
from domain.claims.events import (
    CLAIMS_WRITE,
    BenefitConsumed,
    ClaimDocument,
    InvoiceNumberReserved,
    ReimbursementClaimApproved,
    ReimbursementClaimSubmitted,
)
from domain.claims.streams import benefit_ledger_id, invoice_stream_id
from domain.event import DomainEvent
from samples.claims import (
    BEIJING_HOSPITAL,
    CLAIM_DOCS,
    approve,
    bill,
    invoice_number,
    pay,
    reject,
    submit,
    withdraw,
)
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings
from tests.support import Clock, issue, pre_report, report, resident_id

ZONE = ZoneInfo("Asia/Shanghai")
BEIJING_CAP_FEN = 2_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 10, tzinfo=ZONE).astimezone(UTC))


@pytest.fixture
def offices(settings: Settings, clock: Clock) -> Iterator[list[BackOffice]]:
    """Four back offices on one store, as four processes would have."""
    with ExitStack() as stack:
        yield [stack.enter_context(open_back_office(settings, clock=clock)) for _ in range(4)]


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment on threads; each result is a value or the exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [AssertionError("the thread never finished")] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a racing command hung"
    return results


def blocked_holder(backoffice: BackOffice) -> str:
    rid = resident_id()
    backoffice.office.issue_card(issue(rid))
    backoffice.office.pre_report_loss(pre_report(rid))
    return rid


def test_every_claim_event_round_trips_through_the_store(settings: Settings, clock: Clock):
    with open_back_office(settings, clock=clock) as first:
        office = first.office
        rid = blocked_holder(first)
        certificate = office.report_loss_formally(report(rid)).certificate_number
        clock.advance(hours=3)
        documents = CLAIM_DOCS | {ClaimDocument.COLLECTION_CERTIFICATE}
        written: list[DomainEvent] = []
        paid_claim = office.submit_claim(
            submit(
                rid,
                date(2026, 3, 2),
                bill(total=512_345, in_scope=500_001, self_paid=12_344),
                documents=documents,
                collection_certificate=certificate,
            )
        )
        written += [
            paid_claim,
            office.approve_claim(approve(paid_claim.originator_id)),
            office.pay_claim(pay(paid_claim.originator_id, "BANK-2026/0001")),
        ]
        rejected = office.submit_claim(submit(rid, date(2026, 3, 2)))
        written += [rejected, office.reject_claim(reject(rejected.originator_id))]
        withdrawn = office.submit_claim(submit(rid, date(2026, 3, 2)))
        written += [withdrawn, office.withdraw_claim(withdraw(withdrawn.originator_id, rid))]
        holder_id = office.holder_id(rid)
        streams = {e.originator_id for e in written} | {
            benefit_ledger_id(holder_id, 2026),
            invoice_stream_id(
                BEIJING_HOSPITAL, paid_claim.invoice_number, office.digest_keys.invoice_streams
            ),
        }
        stored = {s: list(office.events.get(s)) for s in streams}
    with open_back_office(settings, clock=clock) as second:  # a new process: nothing cached
        reread = {s: list(second.office.events.get(s)) for s in streams}
        replayed = [
            second.office.mapper.to_domain_event(n)
            for n in second.office.recorder.select_notifications(start=1, limit=1_000)
        ]
        claim = second.office.claim(paid_claim.originator_id)
    assert reread == stored
    recorded = [e for events in reread.values() for e in events]
    assert {type(e) for e in recorded} == set(CLAIMS_WRITE)
    for event in written:
        assert event in reread[event.originator_id]
    assert [e for e in replayed if type(e) in CLAIMS_WRITE] != []
    assert claim.bill.in_scope_fen == 500_001
    assert claim.collection_certificate == certificate
    assert claim.payment_reference == "BANK-2026/0001"


def test_concurrent_submissions_of_one_invoice_record_exactly_one_claim(
    offices: list[BackOffice],
):
    holders = [blocked_holder(offices[0]) for _ in offices]  # different holders, one invoice
    for backoffice in offices:
        backoffice.office.holder(holders[0])  # warm every cache: stale copies must not matter
    for _round in range(3):
        invoice = invoice_number()
        results = race(
            [
                lambda o=o, h=h, n=invoice: o.office.submit_claim(
                    submit(h, date(2026, 3, 2), invoice=n)
                )
                for o, h in zip(offices, holders, strict=True)
            ]
        )
        won = [r for r in results if isinstance(r, ReimbursementClaimSubmitted)]
        lost = [r for r in results if isinstance(r, InvoiceAlreadyClaimed)]
        assert (len(won), len(lost)) == (1, len(offices) - 1), results
        reservation = offices[1].office.invoice_reservation(BEIJING_HOSPITAL, invoice)
        assert reservation is not None
        assert reservation.claim_id == won[0].originator_id
        submitted = [
            e
            for p in offices[2].source.read(0, 100_000, [ReimbursementClaimSubmitted])
            if isinstance(e := p.event, ReimbursementClaimSubmitted) and e.invoice_number == invoice
        ]
        assert [e.originator_id for e in submitted] == [won[0].originator_id]


def test_concurrent_approvals_never_pay_beyond_the_annual_cap(offices: list[BackOffice]):
    rid = blocked_holder(offices[0])
    # Eight bills of 8,000 yuan: each alone pays 5,600 (4,340 for the first, after the
    # deductible); together they ask for more than twice the 20,000-yuan cap.
    claims = [
        offices[0].office.submit_claim(submit(rid, date(2026, 3, 2), bill(total=800_000)))
        for _ in range(8)
    ]
    results = race(
        [
            lambda i=i, c=c: offices[i % len(offices)].office.approve_claim(
                approve(c.originator_id)
            )
            for i, c in enumerate(claims)
        ]
    )
    assert all(isinstance(r, ReimbursementClaimApproved) for r in results), results
    approvals: list[ReimbursementClaimApproved] = results
    assert sum(a.payable_fen for a in approvals) == BEIJING_CAP_FEN
    assert sum(a.computation.deductible_applied_fen for a in approvals) == 180_000

    office = offices[3].office
    holder_id = office.holder_id(rid)
    ledger = office.benefit_ledger(holder_id, 2026)
    assert (ledger.paid_fen, ledger.deductible_used_fen, ledger.version) == (
        BEIJING_CAP_FEN,
        180_000,
        8,
    )
    # In ledger order, each approval started from exactly what the previous ones had consumed.
    by_claim = {a.originator_id: a for a in approvals}
    consumed = list(office.events.get(ledger.id))
    paid_before = 0
    for entry in consumed:
        assert isinstance(entry, BenefitConsumed)
        approval = by_claim[entry.claim_id]
        assert approval.computation.paid_before_fen == paid_before
        paid_before += approval.payable_fen
        assert entry.paid_fen == paid_before


def test_approving_one_claim_from_two_offices_at_once_approves_it_once(
    offices: list[BackOffice],
):
    rid = blocked_holder(offices[0])
    claim_id = offices[0].office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
    offices[1].office.claim(claim_id)  # a cached copy that goes stale
    results = race([lambda o=o: o.office.approve_claim(approve(claim_id)) for o in offices[:2]])
    assert sum(isinstance(r, ReimbursementClaimApproved) for r in results) == 1, results
    assert sum(isinstance(r, ClaimAlreadyDecided) for r in results) == 1, results
    ledger = offices[2].office.benefit_ledger(offices[2].office.holder_id(rid), 2026)
    assert ledger.claims == (claim_id,)
    invoice = offices[2].office.claim(claim_id).invoice_number
    reservation = offices[2].office.invoice_reservation(BEIJING_HOSPITAL, invoice)
    assert isinstance(reservation, InvoiceNumberReserved)


def test_one_request_retried_from_several_offices_at_once_is_recorded_once(
    offices: list[BackOffice],
):
    """A client that resends its request while the first is still running (on another office
    process): every call answers with the one submission, then the one approval."""
    rid = blocked_holder(offices[0])
    filing = submit(rid, date(2026, 3, 2)).model_copy(update={"request_id": "racing-submit"})
    filed = race([lambda o=o: o.office.submit_claim(filing) for o in offices])
    assert len({f.event_id for f in filed}) == 1, filed
    claim_id = filed[0].originator_id
    approval = approve(claim_id).model_copy(update={"request_id": "racing-approve"})
    approved = race([lambda o=o: o.office.approve_claim(approval) for o in offices])
    assert len({a.event_id for a in approved}) == 1, approved
    assert isinstance(approved[0], ReimbursementClaimApproved)
    assert len(offices[0].office.claim_history(claim_id)) == 2
