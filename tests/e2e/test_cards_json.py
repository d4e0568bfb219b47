"""The output contract for the card, loss, proxy and holder commands: under ``--json`` (before
or after the command) every answer is one JSON object on stdout with a ``status``: a command
that records, the same command again (nothing written), and a refusal (``refused``, with its
``code``, exit 1). Field names are the contract's (``holder_id``, ``certificate``); instants
carry the region's offset; money is a yuan string beside its fen.

The command line runs in this process (the real parser, handlers and store; only the process
start is saved), so that the whole matrix takes seconds.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.support import HOLDER_ID_KEY, RESIDENT_ID_SHAPE, card_number, resident_id

CLERK = ["--outlet", "BJ-DC-001", "--staff", "clerk-01"]
PICKUP = ["--outlet", "BJ-HD-003", "--staff", "clerk-01"]
DOCS = "holder_id_original,holder_id_copy"
AGENT_DOCS = DOCS + ",agent_id_original,agent_id_copy,power_of_attorney"
# Names the contract spells otherwise: none of them may appear in an answer.
NOT_CONTRACT_NAMES = {"originator_id", "originator_version", "certificate_number", "holder"}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


class JsonCli:
    """``sscard`` with ``--json`` put before or after the command, answers parsed."""

    def __init__(self, position: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.position = position
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, list[dict[str, Any]]]:
        argv = ["--json", *args] if self.position == "before" else [*args, "--json"]
        code = main(argv)
        out = self.capsys.readouterr().out
        lines = out.splitlines()
        assert lines, f"no answer to {argv}"
        answers = [json.loads(line) for line in lines]
        for answer in answers:
            assert isinstance(answer, dict), answer
            assert next(iter(answer)) == "status", "status comes first"
            check_contract(answer)
        assert RESIDENT_ID_SHAPE.search(out.encode()) is None, "ID numbers are masked"
        return code, answers

    def one(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, answers = self.run(*args)
        assert len(answers) == 1, answers
        return code, answers[0]

    def recorded(self, *args: str) -> dict[str, Any]:
        """The command records; sent again it answers already recorded, the same event."""
        code, first = self.one(*args)
        assert (code, first["status"], first["replayed"]) == (0, "recorded", False), first
        code, again = self.one(*args)
        assert (code, again["status"]) == (0, "already_recorded"), again
        assert again.get("event_id") in (first["event_id"], None)
        return first

    def refused(self, code_name: str, *args: str) -> dict[str, Any]:
        code, answer = self.one(*args)
        assert (code, answer["status"], answer["code"]) == (1, "refused", code_name), answer
        assert answer["message"]
        return answer

    def ok(self, *args: str) -> dict[str, Any]:
        code, answer = self.one(*args)
        assert (code, answer["status"]) == (0, "ok"), answer
        return answer


def check_contract(value: Any) -> None:
    """Contract names only, and every instant with the region's offset (never UTC's Z)."""
    if isinstance(value, dict):
        assert not NOT_CONTRACT_NAMES & set(value), value
        for item in value.values():
            check_contract(item)
    elif isinstance(value, list):
        for item in value:
            check_contract(item)
    elif isinstance(value, str) and INSTANT.match(value):
        assert value.endswith("+08:00"), value


@pytest.fixture(params=["before", "after"])
def sscard(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> JsonCli:
    for name in ("DATABASE_URL", "SSCARD_PERSISTENCE_MODULE", "SSCARD_POSTGRES_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SSCARD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SSCARD_HOLDER_ID_KEY", HOLDER_ID_KEY)
    return JsonCli(request.param, capsys)


def issue_args(rid: str, number: str) -> list[str]:
    return ["card", "issue", "--resident-id", rid, "--name", "张三", "--region", "110000",
            "--card-number", number, *CLERK]  # fmt: skip


def test_a_replacement_after_a_loss_answers_in_the_contract(sscard: JsonCli):
    rid, agent, number = resident_id(), resident_id(), card_number()
    issued = sscard.recorded(*issue_args(rid, number))
    assert (issued["type"], issued["holder_id"], issued["holder_name"]) == (
        "CardIssued",
        rid[:6] + "*" * 11 + rid[-1],
        "张*",
    )
    assert issued["occurred_at"].endswith("+08:00")
    sscard.refused("card_number_in_use", *issue_args(resident_id(), number))

    authorized = sscard.recorded(
        "proxy", "authorize", "--resident-id", rid, *CLERK, "--agent", agent, "--agent-name",
        "李四", "--scope", "apply,collect", "--documents", AGENT_DOCS,
    )  # fmt: skip
    assert authorized["agent_id"] == agent[:6] + "*" * 11 + agent[-1]
    sscard.refused(
        "holder_not_found", "proxy", "authorize", "--resident-id", resident_id(), *CLERK,
        "--agent", agent, "--agent-name", "李四", "--scope", "apply", "--documents", DOCS,
    )  # fmt: skip

    pre = ["loss", "pre-report", "--resident-id", rid, *CLERK]
    assert sscard.recorded(*pre)["lapses_at"].endswith("+08:00")
    sscard.refused("holder_not_found", "loss", "pre-report", "--resident-id", resident_id(),
                   "--channel", "online")  # fmt: skip

    cancel = ["loss", "cancel", "--resident-id", rid, *CLERK]
    sscard.recorded(*cancel)
    sscard.one(*pre)  # reported again, then formally
    report = ["loss", "report", "--resident-id", rid, *CLERK, "--collection-outlet",
              "BJ-HD-003", "--documents", DOCS]  # fmt: skip
    reported = sscard.recorded(*report)
    certificate = reported["certificate"]
    assert (reported["fee"], reported["fee_fen"]) == ("20.00", 2000)
    assert sscard.refused("formal_report_irreversible", *cancel)["message"]

    new_card = card_number()
    produce = ["card", "produce", "--certificate", certificate, "--new-card-number", new_card,
               "--staff", "centre-01"]  # fmt: skip
    produced = sscard.recorded(*produce)
    assert (produced["certificate"], produced["holder_id"]) == (certificate, issued["holder_id"])
    unknown = ["--certificate", "110000-0000000001", "--new-card-number", card_number()]
    sscard.refused("no_open_application", "card", "produce", *unknown, "--staff", "centre-01")

    collect = ["card", "collect", "--resident-id", rid, *PICKUP, "--certificate", certificate]
    sscard.recorded(*collect)
    sscard.refused("card_not_held", "card", "activate", "--resident-id", rid, *PICKUP,
                   "--card-number", number)  # fmt: skip
    sscard.recorded("card", "activate", "--resident-id", rid, *PICKUP, "--card-number", new_card)
    # The production sent again after the card moved on: on record, nothing written.
    code, again = sscard.one(*produce)
    assert (code, again["status"], again["event_id"]) == (
        0,
        "already_recorded",
        produced["event_id"],
    )

    whose = sscard.ok("card", "whose", "--card-number", new_card)
    assert (whose["current"], whose["holder_id"]) == (True, issued["holder_id"])
    sscard.refused("card_not_registered", "card", "whose", "--card-number", card_number())


def test_a_damaged_card_and_the_holder_reads_answer_in_the_contract(sscard: JsonCli):
    rid = resident_id()
    sscard.one(*issue_args(rid, card_number()))
    damaged = sscard.recorded(
        "card", "replace-damaged", "--resident-id", rid, *CLERK, "--cause", "card_defect",
        "--collection-outlet", "BJ-HD-003", "--documents", DOCS,
    )  # fmt: skip
    assert (damaged["fee"], damaged["fee_fen"], damaged["certificate"][:6]) == ("0.00", 0, "110000")
    sscard.refused(
        "holder_not_found", "card", "replace-damaged", "--resident-id", resident_id(), *CLERK,
        "--cause", "card_defect", "--collection-outlet", "BJ-HD-003", "--documents", DOCS,
    )  # fmt: skip

    shown = sscard.ok("holder", "show", "--resident-id", rid)
    assert shown["case"]["certificate"] == damaged["certificate"]
    assert shown["holder_id"] == damaged["holder_id"]
    assert shown["card"]["since"].endswith("+08:00")
    sscard.refused("holder_not_found", "holder", "show", "--resident-id", resident_id())
    sscard.refused("holder_not_found", "holder", "show", "--resident-id", rid, "--as-of",
                   "2001-01-01T00:00:00+08:00")  # fmt: skip

    code, history = sscard.run("holder", "history", "--resident-id", rid)
    assert code == 0
    assert [(e["status"], e["type"], e["version"]) for e in history] == [
        ("ok", "CardIssued", 1),
        ("ok", "DamagedCardReplacementApplied", 2),
    ]
    assert all(e["holder_id"] == damaged["holder_id"] for e in history)
    sscard.refused("holder_not_found", "holder", "history", "--resident-id", resident_id())

    erased = sscard.recorded("holder", "erase", "--resident-id", rid, "--staff", "auditor-01")
    assert erased["type"] == "HolderErased"
    sscard.refused("holder_not_found", "holder", "erase", "--resident-id", resident_id(),
                   "--staff", "auditor-01")  # fmt: skip
    assert sscard.ok("holder", "show", "--resident-id", rid)["holder_id"] == "[erased]"


def test_a_batch_answers_one_object_with_every_row(sscard: JsonCli, tmp_path: Path):
    rid = resident_id()
    sscard.one(*issue_args(rid, card_number()))
    _, reported = sscard.one("loss", "report", "--resident-id", rid, *CLERK,
                             "--collection-outlet", "BJ-HD-003", "--documents", DOCS)  # fmt: skip
    now = datetime.now(UTC).isoformat()
    batch = tmp_path / "batch.csv"
    batch.write_text(f"certificate,new_card_number,produced_at\n"
                     f"{reported['certificate']},{card_number()},{now}\n")  # fmt: skip
    args = ["card", "produce", "--batch", str(batch), "--staff", "centre-01"]
    code, first = sscard.one(*args)
    assert (code, first["status"], first["complete"], first["recorded"]) == (0, "recorded", True, 1)
    position = first["results"][0]["store_position"]
    assert position > reported["store_position"]
    assert first["results"] == [
        {"line": 2, "certificate": reported["certificate"], "status": "recorded",
         "code": None, "message": None, "store_position": position}
    ]  # fmt: skip
    code, again = sscard.one(*args)
    assert (code, again["status"], again["already_recorded"]) == (0, "already_recorded", 1)

    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"certificate,new_card_number,produced_at\n110000-0000000001,{card_number()},{now}\n"
    )
    refused = sscard.refused(
        "rows_refused", "card", "produce", "--batch", str(bad), "--staff", "c-01"
    )
    assert refused["results"][0]["code"] == "no_open_application"
    assert refused["refused_by_code"] == {"no_open_application": 1}
