"""The lifecycle figures behind the console's charts, read from the lifecycle view in one pass:
the SLA hit rate per outlet in a month and per month, and the stage durations of a month.

The SLA and the durations are the analytics export's (``projections.analytics``): a case's
outlet is the one that took the application, its month the application's, its SLA the due date
recorded with it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from application.lifecycle_results import (
    STAGES,
    LifecycleFigures,
    LifecycleQuery,
    MonthSla,
    OutletSla,
    Stage,
    StageDuration,
)
from projections.analytics import CaseCalculator, CaseFigures, case_figures, percentile
from projections.lifecycle import LifecycleAnalytics, cases_table
from service.bootstrap import BackOffice


@dataclass
class _Tally:
    cases: int = 0
    produced: int = 0
    met: int = 0

    def add(self, case: CaseFigures) -> None:
        self.cases += 1
        if case.sla_met is not None:
            self.produced += 1
            self.met += case.sla_met

    def rate(self) -> float | None:
        return round(self.met / self.produced, 4) if self.produced else None


def lifecycle_figures(backoffice: BackOffice, query: LifecycleQuery) -> LifecycleFigures:
    """The figures of ``query``'s month (default the latest) and outlet (default all)."""
    backoffice.views.create(LifecycleAnalytics.tables)
    calculator = CaseCalculator(backoffice.office.calendar)
    by_outlet: dict[str, _Tally] = defaultdict(_Tally)
    by_month: dict[str, _Tally] = defaultdict(_Tally)
    durations: dict[Stage, list[float]] = {stage: [] for stage in STAGES}
    with backoffice.views.reading() as tx:
        months = sorted(
            str(m) for m in tx.execute(select(cases_table.c.month).distinct()).scalars()
        )
        month = query.month or (months[-1] if months else None)
        for case in case_figures(tx, calculator):
            ours = query.outlet is None or case.outlet == query.outlet
            if ours:
                by_month[case.month].add(case)
            if case.month != month:
                continue
            by_outlet[case.outlet].add(case)
            if ours:
                for stage in STAGES:
                    days = getattr(case, f"{stage}_days")
                    if days is not None:
                        durations[stage].append(float(days))
    return LifecycleFigures(
        months=months,
        month=month,
        outlet=query.outlet,
        outlets=[
            OutletSla(outlet=o, cases=t.cases, produced=t.produced, met=t.met, hit_rate=t.rate())
            for o, t in sorted(by_outlet.items())
        ],
        trend=[
            MonthSla(month=m, cases=t.cases, produced=t.produced, met=t.met, hit_rate=t.rate())
            for m, t in sorted(by_month.items())
        ],
        stages=[
            StageDuration(
                stage=stage,
                cases=len(values),
                p50_days=percentile(values, 50),
                p90_days=percentile(values, 90),
            )
            for stage, values in durations.items()
        ],
    )
