"""The composition root wires the operator's holiday calendar (SSCARD_HOLIDAY_CALENDAR): a year
published after the release counts as official, without a release."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from service.bootstrap import open_back_office
from tests.conftest import make_settings
from tests.support import Clock, issue, report, resident_id


def test_an_operators_calendar_file_makes_a_new_year_official(tmp_path: Path):
    clock = Clock(datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    holder, other = resident_id(), resident_id()
    with open_back_office(make_settings(tmp_path / "packaged"), clock=clock) as packaged:
        packaged.office.issue_card(issue(holder))
        estimated = packaged.office.report_loss_formally(report(holder))
    operator_file = tmp_path / "holidays-2027.json"
    operator_file.write_text(
        '{"years": {"2027": {"notice": "国务院办公厅 2026年11月", '
        '"days_off": ["2027-01-01/2027-01-03"], "adjusted_workdays": []}}}',
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "operator", holiday_calendar=operator_file)
    with open_back_office(settings, clock=clock) as configured:
        configured.office.issue_card(issue(other))
        official = configured.office.report_loss_formally(report(other))
    assert estimated.production_due_basis == "estimated"
    assert official.production_due_basis == "official_calendar"
