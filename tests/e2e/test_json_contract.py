"""One output contract for every command: the whole argparse tree walked.

Each leaf is run with ``--json`` (before or after the command, in turn) for an accepted call, a
no-op (a command already on record, a retry, a query that finds nothing) and a refusal. Every
answer is JSON on stdout, one object per line, each with a ``status``; a refusal carries
``code`` and ``message`` and keeps its exit code. A leaf that this story cannot run (a server,
a long-running loop, a benchmark) is listed with the reason, and its refusal is still checked;
a new leaf in neither list fails the suite.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cli import help_texts
from cli.main import build_parser, main
from consumers import dead_letters
from service.bootstrap import open_back_office
from tests.conftest import make_settings
from tests.support import HOLDER_ID_KEY, card_number, elderly_resident_id, resident_id

BEIJING = ZoneInfo("Asia/Shanghai")
CLERK = ["--outlet", "BJ-DC-001", "--staff", "clerk-01"]
PICKUP = ["--outlet", "BJ-HD-003", "--staff", "clerk-01"]
DOCS = "holder_id_original,holder_id_copy"
CLAIM_DOCS = "invoice_original,itemised_list,prescription"

Kind = str  # "accepted" | "noop" | "refusal"

# Leaves this story does not run, and why: each is run by its own tests against real servers.
# Their refusals are still checked below (a bad argument answers as JSON).
NOT_RUN_HERE = {
    "run": "runs until stopped (tests/integration: fault and status tests)",
    "serve": "serves until stopped (tests/integration/test_api_two_servers.py; its answers: "
    "tests/e2e/test_api_contract.py)",
    "relay run": "runs until stopped (tests/integration/test_relay*.py)",
    "consumers run": "runs until stopped (tests/integration/test_read_models_from_kafka.py)",
    "settlement follow": "runs until stopped (tests/integration/test_settlement_subscriber.py)",
    "settlement check": "needs a broker (tests/integration/test_views_json_kafka.py)",
    "relay topics": "needs a broker (tests/integration/test_views_json_kafka.py)",
    "infra up": "starts servers (tests/integration/test_local_infra.py)",
    "infra down": "stops servers (tests/integration/test_local_infra.py)",
    "infra status": "asks the local servers (tests/integration/test_local_infra.py)",
    "bench relay": "a benchmark (tests/integration/test_bench_*.py)",
    "bench commands": "a benchmark (tests/integration/test_bench_*.py)",
    "bench replay": "a benchmark (tests/integration/test_bench_*.py)",
    "bench replay-memory": "a benchmark (tests/integration/test_bench_*.py)",
    "bench lookup": "a benchmark (tests/integration/test_bench_*.py)",
    "bench subscriber": "a benchmark (tests/integration/test_bench_*.py)",
    "bench views": "a benchmark (tests/integration/test_bench_*.py)",
    "bench http": "a benchmark (tests/integration/test_bench_*.py)",
    "demo": "drives a whole story of its own (tests/e2e/test_cli.py)",
    "chaos": "a fault-injection run of its own (tests/integration/test_chaos_run.py)",
}

# Leaves with no no-op to try: each says why.
NO_NOOP = {
    # Discarding what is not parked is refused (not_found): a discard either removes or refuses.
    "dead-letters discard": {"noop"},
}


class Story:
    """Runs ``sscard`` in this process against a store of its own and keeps what it saw."""

    def __init__(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SSCARD_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("SSCARD_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("SSCARD_HOLDER_ID_KEY", HOLDER_ID_KEY)
        self.capsys = capsys
        self.seen: dict[str, set[Kind]] = defaultdict(set)
        self.turn = 0

    def __call__(
        self, kind: Kind, *argv: str, exit_code: int | None = None
    ) -> list[dict[str, object]]:
        """Run one command with ``--json`` (in front and after the command, by turns), check
        the contract, and return the objects it printed."""
        leaf = _leaf_of(argv)
        self.turn += 1
        args = ["--json", *argv] if self.turn % 2 else [*argv, "--json"]
        self.capsys.readouterr()
        code = _run(args)
        out, err = self.capsys.readouterr()
        objects = _objects(out, args, err)
        expected = exit_code if exit_code is not None else (0 if kind != "refusal" else None)
        if expected is not None:
            assert code == expected, (args, code, out, err)
        if kind == "refusal":
            assert code in (1, 2), (args, code, out, err)
            assert len(objects) == 1, (args, out)
            refusal = objects[0]
            assert refusal["status"] in ("refused", "invalid"), (args, refusal)
            for field in ("code", "message"):
                assert isinstance(refusal.get(field), str), (args, refusal)
                assert refusal[field], (args, refusal)
        else:
            assert objects, f"{args}: no JSON on stdout (stderr: {err!r})"
            for item in objects:
                assert item["status"] not in ("refused", "invalid", "error"), (args, item)
        self.seen[leaf].add(kind)
        return objects


def _run(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own exits (a bad argument)
        return int(exc.code or 0)


def _objects(out: str, args: list[str], err: str) -> list[dict[str, object]]:
    objects = []
    for line in out.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"sscard {' '.join(args)}: stdout line is not JSON: {line!r} ({err!r})")
        assert isinstance(item, dict), (args, line)
        assert isinstance(item.get("status"), str), f"{args}: no status in {line!r}"
        _check_times(item, args)
        _check_store_position(item, args)
        objects.append(item)
    return objects


def _check_times(item: object, args: list[str]) -> None:
    """Every instant carries the region's offset: no UTC ``Z`` for people to convert."""
    if isinstance(item, dict):
        for value in item.values():
            _check_times(value, args)
    elif isinstance(item, list):
        for value in item:
            _check_times(value, args)
    elif isinstance(item, str) and len(item) >= 20 and item[4:5] == "-" and item[10:11] == "T":
        assert not item.endswith(("Z", "+00:00")), f"{args}: UTC instant {item!r} in the JSON"


def _check_store_position(item: dict[str, object], args: list[str]) -> None:
    """A command's answer that names its event (or the earlier one a retry is answered with)
    says where the event sits in the store's log: what a query's ``after`` takes."""
    if "replayed" in item and (item.get("event_id") or item.get("claim_id")):
        position = item.get("store_position")
        assert isinstance(position, int), f"{args}: no store_position in {item}"
        assert position >= 1


def _leaf_of(argv: tuple[str, ...]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    two = " ".join(words[:2])
    return two if two in _LEAVES else words[0]


_LEAVES = {path for path, _, _ in help_texts.leaves(build_parser(load_all_tools=True))}


@pytest.fixture
def story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Story:
    return Story(tmp_path, monkeypatch, capsys)


def _park_one(tmp_path: Path, key: bytes, offset: int) -> None:
    """A message parked by the outlet queue's consumer, as a failing apply would leave it."""
    with open_back_office(make_settings(tmp_path)) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        with backoffice.views.transaction() as tx:
            dead_letters.park(
                tx, "outlet_queue", "sscard.card-events", 0, offset, key, b"{}", "test", True
            )


def _request(what: str) -> list[str]:
    """A request id of its own for each command retried in the story."""
    return ["--request-id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"sscard-json-contract/{what}"))]


def _today() -> str:
    return datetime.now(BEIJING).date().isoformat()


@dataclass(frozen=True)
class Holders:
    """The story's people: a holder, another (a damaged card), and one the store never saw."""

    rid: str
    other: str
    stranger: str

    @property
    def holder(self) -> list[str]:
        return ["--resident-id", self.rid]

    @property
    def nobody(self) -> list[str]:
        return ["--resident-id", self.stranger]


def test_every_leaf_answers_in_json(story: Story, tmp_path: Path) -> None:
    people = Holders(rid=elderly_resident_id(), other=resident_id(), stranger=resident_id())
    _cards_losses_proxies(story, people, tmp_path)
    _holders(story, people)
    _claims(story, people)
    _operations(story, people, tmp_path)
    _audit_and_erasure(story, people)
    _tokens(story, people)
    for leaf in NOT_RUN_HERE:
        story("refusal", *leaf.split(), "--no-such-option")
    missing = {
        leaf: sorted(
            {"accepted", "noop", "refusal"} - story.seen.get(leaf, set()) - NO_NOOP.get(leaf, set())
        )
        for leaf in _LEAVES - NOT_RUN_HERE.keys()
    }
    assert not {leaf: kinds for leaf, kinds in missing.items() if kinds}, "leaves not walked"
    assert NOT_RUN_HERE.keys() <= _LEAVES, "a leaf listed as not run here no longer exists"


def _cards_losses_proxies(story: Story, people: Holders, tmp_path: Path) -> None:
    rid, other, holder, nobody = people.rid, people.other, people.holder, people.nobody
    card = card_number()
    issue = [
        "card",
        "issue",
        *holder,
        "--name",
        "张三",
        "--region",
        "110000",
        "--card-number",
        card,
        *CLERK,
    ]

    story("accepted", *issue)
    story("noop", *issue)
    story(
        "refusal",
        "card",
        "issue",
        "--resident-id",
        "123",
        "--name",
        "x",
        "--region",
        "110000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    story(
        "accepted",
        "card",
        "issue",
        "--resident-id",
        other,
        "--name",
        "李四",
        "--region",
        "110000",
        "--card-number",
        card_number(),
        *CLERK,
    )
    story("accepted", "card", "whose", "--card-number", card)
    story("noop", "card", "whose", "--card-number", card)
    story("refusal", "card", "whose", "--card-number", card_number())

    story("accepted", "loss", "pre-report", *holder, *CLERK)
    story("noop", "loss", "pre-report", *holder, *CLERK)
    story("refusal", "loss", "pre-report", *nobody, *CLERK)
    cancel = [
        "loss",
        "cancel",
        *holder,
        *CLERK,
        "--reason",
        "card_found",
        "--request-id",
        "5d3e1c7a-8f51-4a0e-b1d2-0c9e8a7b6f54",
    ]
    story("accepted", *cancel)
    assert story("noop", *cancel)[0]["replayed"] is True
    story("refusal", "loss", "cancel", *nobody, *CLERK, "--reason", "card_found")
    story("accepted", "loss", "pre-report", *holder, *CLERK)

    agent = resident_id(born=datetime(1979, 11, 2).date())
    authorize = [
        "proxy",
        "authorize",
        *holder,
        *CLERK,
        "--agent",
        agent,
        "--agent-name",
        "王五",
        "--scope",
        "apply,collect",
        "--grounds",
        "elderly",
        "--documents",
        "holder_id_original,holder_id_copy,agent_id_original,agent_id_copy,power_of_attorney",
    ]
    story("accepted", *authorize)
    story("noop", *authorize)
    story("refusal", *authorize[:-2], "--documents", "holder_id_original")

    report = [
        "loss",
        "report",
        *holder,
        *CLERK,
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        DOCS,
        "--request-id",
        "2b0c7f1e-2f0a-4d59-9a4c-6f7f9d0c1a11",
    ]
    reported = story("accepted", *report)[0]
    assert reported["status"] == "recorded"
    assert reported["replayed"] is False
    retried = story("noop", *report)[0]
    assert retried["replayed"] is True, "a retry must say it is one"
    assert {k: v for k, v in retried.items() if k != "replayed"} == {
        k: v for k, v in reported.items() if k != "replayed"
    }, "a retry answers the first result unchanged"
    story(
        "refusal",
        "loss",
        "report",
        *nobody,
        *CLERK,
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        DOCS,
    )
    certificate = str(reported["certificate"])
    assert "holder_id" in reported
    assert rid not in json.dumps(reported), "the holder_id is masked"
    _production_and_collection(story, people, tmp_path, certificate)


def _production_and_collection(
    story: Story, people: Holders, tmp_path: Path, certificate: str
) -> None:
    holder, other, nobody = people.holder, people.other, people.nobody
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
    story("accepted", *produce)
    story("noop", *produce)
    story(
        "refusal",
        "card",
        "produce",
        "--certificate",
        "110000-9999999999",
        "--new-card-number",
        card_number(),
        "--staff",
        "centre-01",
    )
    batch = tmp_path / "batch.csv"
    produced_at = datetime.now(BEIJING).isoformat(timespec="seconds")
    batch.write_text(
        f"certificate,new_card_number,produced_at\n{certificate},{new_card},{produced_at}\n",
        encoding="utf-8",
    )
    story("noop", "card", "produce", "--batch", str(batch), "--staff", "centre-01")

    collect = ["card", "collect", *holder, *PICKUP, "--certificate", certificate]
    story("refusal", "card", "collect", *holder, *PICKUP, "--certificate", "110000-9999999999")
    story("accepted", *collect)
    story("noop", *collect)
    activate = ["card", "activate", *holder, *PICKUP, "--card-number", new_card]
    story("refusal", "card", "activate", *holder, *PICKUP, "--card-number", card_number())
    story("accepted", *activate)
    story("noop", *activate)

    damaged = [
        "card",
        "replace-damaged",
        "--resident-id",
        other,
        *PICKUP,
        "--cause",
        "card_defect",
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        DOCS,
    ]
    story("accepted", *damaged)
    story("noop", *damaged)
    story(
        "refusal",
        "card",
        "replace-damaged",
        *nobody,
        *PICKUP,
        "--cause",
        "card_defect",
        "--collection-outlet",
        "BJ-HD-003",
        "--documents",
        DOCS,
    )


def _holders(story: Story, people: Holders) -> None:
    rid, holder, nobody = people.rid, people.holder, people.nobody
    shown = story("accepted", "holder", "show", *holder)[0]
    assert rid not in json.dumps(shown)
    story("noop", "holder", "show", *holder)
    story("refusal", "holder", "show", *nobody)
    history = story("accepted", "holder", "history", *holder)
    story("noop", "holder", "history", *holder)
    assert len(history) >= 6, "a history is one object per event"
    story("refusal", "holder", "history", *nobody)
    story(
        "accepted",
        "holder",
        "show",
        *holder,
        "--unmasked",
        "--staff",
        "auditor-01",
        "--reason",
        "audit",
    )
    story("refusal", "holder", "show", *holder, "--unmasked", "--staff", "clerk-01")


def _claims(story: Story, people: Holders) -> None:
    holder = people.holder
    claim_ids = []
    for invoice in ("0000000101", "0000000102", "0000000103", "0000000104"):
        submit = [
            "claims",
            "submit",
            *holder,
            "--hospital",
            "H11010500007",
            "--treatment-date",
            _today(),
            "--invoice",
            invoice,
            "--total",
            "5200.50",
            "--in-scope",
            "5000",
            "--self-paid",
            "200.50",
            "--documents",
            CLAIM_DOCS,
            *CLERK,
            *_request(f"submit-{invoice}"),
        ]
        submitted = story("accepted", *submit)[0]
        assert story("noop", *submit)[0] == {**submitted, "replayed": True}
        claim_ids.append(str(submitted["claim_id"]))
    story(
        "refusal",
        "claims",
        "submit",
        *holder,
        "--hospital",
        "H11010500007",
        "--treatment-date",
        _today(),
        "--invoice",
        "0000000101",
        "--total",
        "5200.50",
        "--in-scope",
        "500",
        "--self-paid",
        "200.50",
        "--documents",
        CLAIM_DOCS,
        *CLERK,
    )
    first, second, third, fourth = claim_ids
    officer = ["--officer", "officer-01"]
    approve = ["claims", "approve", "--claim", first, *officer, *_request("approve")]
    story("accepted", *approve)
    assert story("noop", *approve)[0]["replayed"] is True
    story("refusal", "claims", "approve", "--claim", "not-a-claim", *officer)
    pay = ["claims", "pay", "--claim", first, *officer, "--reference", "BANK-1", *_request("pay")]
    story("accepted", *pay)
    assert story("noop", *pay)[0]["replayed"] is True
    story("refusal", "claims", "pay", "--claim", second, *officer, "--reference", "BANK-1")
    reject = [
        "claims",
        "reject",
        "--claim",
        second,
        *officer,
        "--reason",
        "documents_illegible",
        "--explanation",
        "cannot be read",
        *_request("reject"),
    ]
    story("accepted", *reject)
    assert story("noop", *reject)[0]["replayed"] is True
    story(
        "refusal",
        "claims",
        "reject",
        "--claim",
        first,
        *officer,
        "--reason",
        "documents_illegible",
        "--explanation",
        "cannot be read",
    )
    withdraw = [
        *("claims", "withdraw", "--claim", third, *holder, "--channel", "online"),
        *_request("withdraw"),
    ]
    story("accepted", *withdraw)
    assert story("noop", *withdraw)[0]["replayed"] is True
    story("refusal", "claims", "withdraw", "--claim", first, *holder, "--channel", "online")
    shown_claim = story("accepted", "claims", "show", "--claim", first)[0]
    assert shown_claim["claim_id"] == first
    story("noop", "claims", "show", "--claim", fourth)
    story("refusal", "claims", "show", "--claim", "not-a-claim")


def _operations(story: Story, people: Holders, tmp_path: Path) -> None:
    holder, nobody = people.holder, people.nobody
    story("accepted", "tick")
    story("noop", "tick")
    story("refusal", "tick", "--at", "not-an-instant")
    later = (datetime.now(BEIJING) + timedelta(days=3650)).isoformat(timespec="seconds")
    story("refusal", "tick", "--at", later)
    story("accepted", "contracts", "export", str(tmp_path / "contracts"))
    story("noop", "contracts", "export", str(tmp_path / "contracts"))
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    story("refusal", "contracts", "export", str(tmp_path / "a-file"))

    story("accepted", "replay")
    story("noop", "replay", "claims")
    story("refusal", "replay", "no_such_view")
    # No relay runs here: --wait 1 compares after a second (a replayed view needs no consumer).
    story("accepted", "verify", "--wait", "1")
    story("noop", "verify", "claims", "--wait", "1")
    story("refusal", "verify", "no_such_view")

    listed = story("accepted", "claims", "list", *holder)
    story("noop", "claims", "list", "--status", "submitted", *nobody)
    story("refusal", "claims", "list", "--resident-id", "123")
    assert listed
    story("accepted", "outlet", "queue", "--outlet", "BJ-HD-003")
    story("noop", "outlet", "queue", "--outlet", "BJ-DC-001", "--status", "overdue")
    story("refusal", "outlet", "queue", "--outlet", "NOWHERE-1")
    story(
        "accepted",
        "analytics",
        "export",
        "--format",
        "csv",
        "--table",
        "outlet-months",
        "--output",
        str(tmp_path / "months.csv"),
    )
    story(
        "noop",
        "analytics",
        "export",
        "--format",
        "csv",
        "--table",
        "outlet-months",
        "--output",
        str(tmp_path / "months.csv"),
    )
    story(
        "refusal",
        "analytics",
        "export",
        "--format",
        "csv",
        "--table",
        "outlet-months",
        "--output",
        str(tmp_path / "no-dir" / "x.csv"),
    )

    story("accepted", "dead-letters", "list")
    story("noop", "dead-letters", "retry", "--view", "outlet_queue")
    story("accepted", "dead-letters", "retry")
    story("noop", "dead-letters", "list", "--view", "claims")
    story("refusal", "dead-letters", "list", "--view", "no_such_view")
    story("refusal", "dead-letters", "retry", "--view", "no_such_view")
    _park_one(tmp_path, key=b"a-stream", offset=42)
    story("accepted", "dead-letters", "discard", "--view", "outlet_queue", "--key", "a-stream")
    story("refusal", "dead-letters", "discard", "--view", "outlet_queue", "--key", "a-stream")
    _park_one(tmp_path, key=b"another-stream", offset=43)
    story("accepted", "dead-letters", "list", "--view", "outlet_queue")
    story("refusal", "dead-letters", "discard", "--view", "outlet_queue", "--partition", "0")

    story("accepted", "status")
    story("noop", "relay", "status")
    story("accepted", "relay", "status")
    story("noop", "status")
    story("refusal", "status", "--no-such-option")
    story("refusal", "relay", "status", "--no-such-option")


def _audit_and_erasure(story: Story, people: Holders) -> None:
    holder, nobody = people.holder, people.nobody
    story("accepted", "audit", "verify-chain")
    story("noop", "audit", "verify-chain")
    story("refusal", "audit", "verify-chain", "--anchor", "nonsense")
    story("accepted", "audit", "unmasked-reads")
    story("noop", "audit", "unmasked-reads", "--resident-id", people.other)
    story("refusal", "audit", "unmasked-reads", "--resident-id", "123")
    story("accepted", "db", "migrate")
    story("noop", "db", "migrate")
    story("refusal", "db", "migrate", "--no-such-option")

    erase = ["holder", "erase", *holder, "--staff", "auditor-01", "--reason", "holder_request"]
    story("accepted", *erase)
    story("noop", *erase)
    story(
        "refusal", "holder", "erase", *nobody, "--staff", "auditor-01", "--reason", "holder_request"
    )


def _tokens(story: Story, people: Holders) -> None:
    """A development token: the first makes the key pair, the next signs with it."""
    clerk = ["token", "issue", "--role", "outlet_clerk", "--outlet", "BJ-DC-001"]
    issued = story("accepted", *clerk)[0]
    again = story("noop", *clerk, "--subject", "clerk-01")[0]
    assert issued["key_id"] == again["key_id"], "the key pair is made once"
    holder = story("accepted", "token", "issue", "--role", "cardholder", "--holder", people.rid)
    assert people.rid not in json.dumps(holder), "the holder_id is masked"
    story("refusal", "token", "issue", "--role", "cardholder")
