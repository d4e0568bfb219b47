"""The claims view: what claims officers and auditors read of reimbursement claims.

- the queue: every claim with its status and age (filed on, decided on, paid on);
- per holder: their claims and their suspension windows (what a claim is judged against);
- per region and month: how many claims were filed, approved, rejected, withdrawn and paid, and
  the amounts approved and paid.

Fed from the public form alone: claim events from ``reimbursement-events`` (status and amounts,
no hospital, invoice, treatment date or bill) and the card events from ``card-events`` that open
and close the windows. The two feeds touch disjoint rows (claims and totals; holders and
windows), so the order in which the two topics arrive never matters: a live view equals a
rebuild from the store, whatever the interleaving. The medical details stay in the store
(``sscard claims show``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, Table, Text, select

from contract.envelope import CARD_EVENTS, CLAIM_EVENTS, Envelope, Feed
from projections.public_fields import Zones, instant
from projections.suspension_windows import (
    SuspensionWindows,
    holders_table_named,
    windows_in,
    windows_table_named,
)
from tracking.envelopes import Part, apply_by_type, by_event_type, prefetch_parts
from tracking.rows import Row, Rows
from tracking.store import Tx, metadata

claims_table = Table(
    "sscard_claims",
    metadata,
    Column("claim_id", Text, primary_key=True),
    Column("holder_id", Text, nullable=False),
    Column("region_code", Text, nullable=False),
    # submitted | approved | rejected | paid | withdrawn
    Column("status", Text, nullable=False),
    Column("filed_on", Text, nullable=False),  # local business dates
    Column("submitted_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("decided_on", Text, nullable=True),
    Column("benefit_year", Integer, nullable=True),
    Column("payable_fen", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    Column("paid_on", Text, nullable=True),
    Column("paid_fen", BigInteger, nullable=True),
    Column("withdrawn_on", Text, nullable=True),
    Index("sscard_claims_status_age", "status", "submitted_at"),
    Index("sscard_claims_holder", "holder_id"),
)

totals_table = Table(
    "sscard_claims_totals",
    metadata,
    Column("region_code", Text, primary_key=True),
    Column("month", Text, primary_key=True),  # YYYY-MM of each event's own local date
    Column("submitted", Integer, nullable=False),
    Column("approved", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("withdrawn", Integer, nullable=False),
    Column("paid", Integer, nullable=False),
    Column("approved_fen", BigInteger, nullable=False),
    Column("paid_fen", BigInteger, nullable=False),
)

holders_table = holders_table_named("sscard_cl_holders")
windows_table = windows_table_named("sscard_cl_windows")

_COUNTS = ("submitted", "approved", "rejected", "withdrawn", "paid")

# Claim event type -> (the status it leaves, the payload field holding its local date).
_CLAIM_STEPS = {
    "ReimbursementClaimSubmitted": ("submitted", "filed_on"),
    "ReimbursementClaimApproved": ("approved", "decided_on"),
    "ReimbursementClaimRejected": ("rejected", "decided_on"),
    "ReimbursementClaimPaid": ("paid", "paid_on"),
    "ReimbursementClaimWithdrawn": ("withdrawn", "withdrawn_on"),
}


def _prefetch_claims(envelopes: Sequence[Envelope], rows: Rows) -> None:
    """The claims the batch's claim events step on."""
    rows.load(
        claims_table, [(e["stream_id"],) for e in envelopes if e["event_type"] in _CLAIM_STEPS]
    )


class ClaimsView:
    name = "claims"
    feeds: Sequence[Feed] = (CLAIM_EVENTS, CARD_EVENTS)
    tables: Sequence[Table] = (claims_table, totals_table, holders_table, windows_table)
    # Every row belongs to one claim or one holder but the totals, which sum over all of them:
    # a rebuild split across workers adds their partial totals up (sums in any order agree).
    additive: Sequence[Table] = (totals_table,)

    def __init__(self, zones: Zones) -> None:
        self._windows = SuspensionWindows(holders_table, windows_table, zones)
        self._steps: dict[str, Callable[[Envelope, Row], Row]] = {
            "ReimbursementClaimApproved": _approved,
            "ReimbursementClaimRejected": _rejected,
            "ReimbursementClaimPaid": _paid,
            "ReimbursementClaimWithdrawn": _withdrawn,
        }
        steps = dict.fromkeys(_CLAIM_STEPS, self._claim_step)
        self.parts: Sequence[Part] = (
            Part((claims_table, totals_table), steps, prefetch=_prefetch_claims),
            self._windows.part,
        )
        self._routes = by_event_type(self.parts)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        prefetch_parts(self.parts, envelopes, rows)

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        apply_by_type(self._routes, envelope, rows)

    def _claim_step(self, envelope: Envelope, rows: Rows) -> None:
        event_type = envelope["event_type"]
        payload = envelope["payload"]
        status, day_field = _CLAIM_STEPS[event_type]
        if event_type == "ReimbursementClaimSubmitted":
            claim = _submitted(envelope)
        else:
            found = rows.peek(claims_table, (envelope["stream_id"],))
            if found is None:
                raise ValueError(f"no submission seen for claim {payload['claim_id']}")
            claim = self._steps[event_type](envelope, found)
        at = instant(envelope["occurred_at"])
        rows.put(claims_table, claim | {"status": status, "updated_at": at})
        _count(rows, claim["region_code"], str(payload[day_field]), status, payload)


def _submitted(envelope: Envelope) -> Row:
    payload = envelope["payload"]
    at = instant(envelope["occurred_at"])
    return {
        "claim_id": payload["claim_id"],
        "holder_id": payload["holder_id"],
        "region_code": payload["region_code"],
        "status": "submitted",
        "filed_on": payload["filed_on"],
        "submitted_at": at,
        "updated_at": at,
        "decided_on": None,
        "benefit_year": None,
        "payable_fen": None,
        "reason": None,
        "paid_on": None,
        "paid_fen": None,
        "withdrawn_on": None,
    }


def _approved(envelope: Envelope, claim: Row) -> Row:
    payload = envelope["payload"]
    return claim | {
        "decided_on": payload["decided_on"],
        "benefit_year": payload["benefit_year"],
        "payable_fen": payload["payable_fen"],
    }


def _rejected(envelope: Envelope, claim: Row) -> Row:
    payload = envelope["payload"]
    return claim | {"decided_on": payload["decided_on"], "reason": payload["reason"]}


def _paid(envelope: Envelope, claim: Row) -> Row:
    payload = envelope["payload"]
    return claim | {"paid_on": payload["paid_on"], "paid_fen": payload["payable_fen"]}


def _withdrawn(envelope: Envelope, claim: Row) -> Row:
    return claim | {"withdrawn_on": envelope["payload"]["withdrawn_on"]}


def _count(rows: Rows, region_code: str, day: str, status: str, payload: dict[str, Any]) -> None:
    """One more claim of ``status`` in the region's month of ``day``, with its amount."""
    key = (region_code, day[:7])
    totals = rows.peek(totals_table, key) or {
        "region_code": region_code,
        "month": day[:7],
        **dict.fromkeys(_COUNTS, 0),
        "approved_fen": 0,
        "paid_fen": 0,
    }
    totals = totals | {status: totals[status] + 1}
    if status in ("approved", "paid"):
        totals[f"{status}_fen"] += int(payload["payable_fen"])
    rows.put(totals_table, totals)


# ---- queries -----------------------------------------------------------------------------------


def claims(tx: Tx, status: str | None = None, holder_id: str | None = None) -> list[dict[str, Any]]:
    """The queue: claims (optionally of one status, one holder), oldest filing first."""
    c = claims_table.c
    query = select(claims_table).order_by(c.submitted_at, c.claim_id)
    if status is not None:
        query = query.where(c.status == status)
    if holder_id is not None:
        query = query.where(c.holder_id == holder_id)
    return [dict(r) for r in tx.execute(query).mappings()]


def age_in_days(claim: dict[str, Any], today: date) -> int:
    """Days since filing, counted to today for an open claim, to its decision for a decided one."""
    ended = claim["decided_on"] or claim["withdrawn_on"]
    until = date.fromisoformat(ended) if ended else today
    return (until - date.fromisoformat(claim["filed_on"])).days


def totals(tx: Tx) -> list[dict[str, Any]]:
    t = totals_table.c
    query = select(totals_table).order_by(t.region_code, t.month)
    return [dict(r) for r in tx.execute(query).mappings()]


def holder_windows(tx: Tx, holder_id: str) -> list[dict[str, Any]]:
    return windows_in(tx, windows_table, holder_id)
