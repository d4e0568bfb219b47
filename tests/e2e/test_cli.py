"""``sscard`` as a clerk uses it: real processes, a real SQLite store in a temporary folder.

Every refusal must exit non-zero with exactly one line of reason and leave the store unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from cli.main import build_parser
from contract.public_form import PUBLIC_MODELS
from service.bootstrap import open_back_office
from tests.conftest import make_settings
from tests.support import HOLDER_ID_KEY, card_number, resident_id

SSCARD = str(Path(sys.executable).parent / "sscard")


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SSCARD_", "POSTGRES_")) and k not in ("DATABASE_URL",)
        }
        self.env |= {
            "SSCARD_DATA_DIR": str(tmp_path / "data"),
            "SSCARD_STATE_DIR": str(tmp_path / "state"),
            "SSCARD_HOLDER_ID_KEY": HOLDER_ID_KEY,
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SSCARD, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def head(self) -> int:
        with open_back_office(make_settings(self.tmp_path)) as backoffice:
            return backoffice.source.head()

    def refused(self, exit_code: int, *args: str) -> str:
        before = self.head()
        result = self(*args)
        assert result.returncode == exit_code, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line of reason, got: {result.stderr!r}"
        assert "Traceback" not in result.stderr
        assert self.head() == before, "a refused command changed the store"
        return lines[0]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


CLERK = ["--outlet", "BJ-DC-001", "--staff", "clerk-01"]
HOLDER_DOCS = "holder_id_original,holder_id_copy"


def issue(cli: Cli, rid: str, region: str = "110000") -> str:
    number = card_number()
    cli.ok(
        "card",
        "issue",
        "--resident-id",
        rid,
        "--name",
        "张三",
        "--region",
        region,
        "--card-number",
        number,
        *CLERK,
    )
    return number


def formal_report(cli: Cli, rid: str) -> str:
    out = cli.ok(
        "--json",
        "loss",
        "report",
        "--resident-id",
        rid,
        *CLERK,
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        HOLDER_DOCS,
    )
    return str(json.loads(out)["certificate"])


def test_a_wrong_id_check_character_is_bad_input(cli: Cli):
    rid = resident_id()
    wrong = rid[:17] + ("0" if rid[17] != "0" else "1")
    line = cli.refused(
        2,
        "card",
        "issue",
        "--resident-id",
        wrong,
        "--name",
        "张三",
        "--region",
        "110000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    assert "check character" in line
    assert wrong not in line, "the full ID number must not be echoed"


def test_an_unknown_region_is_bad_input(cli: Cli):
    line = cli.refused(
        2,
        "card",
        "issue",
        "--resident-id",
        resident_id(),
        "--name",
        "张三",
        "--region",
        "990000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    assert "unknown region 990000" in line


def test_collecting_before_production_is_refused(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    certificate = formal_report(cli, rid)
    line = cli.refused(
        1,
        "card",
        "collect",
        "--resident-id",
        rid,
        "--outlet",
        "BJ-HD-003",
        "--staff",
        "clerk-01",
        "--certificate",
        certificate,
    )
    assert "not been produced" in line


def test_cancelling_after_the_formal_report_is_refused(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    cli.ok("loss", "pre-report", "--resident-id", rid, *CLERK)
    formal_report(cli, rid)
    line = cli.refused(1, "loss", "cancel", "--resident-id", rid, *CLERK)
    assert "irreversible" in line


def test_a_proxy_acting_without_authorization_is_refused(cli: Cli):
    rid, agent = resident_id(), resident_id()
    issue(cli, rid)
    line = cli.refused(
        1,
        "loss",
        "report",
        "--resident-id",
        rid,
        *CLERK,
        "--agent",
        agent,
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        HOLDER_DOCS + ",agent_id_original,agent_id_copy",
    )
    assert "no proxy authorization" in line


def test_an_unknown_option_value_gets_one_line(cli: Cli):
    line = cli.refused(
        2,
        "loss",
        "report",
        "--resident-id",
        resident_id(),
        *CLERK,
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        "passport",
    )
    assert "holder_id_original" in line


def test_the_production_centre_retries_safely(cli: Cli):
    rid = resident_id()
    issue(cli, rid)
    certificate = formal_report(cli, rid)
    new_card = card_number()
    produce = [
        "card",
        "produce",
        "--certificate",
        certificate,
        "--new-card-number",
        new_card,
        "--staff",
        "centre-01",
    ]
    assert "CardProduced" in cli.ok(*produce)
    before = cli.head()
    assert "already recorded" in cli.ok(*produce)
    assert cli.head() == before


def test_the_demo_prints_both_histories(cli: Cli):
    out = cli.ok("demo")
    for expected in (
        "LossPreReported",
        "ProxyAuthorized",
        "LossFormallyReported",
        "CardProduced",
        "CardCollected",
        "CardActivated",
        "LossPreReportLapsed",
    ):
        assert expected in out
    assert "1 lapsed" in out
    second_tick = cli.ok("tick")
    assert "0 lapsed" in second_tick


def test_contracts_export_writes_valid_json_schemas_equal_to_the_committed_ones(
    cli: Cli, tmp_path: Path
):
    out_dir = tmp_path / "contracts"
    cli.ok("contracts", "export", str(out_dir))
    files = sorted((out_dir / "schemas" / "events").glob("*.schema.json"))
    assert len(files) == len(PUBLIC_MODELS)  # every published event type's public payload
    committed = Path(__file__).resolve().parents[2] / "contracts"
    for path in sorted(out_dir.rglob("*.json")):
        assert path.read_text() == (committed / path.relative_to(out_dir)).read_text(), path
    for path in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def _all_subparsers(parser, prefix=()):
    """Every (sub)command: its path, its parser, and the help line its parent lists it with."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*prefix, name), sub, listed.get(name)
                yield from _all_subparsers(sub, (*prefix, name))


def _shown(text: str | None) -> bool:
    return bool(text and text.strip()) and text != argparse.SUPPRESS


def test_every_command_has_help_text():
    """Each command says what it does where argparse shows it (in its parent's list, or as its
    own description), and each argument and option says what it is."""
    commands = list(_all_subparsers(build_parser(load_all_tools=True)))
    assert len(commands) > 20, "the tools' commands were not loaded"
    unexplained = [
        " ".join(path)
        for path, sub, listed in commands
        if not (_shown(sub.description) or _shown(listed))
    ]
    assert unexplained == []
    silent = [
        f"sscard {' '.join(path)} {(action.option_strings or [action.dest])[0]}"
        for path, sub, _ in commands
        for action in sub._actions
        if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
        and not _shown(action.help)
    ]
    assert silent == []
