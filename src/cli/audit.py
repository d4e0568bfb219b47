"""``sscard audit verify-chain`` and ``sscard db migrate``: the auditor's proof that the stored
history is the written one, and the one-off upgrade of a store from before encryption."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from cli.output import BEIJING, local
from domain.unmasked_reads import UnmaskedRead
from replay.verify_chain import anchor_digest, verify_chain
from service.bootstrap import open_back_office
from service.settings import Settings
from store.migrate import migrate

_ANCHOR = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


def _anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            "an anchor is POSITION:DIGEST, as printed by an earlier verify-chain"
        )
    return int(match.group(1)), match.group(2)


def add_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="prove the stored history unaltered")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify-chain",
        help="check every stream's hash chain and the order of the whole log; names the "
        "first altered, removed, inserted or reordered event (exit 1 if any)",
    )
    verify.add_argument(
        "--anchor",
        type=_anchor,
        help="POSITION:DIGEST noted from an earlier run: the log up to POSITION must be "
        "exactly what it was then",
    )
    verify.set_defaults(handler=_verify)

    reads = audit_commands.add_parser(
        "unmasked-reads",
        help="every recorded read of ID numbers and names in full: when, which auditor, which "
        "holder, what and why, oldest first",
    )
    reads.add_argument("--resident-id", help="only the reads of this holder's data")
    reads.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    reads.set_defaults(handler=_unmasked_reads)

    db = commands.add_parser("db", help="maintenance of the event store")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "migrate",
        help="seal the personal fields of records from before encryption and link them into "
        "the hash chain (run once after upgrading, with the back office stopped)",
    )
    upgrade.set_defaults(handler=_migrate)


def _unmasked_reads(args: argparse.Namespace, settings: Settings) -> int:
    with open_back_office(settings) as backoffice:
        office = backoffice.office
        holder_id = office.holder(args.resident_id).id if args.resident_id else None
        reads = office.unmasked_reads(holder_id)
    if args.json:  # JSON Lines, as holder history: one read per line
        for read in reads:
            print(json.dumps(_read_data(read), ensure_ascii=False))
        return 0
    for read in reads:
        reference = f", {read.reference}" if read.reference else ""
        print(
            f"{local(read.occurred_at, seconds=True)} {read.actor.describe()} read the "
            f"{read.scope.value} of holder {read.holder_id} ({read.reason.value}{reference})"
        )
    count = len(reads)
    print(f"{count} unmasked read{'' if count == 1 else 's'}")
    return 0


def _read_data(read: UnmaskedRead) -> dict[str, Any]:
    return {
        "read_at": read.occurred_at.astimezone(BEIJING).isoformat(),
        "actor": read.actor.model_dump(mode="json"),
        "holder_id": str(read.holder_id),
        "scope": read.scope.value,
        "reason": read.reason.value,
        "reference": read.reference,
    }


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    with open_back_office(settings) as backoffice:
        report = verify_chain(backoffice)
        anchored = None
        if args.anchor is not None and not report.findings:
            anchored = anchor_digest(backoffice.views, args.anchor[0])
    print(
        f"{report.records} records in {report.streams} streams checked; log audited up to "
        f"position {report.head[0] if report.head else 0} ({report.added} newly)"
    )
    for finding in report.findings:
        print(f"BROKEN {finding}")
    if report.unlinked:
        print(
            f"UNLINKED {report.unlinked} records were stored before the hash chain existed: "
            "run `sscard db migrate`"
        )
    if args.anchor is not None and not report.findings:
        position, digest = args.anchor
        if anchored != digest:
            print(f"BROKEN anchor {position}: the log up to there is not what it was")
            return 1
        print(f"anchor {position} holds")
    if not report.intact:
        return 1
    if report.head is not None:
        print(f"intact; log head {report.head[0]}:{report.head[1]} (note it to anchor later runs)")
    else:
        print("intact; the store is empty")
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    with open_back_office(settings) as backoffice:
        report = migrate(backoffice)
    if not report.streams:
        print("nothing to migrate: every record is sealed, keyed and linked")
        return 0
    print(
        f"migrated {report.streams} streams: {report.sealed} old records sealed, "
        f"{report.rekeyed} request fingerprints keyed, {report.moved} invoice reservations "
        f"moved to keyed ids, {report.relinked} records linked; the store was compacted and "
        "the log chain will be audited afresh"
    )
    return 0
