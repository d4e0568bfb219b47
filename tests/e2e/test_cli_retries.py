"""A client retrying with its request id can tell the replay from the first call."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import CLERK, Cli, issue
from tests.support import resident_id


def test_a_replayed_command_says_so_and_otherwise_answers_the_first_result(tmp_path: Path):
    cli = Cli(tmp_path)
    rid = resident_id()
    issue(cli, rid)
    command = ["loss", "pre-report", "--resident-id", rid, *CLERK, "--request-id", "r-1", "--json"]
    first = json.loads(cli.ok(*command))
    again = json.loads(cli.ok(*command))
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
