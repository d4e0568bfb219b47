"""Personal data as a clerk and an auditor meet it, through the real CLI and the real broker.

After ``sscard demo`` and a full replacement by proxy: no message on any topic and no byte of any
file in the data directory holds an ID number or a full name used, and every file is private.
Then an auditor erases a holder: the history shows the card's life with personal fields erased,
the chain still verifies, and the lapse schedule still rebuilds.
"""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from domain.cardholder.events import CardIssued, ProxyAuthorized
from projections.catalogue import VIEW_NAMES
from projections.lapse_schedule import LapseSchedule
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.settings import Settings
from tests.conftest import make_settings
from tests.e2e.test_cli import CLERK, Cli
from tests.kafka_support import read_topic
from tests.support import RESIDENT_ID_SHAPE, card_number, elderly_resident_id, resident_id
from tracking.envelopes import catch_up, prepare, reset

pytestmark = [pytest.mark.kafka]

AGENT_DOCS = "holder_id_original,holder_id_copy,agent_id_original,agent_id_copy,power_of_attorney"


def _replacement_by_proxy(cli: Cli, holder: str, agent: str) -> None:
    old, new = card_number(), card_number()
    cli.ok("card", "issue", "--resident-id", holder, "--name", "赵德明", "--region", "110000",
           "--card-number", old, *CLERK)  # fmt: skip
    cli.ok("loss", "pre-report", "--resident-id", holder, *CLERK)
    cli.ok("proxy", "authorize", "--resident-id", holder, *CLERK, "--agent", agent,
           "--agent-name", "赵小红", "--scope", "apply,collect", "--grounds", "elderly",
           "--documents", AGENT_DOCS, "--relationship", "daughter")  # fmt: skip
    reported = cli.ok("--json", "loss", "report", "--resident-id", holder, *CLERK,
                      "--agent", agent, "--collection-outlet", "BJ-HD-003",
                      "--documents", AGENT_DOCS)  # fmt: skip
    certificate = json.loads(reported)["certificate"]
    assert RESIDENT_ID_SHAPE.search(reported.encode()) is None, "--json shows masked numbers only"
    cli.ok("card", "produce", "--certificate", certificate, "--new-card-number", new,
           "--staff", "centre-01")  # fmt: skip
    cli.ok("card", "collect", "--resident-id", holder, "--outlet", "BJ-HD-003", "--staff",
           "clerk-01", "--certificate", certificate, "--agent", agent)  # fmt: skip
    cli.ok("card", "activate", "--resident-id", holder, "--outlet", "BJ-HD-003", "--staff",
           "clerk-01", "--card-number", new)  # fmt: skip


def test_no_topic_and_no_stored_byte_holds_an_id_number_or_a_name(
    tmp_path: Path, kafka_bootstrap: str
):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    cli = Cli(tmp_path)
    cli.env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SSCARD_TOPIC_PREFIX": prefix}
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    demo = cli.ok("demo")
    assert RESIDENT_ID_SHAPE.search(demo.encode()) is None
    holder, agent = elderly_resident_id(), resident_id()
    _replacement_by_proxy(cli, holder, agent)

    ensure_topics(settings)
    with open_back_office(settings) as backoffice:
        relay = relay_for(backoffice)
        try:
            relay.publish_pending()
        finally:
            relay.close()
        # Every ID number and name the store holds, read the only way there is: decrypted.
        used: set[str] = set()
        for positioned in backoffice.source.read(0, 10_000):
            event = positioned.event
            if isinstance(event, CardIssued):
                used |= {event.resident_id, event.holder_name}
            elif isinstance(event, ProxyAuthorized):
                used |= {event.agent_resident_id, event.agent_name}
    assert {holder, agent, "王秀英", "李建国", "陈思远", "赵德明", "赵小红"} <= used
    assert len([u for u in used if RESIDENT_ID_SHAPE.fullmatch(u.encode())]) >= 5

    _scan_topics_and_files(settings, kafka_bootstrap, used)
    _erase_and_audit(cli, settings, holder)


def _scan_topics_and_files(settings: Settings, kafka_bootstrap: str, used: set[str]) -> None:
    names = topics(settings)
    every_topic = (names.card_events, names.settlement, names.reimbursement_events)
    records = [r for topic in every_topic for r in read_topic(kafka_bootstrap, topic)]
    assert len(records) > 20
    for record in records:
        blobs = [record.key or b"", record.value, *(v for _, v in record.headers)]
        for blob in blobs:
            assert RESIDENT_ID_SHAPE.search(blob) is None, blob
            for person in used:
                assert person.encode() not in blob, (person, blob)

    data_dir = settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = [p for p in data_dir.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"sscard.sqlite", "views.sqlite"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        content = path.read_bytes()
        for person in used:
            assert person.encode() not in content, (person, path.name)


def _erase_and_audit(cli: Cli, settings: Settings, holder: str) -> None:
    """The auditor erases the holder: the card's life stays, the person is gone."""
    cli.ok("holder", "erase", "--resident-id", holder, "--staff", "auditor-01")
    history = cli.ok("holder", "history", "--resident-id", holder, "--unmasked", "--staff",
                     "auditor-01", "--reason", "audit")  # fmt: skip
    for person in (holder, "赵德明", "赵小红"):
        assert person not in history
    assert history.count("[erased]") >= 4
    for step in ("CardIssued", "LossFormallyReported", "CardProduced", "CardActivated"):
        assert step in history
    assert "@BJ-HD-003" in history
    assert "clerk-01" in history
    shown = json.loads(cli.ok("--json", "holder", "show", "--resident-id", holder))
    assert (shown["holder_id"], shown["card"]["status"]) == ("[erased]", "normal")
    verified = cli.ok("audit", "verify-chain")
    assert "intact" in verified
    with open_back_office(settings) as backoffice:
        schedule = LapseSchedule()
        prepare(backoffice.views, schedule)
        reset(backoffice.views, schedule)
        assert catch_up(backoffice.source, backoffice.views, schedule) > 0
    for view in VIEW_NAMES:  # every read model rebuilds over the erased records
        cli.ok("replay", view)
    queue = json.loads(
        cli.ok("--json", "outlet", "queue", "--outlet", "BJ-HD-003", "--status", "activated")
    )
    assert "[erased]" in json.dumps(queue, ensure_ascii=False)
    refused = cli.refused(1, "loss", "pre-report", "--resident-id", holder, *CLERK)
    assert "erased" in refused
    cli.env["SSCARD_ALLOW_UNMASKED"] = "false"
    forbidden = cli.refused(1, "holder", "history", "--resident-id", holder, "--unmasked",
                            "--staff", "auditor-01", "--reason", "audit")  # fmt: skip
    assert "SSCARD_ALLOW_UNMASKED" in forbidden


def test_an_unmasked_read_is_recorded_and_listed_for_auditors(tmp_path: Path):
    cli = Cli(tmp_path)
    holder = resident_id()
    cli.ok("card", "issue", "--resident-id", holder, "--name", "赵德明", "--region", "110000",
           "--card-number", card_number(), *CLERK)  # fmt: skip
    masked = cli.ok("holder", "show", "--resident-id", holder)
    assert holder not in masked
    assert cli.ok("audit", "unmasked-reads").strip() == "0 unmasked reads"
    # Without a reason, or by a staff id that is no staff id: bad input, nothing shown.
    cli.refused(2, "holder", "show", "--resident-id", holder, "--unmasked", "--staff", "a-1")
    unmasked = ["--unmasked", "--staff", "auditor-01", "--reason", "legal_order"]
    shown = cli.ok(
        "holder", "show", "--resident-id", holder, *unmasked, "--reference", "CASE-2026-7"
    )
    assert holder in shown
    cli.ok("holder", "history", "--resident-id", holder, "--unmasked", "--staff", "auditor-02",
           "--reason", "audit")  # fmt: skip
    reads = json.loads(cli.ok("--json", "audit", "unmasked-reads", "--resident-id", holder))
    assert (reads["status"], reads["count"]) == ("ok", 2)
    listed = reads["reads"]
    assert [(r["actor"]["staff_id"], r["scope"], r["reason"], r["reference"]) for r in listed] == [
        ("auditor-01", "state", "legal_order", "CASE-2026-7"),
        ("auditor-02", "history", "audit", None),
    ]
    assert all(r["read_at"].endswith("+08:00") for r in listed)
    assert {r["holder_id"] for r in listed} == {f"{holder[:6]}***********{holder[-1]}"}
    text = cli.ok("audit", "unmasked-reads")
    header, first, *_ = text.splitlines()
    assert header.split()[:4] == ["read", "at", "by", "holder"]
    assert "auditor:auditor-01" in first
    assert "legal_order" in first
    assert holder not in text
    assert text.strip().endswith("2 unmasked reads")
    # Where the configuration forbids it, the read is refused and nothing is recorded.
    cli.env["SSCARD_ALLOW_UNMASKED"] = "false"
    cli.refused(1, "holder", "show", "--resident-id", holder, "--unmasked", "--staff",
                "auditor-01", "--reason", "audit")  # fmt: skip
    assert cli.ok("audit", "unmasked-reads").strip().endswith("2 unmasked reads")
