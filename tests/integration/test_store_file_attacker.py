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
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from domain.hospitals import HospitalRegistry
from domain.identifiers import compose_resident_id
from samples.claims import BEIJING_HOSPITAL, approve, submit
from samples.stories import erase
from service.bootstrap import BackOffice, build
from service.erasure import erase_holder
from tests.conftest import make_settings
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
    agent = compose_resident_id(REGIONS[0], BIRTHS[1], 2)
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
    with build(settings, clock=clock) as backoffice:
        history = a_history(backoffice, clock)
    found = _attack(settings.sqlite_path)
    print("\nattack on a store written today:", found.line())
    assert found.targets >= len(history.commands)
    assert found.resident_ids == set()
    assert found.invoices == set()
