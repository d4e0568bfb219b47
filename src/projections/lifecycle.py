"""Lifecycle analytics: per replacement case the instant of each stage, and per pre-report how it
ended, for stage durations, SLA hit rates and exports (``projections.analytics``).

A case is one replacement: a formal loss report (with the pre-report that led to it, if any) or
a damaged card surrendered, then production, collection and activation. The view keeps instants
(UTC) and the business dates of the holder's region; durations in working days are counted at
export time on the working calendar, so a calendar published later counts old cases the same
way as new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Column, Index, Integer, Table, Text

from contract.envelope import CARD_EVENTS, Envelope, Feed
from projections.public_fields import Zones, instant, local_day
from tracking.envelopes import Handler, Part, apply_by_type, by_event_type, prefetch_parts
from tracking.rows import Row, Rows
from tracking.store import metadata

holders_table = Table(
    "sscard_lc_holders",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("pre_report_version", Integer, nullable=True),  # open pre-report
    Column("case_version", Integer, nullable=True),  # open case
)

pre_reports_table = Table(
    "sscard_lc_pre_reports",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("outlet", Text, nullable=True),
    Column("channel", Text, nullable=False),
    Column("reported_at", Text, nullable=False),
    Column("reported_on", Text, nullable=False),
    Column("ended_at", Text, nullable=True),
    # None while open; cancelled | lapsed_unblocked | lapsed_cancelled | formally_reported
    Column("outcome", Text, nullable=True),
)

cases_table = Table(
    "sscard_lc_cases",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("case_version", Integer, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("kind", Text, nullable=False),  # loss | damage
    Column("applicant", Text, nullable=False),  # holder | agent
    Column("applied_outlet", Text, nullable=True),
    Column("collection_outlet", Text, nullable=False),
    Column("month", Text, nullable=False),  # YYYY-MM of the application, local
    Column("pre_reported_at", Text, nullable=True),
    Column("applied_at", Text, nullable=False),
    Column("applied_on", Text, nullable=False),
    Column("production_due_on", Text, nullable=False),
    Column("produced_at", Text, nullable=True),
    Column("produced_on", Text, nullable=True),
    Column("collected_at", Text, nullable=True),
    Column("activated_at", Text, nullable=True),
    Index("sscard_lc_cases_outlet_month", "applied_outlet", "month"),
)


def _prefetch(envelopes: Sequence[Envelope], rows: Rows) -> None:
    """The batch's holders, and their open pre-reports and cases."""
    streams = {e["stream_id"] for e in envelopes}
    rows.load(holders_table, [(s,) for s in streams])
    holders = [h for s in streams if (h := rows.peek(holders_table, (s,))) is not None]
    rows.load(
        cases_table,
        [(h["stream_id"], h["case_version"]) for h in holders if h["case_version"]],
    )
    rows.load(
        pre_reports_table,
        [(h["stream_id"], h["pre_report_version"]) for h in holders if h["pre_report_version"]],
    )


class LifecycleAnalytics:
    name = "lifecycle_analytics"
    feeds: Sequence[Feed] = (CARD_EVENTS,)
    additive: Sequence[Table] = ()
    tables: Sequence[Table] = (holders_table, pre_reports_table, cases_table)

    def __init__(self, zones: Zones) -> None:
        self._zones = zones
        # Every event but the issue changes the holder's row (proxies change nothing here).
        steps: dict[str, Callable[[Envelope, Rows, Row], Row]] = {
            "LossPreReported": self._pre_reported,
            "LossPreReportCancelled": self._pre_report_ended,
            "LossPreReportLapsed": self._pre_report_ended,
            "LossFormallyReported": self._applied("loss"),
            "DamagedCardReplacementApplied": self._applied("damage"),
            "CardProduced": self._stage("produced_at"),
            "CardCollected": self._stage("collected_at"),
            "CardActivated": self._activated,
        }
        handlers: dict[str, Handler] = {"CardIssued": self._card_issued}
        handlers |= {event_type: _on_holder(step) for event_type, step in steps.items()}
        self.parts: Sequence[Part] = (Part(tuple(self.tables), handlers, prefetch=_prefetch),)
        self._routes = by_event_type(self.parts)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        prefetch_parts(self.parts, envelopes, rows)

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        apply_by_type(self._routes, envelope, rows)

    # ---- one function per event type ------------------------------------------------------

    def _card_issued(self, envelope: Envelope, rows: Rows) -> None:
        region = envelope["payload"]["region_code"]
        self._zones(region)
        holder = {
            "stream_id": envelope["stream_id"],
            "region_code": region,
            "pre_report_version": None,
            "case_version": None,
        }
        rows.put(holders_table, holder)

    def _pre_reported(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        at = envelope["occurred_at"]
        rows.create(
            pre_reports_table,
            {
                "stream_id": holder["stream_id"],
                "version": envelope["stream_version"],
                "region_code": holder["region_code"],
                "outlet": envelope["outlet"],
                "channel": envelope["payload"]["channel"],
                "reported_at": instant(at),
                "reported_on": local_day(at, self._zones(holder["region_code"])),
                "ended_at": None,
                "outcome": None,
            },
        )
        return holder | {"pre_report_version": envelope["stream_version"]}

    def _end(self, envelope: Envelope, rows: Rows, holder: Row, outcome: str) -> Row | None:
        """Close the open pre-report; returns it (None when there was none)."""
        version = holder["pre_report_version"]
        if version is None:
            return None
        pre_report = rows.peek(pre_reports_table, (holder["stream_id"], version))
        if pre_report is None:
            return None
        ended = pre_report | {"ended_at": instant(envelope["occurred_at"]), "outcome": outcome}
        rows.put(pre_reports_table, ended)
        return ended

    def _pre_report_ended(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        if envelope["event_type"] == "LossPreReportCancelled":
            outcome = "cancelled"
        else:
            outcome = f"lapsed_{envelope['payload']['result']}"
        self._end(envelope, rows, holder, outcome)
        return holder | {"pre_report_version": None}

    def _applied(self, kind: str) -> Callable[[Envelope, Rows, Row], Row]:
        def apply(envelope: Envelope, rows: Rows, holder: Row) -> Row:
            pre_report = self._end(envelope, rows, holder, "formally_reported")
            payload = envelope["payload"]
            at = envelope["occurred_at"]
            applied_on = local_day(at, self._zones(holder["region_code"]))
            rows.create(
                cases_table,
                {
                    "stream_id": holder["stream_id"],
                    "case_version": envelope["stream_version"],
                    "region_code": holder["region_code"],
                    "kind": kind,
                    "applicant": payload["applicant"],
                    "applied_outlet": envelope["outlet"],
                    "collection_outlet": payload["collection_outlet"],
                    "month": applied_on[:7],
                    "pre_reported_at": None if pre_report is None else pre_report["reported_at"],
                    "applied_at": instant(at),
                    "applied_on": applied_on,
                    "production_due_on": payload["production_due_on"],
                    "produced_at": None,
                    "produced_on": None,
                    "collected_at": None,
                    "activated_at": None,
                },
            )
            return holder | {"pre_report_version": None, "case_version": envelope["stream_version"]}

        return apply

    def _open_case(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        version = holder["case_version"]
        case = None if version is None else rows.peek(cases_table, (holder["stream_id"], version))
        if case is None:
            raise ValueError(f"{envelope['event_type']} without an open case")
        return case

    def _stage(self, column: str) -> Callable[[Envelope, Rows, Row], Row]:
        def apply(envelope: Envelope, rows: Rows, holder: Row) -> Row:
            case = self._open_case(envelope, rows, holder)
            at = envelope["occurred_at"]
            stage = {column: instant(at)}
            if column == "produced_at":
                stage["produced_on"] = local_day(at, self._zones(holder["region_code"]))
            rows.put(cases_table, case | stage)
            return holder

        return apply

    def _activated(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        case = self._open_case(envelope, rows, holder)
        rows.put(cases_table, case | {"activated_at": instant(envelope["occurred_at"])})
        return holder | {"case_version": None}


def _on_holder(step: Callable[[Envelope, Rows, Row], Row]) -> Handler:
    """``step`` over the holder's row, which it returns changed (or not) to be kept."""

    def apply(envelope: Envelope, rows: Rows) -> None:
        found = rows.peek(holders_table, (envelope["stream_id"],))
        if found is None:
            raise ValueError(f"no CardIssued seen for stream {envelope['stream_id']}")
        rows.put(holders_table, step(envelope, rows, found))

    return apply
