"""What the lifecycle figures answer for people who look rather than read (the console's
charts): the SLA hit rate per outlet in a month and per month, and how long each stage of a
replacement took. The analysts' full tables stay with ``sscard analytics export``.

This module imports nothing heavier than pydantic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from application.results import Result

# The stages of a replacement case, in the order a case goes through them.
Stage = Literal[
    "pre_report_to_application",
    "application_to_production",
    "production_to_collection",
    "collection_to_activation",
]
STAGES: tuple[Stage, ...] = (
    "pre_report_to_application",
    "application_to_production",
    "production_to_collection",
    "collection_to_activation",
)
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class LifecycleQuery(BaseModel):
    """The month of the per-outlet figures (default: the latest with a case) and the outlet of
    the monthly trend and the stage durations (default: every outlet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    month: str | None = Field(default=None, pattern=MONTH_PATTERN)
    outlet: str | None = Field(default=None, min_length=1, max_length=32)


class SlaFigure(BaseModel):
    """Cases applied for in a group, how many were produced, how many of those by their due
    date; ``hit_rate`` is met / produced (None before any was produced)."""

    model_config = ConfigDict(frozen=True)

    cases: int
    produced: int
    met: int
    hit_rate: float | None


class OutletSla(SlaFigure):
    outlet: str


class MonthSla(SlaFigure):
    month: str


class StageDuration(BaseModel):
    """One stage over the cases that went through it: nearest-rank p50 and p90, in days."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    cases: int
    p50_days: float | None
    p90_days: float | None


class LifecycleFigures(Result):
    months: list[str]  # every month with a case, oldest first
    month: str | None  # the month of ``outlets`` and ``stages`` (None: no case at all)
    outlet: str | None  # the outlet of ``trend`` and ``stages`` (None: all)
    outlets: list[OutletSla]  # the month's outlets, by outlet code
    trend: list[MonthSla]  # every month, oldest first
    stages: list[StageDuration]
