"""The lifecycle analytics as charts (SLA hit rate per outlet in a month, per month, and how
long each stage of a replacement took), each drawn as inline SVG by ``console.charts`` with its
figures in a table below it (for screen readers, and for whoever would rather read).

The figures are the analytics export's, read from the lifecycle view by
``application.lifecycle_figures``; the view is fed by the consumers, so a case recorded now
shows once its consumer applied it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from api.state import backoffice_of
from application.lifecycle_figures import lifecycle_figures
from application.lifecycle_results import (
    MONTH_PATTERN,
    LifecycleFigures,
    LifecycleQuery,
    OutletSla,
)
from console.access import Permitted
from console.charts import Row, bar_chart, line_chart
from console.i18n import Translator, language_of
from console.render import page

# Outlets drawn in the month's chart, worst first: more bars than this no one reads (the
# table below lists every outlet).
MAX_BARS = 40


def add_analytics_pages(console: FastAPI) -> None:
    @console.get("/analytics")
    def analytics(
        request: Request,
        identity: Permitted,
        month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
        outlet: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Response:
        query = LifecycleQuery(month=month or None, outlet=outlet or None)
        figures = lifecycle_figures(backoffice_of(request), query)
        t = Translator(language_of(request))
        return page(
            request,
            "analytics.html",
            identity=identity,
            figures=figures,
            drawn=len(_drawn(figures.outlets)),
            charts=_charts(figures, t),
            percent=_percent,
            days=_days,
        )


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _drawn(outlets: list[OutletSla]) -> list[OutletSla]:
    """The month's outlets with a rate, worst first (ties by code), at most ``MAX_BARS``."""
    rated = [o for o in outlets if o.hit_rate is not None]
    return sorted(rated, key=lambda o: (o.hit_rate, o.outlet))[:MAX_BARS]


def _charts(figures: LifecycleFigures, t: Translator) -> dict[str, object]:
    drawn = _drawn(figures.outlets)
    by_outlet = bar_chart(
        "chart-sla-outlets",
        t("analytics.sla_outlets", month=figures.month or ""),
        [Row(o.outlet, (None if o.hit_rate is None else o.hit_rate * 100,)) for o in drawn],
        [t("analytics.hit_rate")],
        100.0,
        [[_percent(o.hit_rate)] for o in drawn],
    )
    trend = line_chart(
        "chart-sla-months",
        t("analytics.sla_months", outlet=figures.outlet or t("analytics.all_outlets")),
        [(m.month, None if m.hit_rate is None else m.hit_rate * 100) for m in figures.trend],
        100.0,
        [_percent(m.hit_rate) for m in figures.trend],
    )
    longest = max((s.p90_days or 0.0 for s in figures.stages), default=0.0)
    stages = bar_chart(
        "chart-stages",
        t("analytics.stages", month=figures.month or ""),
        [Row(t(f"stage.{s.stage}"), (s.p50_days, s.p90_days)) for s in figures.stages],
        ["p50", "p90"],
        longest or 1.0,
        [[_days(s.p50_days), _days(s.p90_days)] for s in figures.stages],
    )
    return {"outlets": by_outlet, "months": trend, "stages": stages}
