"""The attacker's view: a copy of ``sscard.sqlite`` and nothing else (no key, no sscard code).

Personal fields are sealed per holder, but a digest of personal content kept in the clear is an
oracle: the only unknown of a command is its resident ID number (region, birth date, 3-digit
sequence, computed check character), and the space of those is small. ``attack`` tries every ID
number of a small space that holds the true ones against every digest the file keeps (the request
records' fingerprints, the invoice streams' ids) with ``sqlite3``, ``hashlib``, ``json`` and
``uuid`` only. It finds them in a store written in the old, unkeyed form, and finds nothing in a
store written today or migrated by ``sscard db migrate``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from pydantic import BaseModel

from domain.cardholder.commands import HolderCommand
from domain.claims.commands import SubmitClaim
from domain.claims.events import InvoiceNumberReserved
from domain.claims.streams import invoice_stream_id, plain_invoice_stream_id
from domain.hospitals import HospitalRegistry
from domain.identifiers import compose_resident_id
from domain.requests import RequestIdReused, content_digest, request_stream_id
from replay.verify_chain import verify_chain
from samples.claims import BEIJING_HOSPITAL, approve, submit
from samples.stories import erase
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings
from store.erasure import MigrationNeeded, erase_holder
from store.keystore import RawRecord
from store.migrate import migrate
from store.persistence import mapper_of
from tests.conftest import make_settings
from tests.integration.test_upgrade import FACTS, FIXTURES
from tests.support import (
    AGENT_DOCS,
    Clock,
    authorize,
    cancel,
    issue,
    pre_report,
    pre_report_online,
    report,
)

pytestmark = pytest.mark.integration

# ---- the attacker: standard library only ----------------------------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_MARK = "@@ID@@"


def id_numbers(regions: Iterable[str], births: Iterable[date]) -> Iterator[str]:
    """Every valid ID number of these regions and birth dates: all 1000 sequences each."""
    for region in regions:
        for born in births:
            for sequence in range(1000):
                first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
                total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
                yield first17 + _CHECK[total % 11]


def _command_content(command: str, actor: Any, event: dict[str, Any]) -> dict[str, Any] | None:
    """The command's JSON less its ID number, rebuilt from the event it recorded (its other
    fields are stored in the clear); None for a command with a second unknown (a name, an
    agent's ID number)."""
    if command == "PreReportLoss":
        keys = ("channel", "identity_document", "outlet")
        return {"actor": actor} | {k: event[k] for k in keys}
    if command == "CancelPreReport":
        return {"actor": actor, "outlet": event["outlet"], "reason": event["reason"]}
    if command == "EraseHolder":
        return {"actor": actor, "reason": event["reason"]}
    if command == "ReportLossFormally" and event["applicant"] == "holder":
        keys = ("applicant", "collection_outlet", "fee_waiver", "outlet", "photo_provided")
        return (
            {"actor": actor, "agent_resident_id": None}
            | {k: event[k] for k in keys}
            | {"identity_documents": sorted(event["identity_documents"])}
        )
    return None


@dataclass
class Findings:
    resident_ids: set[str] = field(default_factory=set)
    invoices: set[tuple[str, str]] = field(default_factory=set)
    targets: int = 0  # digests the file offered
    hashes: int = 0  # digests computed
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.targets} digests attacked, {self.hashes:,} hashes in {self.seconds:.2f} s: "
            f"found {sorted(self.resident_ids)} and invoices {sorted(self.invoices)}"
        )


def attack(
    store: Path,
    regions: Iterable[str],
    births: Iterable[date],
    hospitals: Iterable[str] = (),
    invoice_numbers: Iterable[str] = (),
) -> Findings:
    started = time.perf_counter()
    found = Findings()
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = {
        (stream, version): (topic.rsplit(":", 1)[-1], json.loads(state))
        for stream, version, topic, state in conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events"
        )
    }
    conn.close()
    candidates = [(rid, rid.encode()) for rid in id_numbers(regions, births)]
    for (stream, _), (kind, state) in rows.items():
        if kind == "InvoiceNumberReserved":
            found.targets += 1
            for hospital in hospitals:
                for number in invoice_numbers:
                    found.hashes += 1
                    guess = uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:invoice:{hospital}:{number}")
                    if guess.hex == stream:
                        found.invoices.add((hospital, number))
        if kind != "RequestRecorded":
            continue
        found.targets += 1
        target = str(state["stream_id"] if "stream_id" in state else state["holder_id"])
        event = rows.get((uuid.UUID(target).hex, state["event_version"]))
        if event is None:
            continue
        content = _command_content(state["command_type"], state["actor"], event[1])
        if content is None:
            continue
        text = json.dumps(
            [state["command_type"], content | {"resident_id": _MARK}],
            sort_keys=True,
            ensure_ascii=False,
        )
        before, after = (part.encode() for part in text.split(_MARK))
        prefix = hashlib.sha256(before)
        for rid, raw in candidates:
            digest = prefix.copy()
            digest.update(raw + after)
            if digest.hexdigest() == state["fingerprint"]:
                found.resident_ids.add(rid)
        found.hashes += len(candidates)
    found.seconds = time.perf_counter() - started
    return found


# ---- a realistic history, through the back office ------------------------------------------

REGIONS = ("110105", "110108")
BIRTHS = (date(1952, 7, 14), date(1980, 5, 17), date(1990, 2, 28))
# Named in a proxy's fingerprint with their name: a second unknown this attack does not try.
ID_OF_THE_AGENT = compose_resident_id(REGIONS[0], BIRTHS[1], 2)


def _space_births() -> list[date]:
    """The birth dates of the holders, and the days around them (a small space holding them)."""
    return sorted({b + timedelta(days=d) for b in BIRTHS for d in (-1, 0, 1)})


@dataclass
class History:
    resident_ids: set[str]  # every holder's and agent's
    erased: str
    invoices: set[tuple[str, str]]
    commands: dict[str, BaseModel]  # by request id


def a_history(backoffice: BackOffice, clock: Clock) -> History:
    """Pre-reports at an outlet and online, a cancellation, a proxy authorized with an agent, a
    formal report by the holder and one by the agent, claims submitted and approved, and one
    holder erased; every command with a request id."""
    office = backoffice.office
    erased = compose_resident_id(REGIONS[0], BIRTHS[0], 381)
    agent = ID_OF_THE_AGENT
    other = compose_resident_id(REGIONS[1], BIRTHS[2], 777)
    commands: dict[str, BaseModel] = {}

    def run(method: Callable[[Any], Any], command: BaseModel) -> Any:
        request_id = f"req-{len(commands) + 1}"
        command = command.model_copy(update={"request_id": request_id})
        commands[request_id] = command
        clock.advance(hours=1)
        return method(command)

    run(office.issue_card, issue(erased))
    run(office.issue_card, issue(other))
    run(office.pre_report_loss, pre_report(erased))
    run(office.cancel_pre_report, cancel(erased))
    run(office.authorize_proxy, authorize(erased, agent))
    run(office.report_loss_formally, report(erased, agent=agent, documents=AGENT_DOCS))
    run(office.pre_report_loss, pre_report_online(other))
    run(office.report_loss_formally, report(other))
    today = clock.now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    invoices = {(BEIJING_HOSPITAL, "INV-00004321"), (BEIJING_HOSPITAL, "INV-00004322")}
    for n, (hospital, number) in enumerate(sorted(invoices)):
        claim = run(office.submit_claim, submit(other, today, invoice=number, hospital=hospital))
        if n == 0:
            run(office.approve_claim, approve(claim.originator_id))
    run(lambda c: erase_holder(backoffice, c), erase(erased))
    return History({erased, agent, other}, erased, invoices, commands)


def _attack(store: Path) -> Findings:
    hospitals = [h.code for h in HospitalRegistry.packaged().hospitals]
    numbers = [f"INV-{n:08d}" for n in range(4000, 5000)]
    return attack(store, REGIONS, _space_births(), hospitals, numbers)


def test_the_store_file_gives_no_id_number_back(tmp_path: Path):
    settings = make_settings(tmp_path)
    clock = Clock()
    with open_back_office(settings, clock=clock) as backoffice:
        history = a_history(backoffice, clock)
    found = _attack(settings.sqlite_path)
    print("\nattack on a store written today:", found.line())
    assert found.targets >= len(history.commands)
    assert found.resident_ids == set()
    assert found.invoices == set()


# ---- stores in the old, unkeyed form, and their migration ---------------------------------


def to_old_form(backoffice: BackOffice, history: History) -> set[bytes]:
    """Write the history's request records and invoice reservations as the release before keyed
    digests did (RequestRecorded version 2 with the plain digest; InvoiceNumberReserved version
    1 on the plain uuid5 stream, its fields sealed for that id). Returns the old digests (as
    they appear in the file: fingerprints in hex, stream ids as SQLite keeps them)."""
    table = backoffice.personal_data.table
    mapper = mapper_of(backoffice.office)
    keys = backoffice.office.digest_keys
    old: set[bytes] = set()
    for request_id, command in history.commands.items():
        record = table.record(request_stream_id(request_id), 1)
        assert record is not None
        state = orjson.loads(record.state)
        state["fingerprint"] = content_digest(command)
        state["schema_version"] = 2
        del state["fingerprint_form"]
        table.rewrite([RawRecord(0, record.stream_id, 1, record.topic, orjson.dumps(state))])
        old.add(state["fingerprint"].encode())
    for hospital, number in history.invoices:
        keyed = invoice_stream_id(hospital, number, keys.invoice_streams)
        plain = plain_invoice_stream_id(hospital, number)
        record = table.record(keyed, 1)
        assert record is not None
        stored = StoredEvent(
            originator_id=keyed, originator_version=1, topic=record.topic, state=record.state
        )
        state, erased = mapper.opened_state(InvoiceNumberReserved, stored)
        assert not erased
        mapper.seal(InvoiceNumberReserved, state, plain, 1)
        state["schema_version"] = 1
        state["_chain"] = ""
        table.move(keyed, [RawRecord(0, plain, 1, record.topic, orjson.dumps(state))])
        old.add(plain.hex.encode())
    return old


def _file_bytes(settings: Settings) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("sscard.sqlite*")))


def _retries_are_answered(backoffice: BackOffice, history: History) -> None:
    """Every request id still answers its first result, and refuses other content."""
    office = backoffice.office
    before = office.recorder.max_notification_id()
    for request_id, command in history.commands.items():
        if isinstance(command, SubmitClaim):
            assert office.submit_claim(command).invoice_number == command.invoice_number
            other: BaseModel = command.model_copy(update={"invoice_number": "INV-09999999"})
            with pytest.raises(RequestIdReused):
                office.submit_claim(cast(SubmitClaim, other))
        elif isinstance(command, HolderCommand) and command.resident_id != history.erased:
            assert office.execute(command).status == "repeated", request_id
    assert office.recorder.max_notification_id() == before


def test_a_store_in_the_old_form_gives_ids_back_until_it_is_migrated(tmp_path: Path):
    settings = make_settings(tmp_path)
    clock = Clock()
    with open_back_office(settings, clock=clock) as backoffice:
        history = a_history(backoffice, clock)
        old = to_old_form(backoffice, history)
    store = settings.sqlite_path
    found = _attack(store)
    print("\nattack on the old form:", found.line())
    assert found.resident_ids == history.resident_ids - {ID_OF_THE_AGENT}
    assert history.erased in found.resident_ids  # erasure did not hide it
    assert found.invoices == history.invoices

    with open_back_office(settings, clock=clock) as backoffice:
        _retries_are_answered(backoffice, history)  # old records compare as they are
        holder = next(iter(history.resident_ids - {history.erased, ID_OF_THE_AGENT}))
        with pytest.raises(MigrationNeeded):  # the old digests would outlive the key
            erase_holder(backoffice, erase(holder))
        report = migrate(backoffice)
        assert report.rekeyed == len(history.commands)
        assert report.moved == len(history.invoices)
        assert migrate(backoffice).streams == 0
        # While the store is open, its WAL too.
        assert [digest for digest in old if digest in _file_bytes(settings)] == []
    found = _attack(store)
    print("attack after `db migrate`:", found.line())
    assert (found.resident_ids, found.invoices) == (set(), set())
    data = _file_bytes(settings)
    assert [digest for digest in old if digest in data] == []
    with open_back_office(settings, clock=clock) as backoffice:
        _retries_are_answered(backoffice, history)
        for hospital, number in history.invoices:
            reservation = backoffice.office.invoice_reservation(hospital, number)
            assert reservation is not None
            assert reservation.invoice_number == number
        chain = verify_chain(backoffice)
        assert chain.intact, chain.findings


def test_the_release_before_encryption_gives_ids_back_until_migrated(tmp_path: Path):
    """The fixture written by that release (``test_upgrade``): version 1 request records and
    invoice reservations on plain stream ids."""
    settings = make_settings(tmp_path, holder_id_key=FACTS["holder_id_key"])
    settings.data_dir.mkdir(parents=True)
    conn = sqlite3.connect(settings.sqlite_path)
    conn.executescript((FIXTURES / "store_v1.sql").read_text(encoding="utf-8"))
    conn.close()
    digests = _old_digests(settings.sqlite_path)
    space = {"regions": ["110105"], "births": [date(1980, 5, 17)]}
    invoices = {"hospitals": [BEIJING_HOSPITAL], "invoice_numbers": ["INV-00000001"]}
    found = attack(settings.sqlite_path, **space, **invoices)
    print("\nattack on the fixture:", found.line())
    assert found.resident_ids
    assert found.invoices
    with open_back_office(settings) as backoffice:
        migrate(backoffice)
    found = attack(settings.sqlite_path, **space, **invoices)
    print("attack after `db migrate`:", found.line())
    assert (found.resident_ids, found.invoices) == (set(), set())
    data = _file_bytes(settings)
    assert [digest for digest in digests if digest in data] == []


def _old_digests(store: Path) -> set[bytes]:
    conn = sqlite3.connect(store)
    found: set[bytes] = set()
    for stream, topic, state in conn.execute(
        "SELECT originator_id, topic, state FROM stored_events"
    ):
        if topic.endswith("RequestRecorded"):
            found.add(json.loads(state)["fingerprint"].encode())
        if topic.endswith("InvoiceNumberReserved"):
            found.add(stream.encode())
    conn.close()
    assert found
    return found


def test_retries_answer_alike_before_and_after_the_migration(settings: Settings, clock: Clock):
    """On each backend: old-form records are compared as they are, then re-keyed in place."""
    with open_back_office(settings, clock=clock) as backoffice:
        history = a_history(backoffice, clock)
        to_old_form(backoffice, history)
    with open_back_office(settings, clock=clock) as backoffice:
        _retries_are_answered(backoffice, history)
        assert backoffice.personal_data.table.has_plain_digests()  # an erasure waits
        report = migrate(backoffice)
        assert (report.rekeyed, report.moved) == (len(history.commands), len(history.invoices))
    with open_back_office(settings, clock=clock) as backoffice:
        _retries_are_answered(backoffice, history)
        assert not backoffice.personal_data.table.has_plain_digests()
        assert verify_chain(backoffice).intact
