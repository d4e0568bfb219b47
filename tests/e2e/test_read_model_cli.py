"""The read models' commands as people type them: an outlet's queue, analysts' exports, the
audit, dead letters; real processes on a real SQLite store (views built by ``sscard replay``,
which needs no Kafka)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

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


def test_the_outlet_queue_shows_counts_and_one_page_of_a_status(cli):
    ready = cli.ok("outlet", "queue", "--outlet", "BJ-HD-003")
    assert "awaiting-production 1, ready 1" in ready
    assert "王**  loss produced since" in ready
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
    assert "page 1 (1 entries)" in waiting
    assert "page 2 (0 entries)" in cli.ok(
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
    taken = cli.ok("outlet", "queue", "--outlet", "BJ-DC-001", "--status", "open")
    assert "open 2" in taken


def test_the_outlet_queue_refuses_bad_input_in_one_line(cli):
    assert cli("outlet", "queue", "--outlet", "XX-NOPE-9").returncode == 2
    result = cli("outlet", "queue", "--outlet", "BJ-HD-003", "--status", "lost")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_analytics_exports_csv_and_parquet(cli, tmp_path):
    cases = list(csv.DictReader(io.StringIO(cli.ok("analytics", "export", "--table", "cases"))))
    assert len(cases) == 2
    assert {c["kind"] for c in cases} == {"loss"}
    produced = [c for c in cases if c["produced_at"]]
    assert len(produced) == 1
    assert produced[0]["sla_met"] == "True"
    assert produced[0]["sla_working_days"] == "15"
    target = tmp_path / "months.parquet"
    said = cli.ok("analytics", "export", "--format", "parquet", "--output", str(target))
    assert "wrote 1 rows (outlet-months)" in said
    table = pq.read_table(target).to_pylist()
    assert table[0]["outlet"] == "BJ-DC-001"
    assert table[0]["cases"] == 2
    assert table[0]["produced"] == 1
    assert table[0]["sla_hit_rate"] == 1.0
    assert cli("analytics", "export", "--format", "parquet").returncode == 2


def test_verify_finds_the_views_equal_to_the_store(cli):
    said = cli.ok("verify", "--wait", "1")
    assert said.count("equal to its rebuild") == 4  # claims too
    assert "DIFFERENT" not in said


def test_dead_letters_commands_on_an_empty_list(cli):
    assert cli.ok("dead-letters", "list") == "no parked messages\n"
    result = cli("dead-letters", "discard", "--view", "outlet_queue", "--partition", "1")
    assert result.returncode == 2
    gone = cli("dead-letters", "discard", "--view", "outlet_queue", "--key", "nobody")
    assert gone.returncode == 1
