"""The operating commands as people and scripts use them: ``tick``, ``status``, ``relay
status``, ``contracts export``. Text in the region's local time for people; under ``--json`` one
object with ``status`` first, instants with the region's offset, the exit code unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from samples import stories
from service.bootstrap import open_back_office
from tests.conftest import make_settings
from tests.e2e.test_cli import Cli
from tests.e2e.test_read_model_cli import answer, is_local_instant
from tests.support import Clock, card_number, resident_id
from tracking.board import NO_PARTITIONS, Board


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


def test_tick_answers_in_local_time_whatever_zone_was_typed(cli):
    said = cli.ok("tick", "--at", "2025-12-31T16:00:00Z")
    assert "tick at 2026-01-01 00:00:00+08:00: 0 due, 0 lapsed" in said, said
    assert "0 pre-reports still open" in said
    found = answer(cli, "tick", "--at", "2026-01-01T00:00:00+08:00")
    assert found == {
        "status": "ok",
        "at": "2026-01-01T00:00:00+08:00",
        "due": 0,
        "lapsed": [],
        "failed": 0,
        "open": 0,
    }


def test_tick_refuses_the_future_in_local_time(cli):
    line = cli.refused(2, "tick", "--at", "2030-01-01T00:00:00+08:00")
    assert "2030-01-01 00:00:00+08:00 is in the future" in line, line
    assert "+00:00" not in line
    refused = answer(cli, "tick", "--at", "2029-12-31T16:00:00Z", code=2)
    assert (refused["status"], refused["code"]) == ("invalid", "invalid_input")
    assert "2030-01-01 00:00:00+08:00" in refused["message"]


def test_tick_lapses_a_due_pre_report_once(cli):
    """A pre-report made 40 days ago lapses on this tick (late: its deadline passed long ago),
    and the next tick has nothing to do."""
    rid, number = resident_id(), card_number()
    long_ago = Clock(datetime.now(UTC) - timedelta(days=40))
    with open_back_office(make_settings(cli.tmp_path), clock=long_ago) as backoffice:
        backoffice.office.issue_card(stories.issue(rid, number))
        backoffice.office.pre_report_loss(stories.pre_report(rid))
    found = answer(cli, "tick")
    assert (found["status"], found["due"], found["failed"], found["open"]) == ("ok", 1, 0, 0)
    [lapse] = found["lapsed"]
    assert lapse["card_number"] == number
    assert lapse["late"] is True
    assert is_local_instant(lapse["deadline"]), lapse
    assert is_local_instant(lapse["lapsed_at"]), lapse
    assert is_local_instant(found["at"])
    again = cli.ok("tick")
    assert "1 due" not in again
    assert "0 lapsed" in again


def test_status_as_json_and_its_exit_code_when_a_worker_does_no_work(cli):
    text = cli.ok("status")
    assert "store: SQLite" in text
    assert "none has run on this store" in text
    found = answer(cli, "status")
    assert (found["status"], found["healthy"], found["workers"]) == ("ok", True, [])
    assert is_local_instant(found["at"])
    assert found["head"] == 0
    with open_back_office(make_settings(cli.tmp_path)) as backoffice:
        Board(backoffice.views, "outlet_queue").set(NO_PARTITIONS, "none of the 3 partitions")
    stuck = answer(cli, "status", code=3)
    assert (stuck["status"], stuck["healthy"]) == ("ok", False)
    [worker] = stuck["workers"]
    assert (worker["state"], worker["healthy"]) == (NO_PARTITIONS, False)
    assert is_local_instant(worker["since"])
    said = cli("status")
    assert said.returncode == 3
    lines = said.stdout.splitlines()
    header = next(line for line in lines if line.startswith("worker "))
    assert header.split() == ["worker", "state", "since"]
    assert f"unhealthy: {worker['worker']} ({NO_PARTITIONS})" in said.stdout


def test_relay_status_as_json(cli):
    with open_back_office(
        make_settings(cli.tmp_path), clock=Clock(datetime.now(UTC))
    ) as backoffice:
        backoffice.office.issue_card(stories.issue(resident_id(), card_number()))
    head = cli.head()
    assert head > 0
    assert cli.ok("relay", "status") == f"store head {head}, published 0, lag {head}\n"
    found = answer(cli, "relay", "status", before=True)
    assert found == {"status": "ok", "head": head, "published": 0, "lag": head}


def test_contracts_export_as_json(cli, tmp_path):
    target = tmp_path / "contracts"
    found = answer(cli, "contracts", "export", str(target))
    assert found["status"] == "ok"
    assert "asyncapi.json" in found["files"]
    assert all((target / name).is_file() for name in found["files"])
    said = cli.ok("contracts", "export", str(target))
    assert f"wrote {len(found['files'])} contract files to {target}" in said
    a_file = tmp_path / "taken"
    a_file.write_text("")
    refused = answer(cli, "contracts", "export", str(a_file), code=2)
    assert (refused["status"], refused["code"]) == ("invalid", "invalid_arguments")
