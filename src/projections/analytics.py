"""Figures from the lifecycle view: per case the time between stages, per outlet and month the
count, p50/p90 of pre-report -> collection and application -> production, and the SLA hit rate.

Working days are counted on the working calendar (the domain's ``WorkingCalendar`` port). The
SLA of a case is the production due date the office recorded with the application (the region's
production working days then, none at an instant-issue outlet): a policy or an outlet changed
since does not change what a case was promised. The outlet of a case is the one that took the
application; its month is the application's month, both in the region's local time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.working_days import WorkingCalendar, working_days_between
from projections.lifecycle import cases_table
from projections.public_fields import stored_instant
from tracking.rows import table_rows
from tracking.store import Tx

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class CaseFigures:
    """One case: its stages and the durations between them (None for a stage not reached)."""

    stream_id: str
    case_version: int
    region_code: str
    kind: str
    applicant: str
    outlet: str
    collection_outlet: str
    month: str
    pre_reported_at: str | None
    applied_at: str
    produced_at: str | None
    collected_at: str | None
    activated_at: str | None
    production_due_on: str
    pre_report_to_application_days: float | None
    pre_report_to_collection_days: float | None
    application_to_production_days: float | None
    application_to_production_working_days: int | None
    production_to_collection_days: float | None
    collection_to_activation_days: float | None
    sla_working_days: int
    sla_met: bool | None  # None until produced

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CASE_COLUMNS}


CASE_COLUMNS = tuple(CaseFigures.__dataclass_fields__)


@dataclass(frozen=True)
class OutletMonth:
    outlet: str
    month: str
    cases: int
    collected: int
    produced: int
    pre_report_to_collection_p50_days: float | None
    pre_report_to_collection_p90_days: float | None
    application_to_production_p50_working_days: float | None
    application_to_production_p90_working_days: float | None
    sla_hit_rate: float | None  # of the produced cases

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OUTLET_MONTH_COLUMNS}


OUTLET_MONTH_COLUMNS = tuple(OutletMonth.__dataclass_fields__)


def _days(first: str | None, last: str | None) -> float | None:
    if first is None or last is None:
        return None
    seconds = (stored_instant(last) - stored_instant(first)).total_seconds()
    return round(seconds / SECONDS_PER_DAY, 4)


class CaseCalculator:
    """Turns the lifecycle view's case rows into figures, on the configured calendar."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self._calendar = calendar

    def figures(self, row: dict[str, Any]) -> CaseFigures:
        applied_on = date.fromisoformat(row["applied_on"])
        due_on = date.fromisoformat(row["production_due_on"])
        sla = working_days_between(self._calendar, applied_on, due_on)
        worked = None
        produced_on = row["produced_on"]
        if produced_on is not None:
            worked = working_days_between(
                self._calendar, applied_on, date.fromisoformat(produced_on)
            )
        return CaseFigures(
            stream_id=row["stream_id"],
            case_version=row["case_version"],
            region_code=row["region_code"],
            kind=row["kind"],
            applicant=row["applicant"],
            outlet=row["applied_outlet"] or "",
            collection_outlet=row["collection_outlet"],
            month=row["month"],
            pre_reported_at=row["pre_reported_at"],
            applied_at=row["applied_at"],
            produced_at=row["produced_at"],
            collected_at=row["collected_at"],
            activated_at=row["activated_at"],
            production_due_on=row["production_due_on"],
            pre_report_to_application_days=_days(row["pre_reported_at"], row["applied_at"]),
            pre_report_to_collection_days=_days(row["pre_reported_at"], row["collected_at"]),
            application_to_production_days=_days(row["applied_at"], row["produced_at"]),
            application_to_production_working_days=worked,
            production_to_collection_days=_days(row["produced_at"], row["collected_at"]),
            collection_to_activation_days=_days(row["collected_at"], row["activated_at"]),
            sla_working_days=sla,
            sla_met=None if produced_on is None else date.fromisoformat(produced_on) <= due_on,
        )


def case_figures(tx: Tx, calculator: CaseCalculator) -> Iterator[CaseFigures]:
    """Every case of the view, in key order, streamed."""
    for row in table_rows(tx, cases_table):
        yield calculator.figures(row)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def outlet_months(cases: Iterator[CaseFigures]) -> list[OutletMonth]:
    groups: dict[tuple[str, str], list[CaseFigures]] = defaultdict(list)
    for case in cases:
        groups[(case.outlet, case.month)].append(case)
    summary = []
    for (outlet, month), members in sorted(groups.items()):
        to_collection = _present([c.pre_report_to_collection_days for c in members])
        to_production = _present([c.application_to_production_working_days for c in members])
        judged = [c.sla_met for c in members if c.sla_met is not None]
        summary.append(
            OutletMonth(
                outlet=outlet,
                month=month,
                cases=len(members),
                collected=sum(c.collected_at is not None for c in members),
                produced=len(judged),
                pre_report_to_collection_p50_days=percentile(to_collection, 50),
                pre_report_to_collection_p90_days=percentile(to_collection, 90),
                application_to_production_p50_working_days=percentile(to_production, 50),
                application_to_production_p90_working_days=percentile(to_production, 90),
                sla_hit_rate=round(sum(judged) / len(judged), 4) if judged else None,
            )
        )
    return summary


def _present(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None]


Progress = Callable[[int], None]
