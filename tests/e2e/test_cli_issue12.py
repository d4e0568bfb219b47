"""Issue 12 at the command line: retries, JSON on every command, time guards, configuration and
infrastructure errors named with the right exit code, damaged cards, batches, ``card whose``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import CLERK, HOLDER_DOCS, Cli, formal_report, issue
from tests.ports import free_ports
from tests.support import card_number, resident_id

DOCS = "holder_id_original,holder_id_copy,agent_id_original,agent_id_copy,power_of_attorney"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def authorize_args(rid: str, agent: str, scope: str = "apply,collect") -> list[str]:
    return [
        "proxy",
        "authorize",
        "--resident-id",
        rid,
        *CLERK,
        "--agent",
        agent,
        "--agent-name",
        "李四",
        "--scope",
        scope,
        "--documents",
        DOCS,
    ]


def test_a_retry_with_the_same_request_id_prints_the_first_result_and_writes_nothing(cli: Cli):
    rid, agent = resident_id(), resident_id()
    issue(cli, rid)
    first = cli.ok(*authorize_args(rid, agent), "--request-id", "c6f1a2b4-0001")
    before = cli.head()
    again = cli.ok(*authorize_args(rid, agent, "collect,apply"), "--request-id", "c6f1a2b4-0001")
    assert again == first
    assert cli.head() == before
    line = cli.refused(2, *authorize_args(rid, agent, "collect"), "--request-id", "c6f1a2b4-0001")
    assert "request id" in line
    assert "different" in line


def test_a_repeat_without_a_request_id_says_already_recorded(cli: Cli):
    rid, agent = resident_id(), resident_id()
    issue(cli, rid)
    cli.ok(*authorize_args(rid, agent))
    before = cli.head()
    out = cli.ok(*authorize_args(rid, agent))
    assert out.startswith("already recorded")
    assert cli.head() == before
    pre = ["loss", "pre-report", "--resident-id", rid, *CLERK]
    cli.ok(*pre)
    assert cli.ok(*pre).startswith("already recorded")


def test_json_on_every_command_including_no_ops(cli: Cli):
    rid = resident_id()
    number = issue(cli, rid)
    pre = ["loss", "pre-report", "--resident-id", rid, *CLERK]
    recorded = json.loads(cli.ok(*pre, "--json"))
    assert (recorded["status"], recorded["type"]) == ("recorded", "LossPreReported")
    repeat = json.loads(cli.ok("--json", *pre))
    assert repeat["status"] == "already_recorded"
    assert repeat["event_id"] == recorded["event_id"]
    certificate = formal_report(cli, rid)
    produce = ["card", "produce", "--certificate", certificate, "--new-card-number"]
    new_card = card_number()
    cli.ok(*produce, new_card, "--staff", "centre-01")
    noop = json.loads(cli.ok(*produce, new_card, "--staff", "centre-01", "--json"))
    assert noop["status"] == "already_recorded"
    assert json.loads(cli.ok("holder", "show", "--resident-id", rid, "--json"))["case"]
    assert json.loads(cli.ok("card", "whose", "--card-number", number, "--json"))["holder_id"]
    assert "open" in json.loads(cli.ok("tick", "--json"))


def test_output_is_local_time_with_its_offset(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    out = cli.ok("holder", "show", "--resident-id", rid)
    assert "+08:00" in out
    assert "Z\n" not in out
    assert "Z " not in out


def test_tick_refuses_a_future_or_out_of_range_instant(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    cli.ok("loss", "pre-report", "--resident-id", rid, *CLERK)
    line = cli.refused(2, "tick", "--at", "2099-01-01T00:00:00Z")
    assert "future" in line
    line = cli.refused(2, "tick", "--at", "0001-01-01T00:00:00+08:00")
    assert "out of range" in line
    assert "temporarily_lost" in cli.ok("holder", "show", "--resident-id", rid)


def test_card_whose_takes_card_number_like_every_other_command(cli: Cli):
    rid = resident_id()
    number = issue(cli, rid)
    assert "(current)" in cli.ok("card", "whose", "--card-number", number)
    cli.refused(2, "card", "whose", number)


def test_a_damaged_card_is_exchanged_at_the_command_line(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    out = cli.ok(
        "--json",
        "card",
        "replace-damaged",
        "--resident-id",
        rid,
        *CLERK,
        "--cause",
        "wear_or_accident",
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        HOLDER_DOCS,
    )
    event = json.loads(out)
    assert (event["type"], event["fee_fen"]) == ("DamagedCardReplacementApplied", 2000)
    assert "surrendered" in cli.ok("holder", "show", "--resident-id", rid)


# ---- input hygiene at the door -------------------------------------------------------------


def test_hostile_input_gets_one_short_line_and_exit_two(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    huge = "Z" * 10_000
    for args in (
        ["card", "whose", "--card-number", huge],
        ["loss", "pre-report", "--resident-id", rid, "--channel", huge],
        ["loss", "pre-report", "--resident-id", rid, "--outlet", "XX-NOPE-999", "--staff", "c1"],
        [
            "card",
            "issue",
            "--resident-id",
            "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",
            "--name",
            "x",
            "--region",
            "110000",
            "--card-number",
            card_number(),
            *CLERK,
        ],
        [
            "card",
            "issue",
            "--resident-id",
            resident_id(),
            "--name",
            "a\x1b[31mb",
            "--region",
            "110000",
            "--card-number",
            card_number(),
            *CLERK,
        ],
        [
            "card",
            "issue",
            "--resident-id",
            resident_id(),
            "--name",
            "x",
            "--region",
            "110000",
            "--card-number",
            card_number(),
            "--issued-on",
            "2030-01-01",
            *CLERK,
        ],
        ["bench", "relay", "--rate", "nan"],
    ):
        line = cli.refused(2, *args)
        assert len(line) < 300, line
        assert "Traceback" not in line


# ---- configuration and infrastructure ------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://u:p@h/db"),
        ("DATABASE_URL", "postgresql://h/"),
        ("DATABASE_URL", "postgresql://u:p@h:notaport/db"),
        ("DATABASE_URL", "notaurl"),
        ("KAFKA_BOOTSTRAP_SERVERS", "not-a-host:::"),
        ("SSCARD_KAFKA_PORT", "abc"),
        ("SSCARD_HOLIDAY_CALENDAR", "/nonexistent/holidays.json"),
        ("SSCARD_OUTLETS", "/nonexistent/outlets.json"),
    ],
)
def test_a_configuration_error_exits_two_naming_the_variable(cli: Cli, variable: str, value: str):
    cli.env[variable] = value
    result = cli("holder", "show", "--resident-id", resident_id())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0], result.stderr


def test_a_corrupted_store_file_exits_three_naming_it(cli: Cli, tmp_path: Path):
    for name in ("sscard.sqlite", "views.sqlite"):
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        for other in data.iterdir():
            other.unlink()
        (data / name).write_bytes(b"this is not a database" * 100)
        result = cli("holder", "show", "--resident-id", resident_id())
        assert result.returncode == 3, result.stderr
        assert "corrupted file" in result.stderr
        assert name in result.stderr


@pytest.mark.integration
@pytest.mark.postgres
def test_postgres_trouble_exits_three_with_its_cause_within_seconds(cli: Cli, postgres_url: str):
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    (closed_port,) = free_ports(1)
    cases = {
        "unreachable": f"postgresql://u:p@127.0.0.1:{closed_port}/db",
        "authentication failed": postgres_url.replace(
            f"{parts.username}:{parts.password}@", f"{parts.username}:wrong-password@"
        ),
        "does not exist": postgres_url.rsplit("/", 1)[0] + "/no_such_database",
    }
    for cause, url in cases.items():
        cli.env["DATABASE_URL"] = url
        started = time.monotonic()
        result = cli("holder", "show", "--resident-id", resident_id())
        elapsed = time.monotonic() - started
        assert result.returncode == 3, result.stderr
        assert cause in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert elapsed < 10, f"{cause}: {elapsed:.1f} s"


def test_serve_on_an_unreachable_database_exits_three_in_one_line(cli: Cli):
    # A `sscard serve` restarted while PostgreSQL was down logged uvicorn's traceback of the
    # app's failed start (chaos seed 13): the store is asked before uvicorn starts.
    (closed_port, port) = free_ports(2)
    cli.env["DATABASE_URL"] = f"postgresql://u:p@127.0.0.1:{closed_port}/db"
    result = cli("serve", "--port", str(port))
    assert result.returncode == 3, result.stderr
    assert "unreachable" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
