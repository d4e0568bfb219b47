"""The read models' commands as people type them: an outlet's queue, analysts' exports, the
audit, dead letters; real processes on a real SQLite store (views built by ``sscard replay``,
which needs no Kafka). Each answers people with a table or a line, and under ``--json`` (before
or after the command) with one JSON object whose ``status`` says what happened."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from samples import stories
from service.bootstrap import open_back_office
from service.views import replay
from tests.conftest import make_settings
from tests.e2e.test_cli import Cli
from tests.support import Clock, card_number, pre_report, produce, report, resident_id


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One history for the whole module, written in process (every ``sscard`` is a process of
    its own: seconds each); the read models' own commands are then run as people run them."""
    cli = Cli(tmp_path_factory.mktemp("read-models"))
    holder, waiting = resident_id(), resident_id()
    with open_back_office(
        make_settings(cli.tmp_path), clock=Clock(datetime.now(UTC))
    ) as backoffice:
        office = backoffice.office
        for rid in (holder, waiting):
            office.issue_card(stories.issue(rid, card_number(), holder_name="王小明"))
            office.pre_report_loss(pre_report(rid))
            application = office.report_loss_formally(report(rid))
        office.record_production(produce(application.certificate_number))
    assert "rebuilt from the store" in cli.ok("replay", "outlet_queue")
    for view in ("settlement_blocklist", "lifecycle_analytics", "claims"):
        replay(make_settings(cli.tmp_path), view)
    return cli


def answer(cli: Cli, *args: str, code: int = 0, before: bool = False) -> dict[str, Any]:
    """The command's one JSON object (``--json`` after the command, or before it), with the
    exit code it must have."""
    argv = ("--json", *args) if before else (*args, "--json")
    result = cli(*argv)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stdout.splitlines()
    found = json.loads(line)
    assert isinstance(found, dict)
    assert next(iter(found)) == "status", "status comes first"
    return found


def is_local_instant(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() is not None and text.endswith("+08:00")


def test_the_outlet_queue_shows_counts_and_one_page_of_a_status(cli):
    ready = cli.ok("outlet", "queue", "--outlet", "BJ-HD-003")
    assert "awaiting-production 1, ready 1" in ready
    lines = ready.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("what "))
    assert lines[header].split() == ["what", "name", "kind", "status", "since", "due", "overdue"]
    row = lines[header + 1]
    assert "王**" in row
    assert "loss" in row
    assert "produced" in row
    # The columns line up: each header starts where its cells start.
    assert row.index("王**") == lines[header].index("name")
    assert lines[-1] == "1 entry"
    waiting = cli.ok(
        "outlet",
        "queue",
        "--outlet",
        "BJ-HD-003",
        "--status",
        "awaiting-production",
        "--page-size",
        "1",
    )
    assert waiting.splitlines()[-1] == "1 entry"
    assert "entries)" not in waiting
    empty = cli.ok(
        "outlet",
        "queue",
        "--outlet",
        "BJ-HD-003",
        "--status",
        "ready",
        "--page",
        "2",
        "--page-size",
        "1",
    )
    assert "ready, page 2:" in empty
    assert empty.splitlines()[-1] == "0 entries"
    taken = cli.ok("outlet", "queue", "--outlet", "BJ-DC-001", "--status", "open")
    assert "open 2" in taken


def test_the_outlet_queue_as_json(cli):
    for before in (False, True):
        found = answer(cli, "outlet", "queue", "--outlet", "BJ-HD-003", before=before)
        assert found["status"] == "ok"
        assert (found["outlet"], found["queue_status"], found["page"]) == ("BJ-HD-003", "ready", 1)
        assert found["counts"]["ready"] == 1
        date.fromisoformat(found["today"])
        [entry] = found["entries"]
        assert entry["masked_name"] == "王**"
        assert entry["queue_status"] == "produced"
        assert is_local_instant(entry["since"]), entry["since"]
        assert entry["certificate"]
    empty = answer(cli, "outlet", "queue", "--outlet", "BJ-HD-003", "--page", "9")
    assert (empty["status"], empty["entries"]) == ("ok", [])


def test_the_outlet_queue_refuses_bad_input_in_one_line(cli):
    assert cli("outlet", "queue", "--outlet", "XX-NOPE-9").returncode == 2
    result = cli("outlet", "queue", "--outlet", "BJ-HD-003", "--status", "lost")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    for before in (False, True):
        refused = answer(cli, "outlet", "queue", "--outlet", "XX-NOPE-9", code=2, before=before)
        assert refused["status"] == "invalid"
        assert refused["code"]
        assert "XX-NOPE-9" in refused["message"]


def test_analytics_exports_csv_and_parquet(cli, tmp_path):
    exported = cli.ok("analytics", "export", "--table", "cases")
    cases = list(csv.DictReader(io.StringIO(exported)))
    assert len(cases) == 2
    assert {c["kind"] for c in cases} == {"loss"}
    produced = [c for c in cases if c["produced_at"]]
    assert len(produced) == 1
    assert produced[0]["sla_met"] == "true", "CSV readers expect true/false, not Python's True"
    assert "True" not in exported
    assert produced[0]["sla_working_days"] == "15"
    target = tmp_path / "months.parquet"
    said = cli.ok("analytics", "export", "--format", "parquet", "--output", str(target))
    assert "wrote 1 row (outlet-months)" in said
    table = pq.read_table(target).to_pylist()
    assert table[0]["outlet"] == "BJ-DC-001"
    assert table[0]["cases"] == 2
    assert table[0]["produced"] == 1
    assert table[0]["sla_hit_rate"] == 1.0
    assert cli("analytics", "export", "--format", "parquet").returncode == 2


def test_the_parquet_export_types_instants_and_dates(cli, tmp_path):
    target = tmp_path / "cases.parquet"
    found = answer(
        cli,
        "analytics",
        "export",
        "--format",
        "parquet",
        "--table",
        "cases",
        "--output",
        str(target),
    )
    assert found == {
        "status": "ok",
        "table": "cases",
        "format": "parquet",
        "output": str(target),
        "rows": 2,
    }
    schema = pq.read_schema(target)
    instant = pa.timestamp("us", tz="UTC")
    for column in ("pre_reported_at", "applied_at", "produced_at", "collected_at", "activated_at"):
        assert schema.field(column).type == instant, (column, schema.field(column).type)
    assert schema.field("production_due_on").type == pa.date32()
    assert schema.field("sla_met").type == pa.bool_()
    rows = pq.read_table(target).to_pylist()
    [made] = [r for r in rows if r["produced_at"] is not None]
    assert made["produced_at"].tzinfo is not None
    assert made["applied_at"] <= made["produced_at"]
    assert isinstance(made["production_due_on"], date)


def test_the_analytics_export_under_json_needs_a_file(cli):
    refused = answer(cli, "analytics", "export", code=2)
    assert refused["status"] == "invalid"
    assert "--output" in refused["message"]


def test_progress_redraws_only_on_a_terminal(cli, tmp_path):
    """``--progress`` into a log file: whole lines, no carriage returns."""
    result = cli("analytics", "export", "--table", "cases", "--progress")
    assert result.returncode == 0, result.stderr
    assert "cases: 2/2 (100%)" in result.stderr
    assert "\r" not in result.stderr


def test_verify_finds_the_views_equal_to_the_store(cli):
    said = cli.ok("verify", "--wait", "1")
    assert said.count("equal to its rebuild") == 4  # claims too
    assert "DIFFERENT" not in said
    found = answer(cli, "verify", "--wait", "1")
    assert (found["status"], found["equal"]) == ("ok", True)
    assert [v["view"] for v in found["views"]] == [
        "outlet_queue",
        "settlement_blocklist",
        "lifecycle_analytics",
        "claims",
    ]
    assert all(v["equal"] and v["tables"] for v in found["views"])


def test_replay_as_json(cli):
    found = answer(cli, "replay", "settlement_blocklist", before=True)
    assert found["status"] == "ok"
    [view] = found["views"]
    assert view["view"] == "settlement_blocklist"
    assert view["rows"] > 1
    said = cli.ok("replay", "settlement_blocklist")
    assert f"({view['rows']} rows;" in said


def test_dead_letters_commands_on_an_empty_list(cli):
    assert cli.ok("dead-letters", "list") == "no parked messages\n"
    assert answer(cli, "dead-letters", "list") == {
        "status": "ok",
        "count": 0,
        "messages": [],
        "total": None,
        "page": None,
        "page_size": None,
    }
    assert cli.ok("dead-letters", "retry") == "no parked messages to retry\n"
    retried = answer(cli, "dead-letters", "retry")
    assert retried == {"status": "ok", "applied": 0, "still_parked": 0, "keys": []}
    result = cli("dead-letters", "discard", "--view", "outlet_queue", "--partition", "1")
    assert result.returncode == 2
    invalid = answer(
        cli, "dead-letters", "discard", "--view", "outlet_queue", "--offset", "1", code=2
    )
    assert (invalid["status"], invalid["code"]) == ("invalid", "invalid_input")
    gone = cli("dead-letters", "discard", "--view", "outlet_queue", "--key", "nobody")
    assert gone.returncode == 1
    refused = answer(
        cli, "dead-letters", "discard", "--view", "outlet_queue", "--key", "nobody", code=1
    )
    assert (refused["status"], refused["code"]) == ("refused", "not_found")


@pytest.mark.parametrize(
    ("command", "code", "status"),
    [
        (("dead-letters", "list", "--view", "claims"), 0, "ok"),
        (("dead-letters", "retry", "--view", "claims"), 0, "ok"),
        (("replay", "no_such_view"), 2, "invalid"),
        (("dead-letters", "discard", "--view", "claims", "--key", "nobody"), 1, "refused"),
    ],
)
def test_json_before_or_after_the_command_is_the_same_answer(cli, command, code, status):
    after = answer(cli, *command, code=code)
    before = answer(cli, *command, code=code, before=True)
    assert after == before
    assert after["status"] == status
    if status != "ok":
        assert after["code"], after
