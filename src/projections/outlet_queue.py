"""The outlet's queue: what a clerk at an outlet needs to see today.

Per outlet: pre-reports taken today, applications taken there and still open, cards awaiting
production for collection there, cards ready for pickup (certificate number, masked holder name,
ready since), overdue ones (not produced by the due date the region's SLA in working days gave
them), cards collected and not yet activated, and activated ones.

The view keeps facts (instants in UTC, business dates in the holder's region); "today" and
"overdue" are asked of it at query time, so a view rebuilt tomorrow equals today's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text, and_, func, select

from contract.envelope import CARD_EVENTS, Envelope, Feed
from projections.public_fields import (
    ERASED,
    Zones,
    instant,
    local_day,
    masked_holder_name,
)
from tracking.envelopes import Part, apply_by_type, by_event_type, prefetch_parts
from tracking.rows import Row, Rows
from tracking.store import Tx, metadata

holders_table = Table(
    "sscard_oq_holders",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("masked_name", Text, nullable=False),
    Column("card_number", Text, nullable=False),
    # The open pre-report and the open replacement case (their stream versions), if any.
    Column("pre_report_version", Integer, nullable=True),
    Column("case_version", Integer, nullable=True),
)

pre_reports_table = Table(
    "sscard_oq_pre_reports",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("outlet", Text, nullable=True),  # None: by the hotline or online
    Column("channel", Text, nullable=False),
    Column("card_number", Text, nullable=False),
    Column("reported_at", Text, nullable=False),
    Column("reported_on", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | cancelled | lapsed | formally_reported
    Column("ended_at", Text, nullable=True),
    Index("sscard_oq_pre_reports_outlet_day", "outlet", "reported_on"),
)

cases_table = Table(
    "sscard_oq_cases",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("case_version", Integer, primary_key=True),
    Column("certificate_number", Text, nullable=False),
    Column("kind", Text, nullable=False),  # loss | damage
    Column("applied_outlet", Text, nullable=True),
    Column("collection_outlet", Text, nullable=False),
    Column("masked_name", Text, nullable=False),
    Column("applied_at", Text, nullable=False),
    Column("applied_on", Text, nullable=False),
    Column("production_due_on", Text, nullable=False),
    Column("status", Text, nullable=False),  # applied | produced | collected | activated
    Column("new_card_number", Text, nullable=True),
    Column("ready_since", Text, nullable=True),  # produced and dispatched to the outlet
    Column("collected_at", Text, nullable=True),
    Column("activated_at", Text, nullable=True),
    Index("sscard_oq_cases_collection", "collection_outlet", "status"),
    Index("sscard_oq_cases_applied", "applied_outlet", "status"),
)

APPLIED, PRODUCED, COLLECTED, ACTIVATED = "applied", "produced", "collected", "activated"
OPEN = "open"


def _prefetch(envelopes: Sequence[Envelope], rows: Rows) -> None:
    """The batch's holders, and the cases they have open."""
    streams = {e["stream_id"] for e in envelopes}
    rows.load(holders_table, [(s,) for s in streams])
    opened = [
        (s, h["case_version"])
        for s in streams
        if (h := rows.peek(holders_table, (s,))) is not None and h["case_version"] is not None
    ]
    rows.load(cases_table, opened)


class OutletQueue:
    name = "outlet_queue"
    feeds: Sequence[Feed] = (CARD_EVENTS,)
    additive: Sequence[Table] = ()
    tables: Sequence[Table] = (holders_table, pre_reports_table, cases_table)

    def __init__(self, zones: Zones) -> None:
        self._zones = zones
        # Other events (proxies) change nothing the queue shows.
        handlers: dict[str, Callable[[Envelope, Rows], None]] = {
            "CardIssued": self._card_issued,
            "LossPreReported": self._pre_reported,
            "LossPreReportCancelled": self._pre_report_ended("cancelled"),
            "LossPreReportLapsed": self._pre_report_ended("lapsed"),
            "LossFormallyReported": self._applied("loss"),
            "DamagedCardReplacementApplied": self._applied("damage"),
            "CardProduced": self._produced,
            "CardCollected": self._collected,
            "CardActivated": self._activated,
            "HolderErased": self._erased,
        }
        self.parts: Sequence[Part] = (Part(tuple(self.tables), handlers, prefetch=_prefetch),)
        self._routes = by_event_type(self.parts)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        prefetch_parts(self.parts, envelopes, rows)

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        apply_by_type(self._routes, envelope, rows)

    # ---- one function per event type ------------------------------------------------------

    def _holder(self, envelope: Envelope, rows: Rows) -> Row:
        holder = rows.peek(holders_table, (envelope["stream_id"],))
        if holder is None:
            raise ValueError(f"no CardIssued seen for stream {envelope['stream_id']}")
        return holder

    def _card_issued(self, envelope: Envelope, rows: Rows) -> None:
        payload = envelope["payload"]
        self._zones(payload["region_code"])  # a region no policy covers cannot be shown
        rows.put(
            holders_table,
            {
                "stream_id": envelope["stream_id"],
                "region_code": payload["region_code"],
                "masked_name": masked_holder_name(payload),
                "card_number": payload["card_number"],
                "pre_report_version": None,
                "case_version": None,
            },
        )

    def _pre_reported(self, envelope: Envelope, rows: Rows) -> None:
        holder = self._holder(envelope, rows)
        payload = envelope["payload"]
        at = envelope["occurred_at"]
        rows.create(
            pre_reports_table,
            {
                "stream_id": envelope["stream_id"],
                "version": envelope["stream_version"],
                "outlet": envelope["outlet"],
                "channel": payload["channel"],
                "card_number": payload["card_number"],
                "reported_at": instant(at),
                "reported_on": local_day(at, self._zones(holder["region_code"])),
                "status": OPEN,
                "ended_at": None,
            },
        )
        rows.put(holders_table, holder | {"pre_report_version": envelope["stream_version"]})

    def _end_pre_report(self, envelope: Envelope, rows: Rows, status: str) -> Row:
        holder = self._holder(envelope, rows)
        version = holder["pre_report_version"]
        if version is not None:
            pre_report = rows.peek(pre_reports_table, (envelope["stream_id"], version))
            if pre_report is not None:
                ended = {"status": status, "ended_at": instant(envelope["occurred_at"])}
                rows.put(pre_reports_table, pre_report | ended)
        return holder | {"pre_report_version": None}

    def _pre_report_ended(self, status: str) -> Callable[[Envelope, Rows], None]:
        def apply(envelope: Envelope, rows: Rows) -> None:
            rows.put(holders_table, self._end_pre_report(envelope, rows, status))

        return apply

    def _applied(self, kind: str) -> Callable[[Envelope, Rows], None]:
        def apply(envelope: Envelope, rows: Rows) -> None:
            holder = self._end_pre_report(envelope, rows, "formally_reported")
            payload = envelope["payload"]
            at = envelope["occurred_at"]
            rows.create(
                cases_table,
                {
                    "stream_id": envelope["stream_id"],
                    "case_version": envelope["stream_version"],
                    "certificate_number": payload["certificate_number"],
                    "kind": kind,
                    "applied_outlet": envelope["outlet"],
                    "collection_outlet": payload["collection_outlet"],
                    "masked_name": holder["masked_name"],
                    "applied_at": instant(at),
                    "applied_on": local_day(at, self._zones(holder["region_code"])),
                    "production_due_on": payload["production_due_on"],
                    "status": APPLIED,
                    "new_card_number": None,
                    "ready_since": None,
                    "collected_at": None,
                    "activated_at": None,
                },
            )
            rows.put(holders_table, holder | {"case_version": envelope["stream_version"]})

        return apply

    def _open_case(self, envelope: Envelope, rows: Rows) -> tuple[Row, Row]:
        holder = self._holder(envelope, rows)
        version = holder["case_version"]
        case = None if version is None else rows.peek(cases_table, (envelope["stream_id"], version))
        if case is None:
            raise ValueError(f"{envelope['event_type']} without an open case")
        return holder, case

    def _produced(self, envelope: Envelope, rows: Rows) -> None:
        _, case = self._open_case(envelope, rows)
        payload = envelope["payload"]
        produced = {
            "status": PRODUCED,
            "new_card_number": payload["new_card_number"],
            "collection_outlet": payload["dispatched_to"],
            "ready_since": instant(envelope["occurred_at"]),
        }
        rows.put(cases_table, case | produced)

    def _collected(self, envelope: Envelope, rows: Rows) -> None:
        holder, case = self._open_case(envelope, rows)
        collected = {"status": COLLECTED, "collected_at": instant(envelope["occurred_at"])}
        rows.put(cases_table, case | collected)
        rows.put(holders_table, holder | {"card_number": envelope["payload"]["card_number"]})

    def _activated(self, envelope: Envelope, rows: Rows) -> None:
        holder, case = self._open_case(envelope, rows)
        activated = {"status": ACTIVATED, "activated_at": instant(envelope["occurred_at"])}
        rows.put(cases_table, case | activated)
        rows.put(holders_table, holder | {"case_version": None})

    def _erased(self, envelope: Envelope, rows: Rows) -> None:
        """The holder's personal data is erased: blank their masked name everywhere."""
        holder = self._holder(envelope, rows)
        rows.put(holders_table, holder | {"masked_name": ERASED})
        for case in rows.find(cases_table, stream_id=envelope["stream_id"]):
            rows.put(cases_table, case | {"masked_name": ERASED})


# ---- queries -----------------------------------------------------------------------------------

QUEUE_STATUSES = (
    "pre-reported-today",
    "open",
    "awaiting-production",
    "ready",
    "overdue",
    "collected",
    "activated",
)


@dataclass(frozen=True)
class QueueEntry:
    certificate_number: str | None  # None for a pre-report
    masked_name: str
    kind: str
    status: str
    since: str  # UTC instant text: when the entry reached its status
    production_due_on: str | None
    card_number: str | None


def _where(status: str, outlet: str, today: date) -> tuple[Table, Any, Any]:
    """The table, condition and order of one queue status at ``outlet`` on ``today``."""
    c, p = cases_table.c, pre_reports_table.c
    day = today.isoformat()
    match status:
        case "pre-reported-today":
            return pre_reports_table, and_(p.outlet == outlet, p.reported_on == day), p.reported_at
        case "open":
            condition = and_(c.applied_outlet == outlet, c.status != ACTIVATED)
            return cases_table, condition, c.applied_at
        case "awaiting-production":
            condition = and_(c.collection_outlet == outlet, c.status == APPLIED)
            return cases_table, condition, c.production_due_on
        case "ready":
            condition = and_(c.collection_outlet == outlet, c.status == PRODUCED)
            return cases_table, condition, c.ready_since
        case "overdue":
            condition = and_(
                c.collection_outlet == outlet, c.status == APPLIED, c.production_due_on < day
            )
            return cases_table, condition, c.production_due_on
        case "collected":
            condition = and_(c.collection_outlet == outlet, c.status == COLLECTED)
            return cases_table, condition, c.collected_at
        case "activated":
            condition = and_(c.collection_outlet == outlet, c.status == ACTIVATED)
            return cases_table, condition, c.activated_at
    raise ValueError(f"unknown queue status {status!r}")


def queue_counts(tx: Tx, outlet: str, today: date) -> dict[str, int]:
    counts = {}
    for status in QUEUE_STATUSES:
        table, condition, _ = _where(status, outlet, today)
        counts[status] = int(
            tx.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
        )
    return counts


def queue_page(
    tx: Tx, outlet: str, status: str, today: date, page: int = 1, page_size: int = 50
) -> list[QueueEntry]:
    """One page (1-based) of the entries of ``status`` at ``outlet``, oldest first."""
    table, condition, order = _where(status, outlet, today)
    keys = list(table.primary_key.columns)
    statement = (
        select(table)
        .where(condition)
        .order_by(order, *keys)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = tx.execute(statement).mappings().all()
    if table is pre_reports_table:
        names = _pre_report_names(tx, [r["stream_id"] for r in rows])
        return [
            QueueEntry(
                None,
                names.get(r["stream_id"], ""),
                "pre-report",
                r["status"],
                r["reported_at"],
                None,
                r["card_number"],
            )
            for r in rows
        ]
    return [
        QueueEntry(
            r["certificate_number"],
            r["masked_name"],
            r["kind"],
            r["status"],
            _since(r),
            r["production_due_on"],
            r["new_card_number"],
        )
        for r in rows
    ]


def _since(case: Any) -> str:
    for column in ("activated_at", "collected_at", "ready_since", "applied_at"):
        if case[column] is not None:
            return str(case[column])
    return str(case["applied_at"])


def _pre_report_names(tx: Tx, streams: list[str]) -> dict[str, str]:
    if not streams:
        return {}
    h = holders_table.c
    found = tx.execute(select(h.stream_id, h.masked_name).where(h.stream_id.in_(streams)))
    return {row.stream_id: row.masked_name for row in found}
