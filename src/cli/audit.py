"""``sscard audit verify-chain``, ``sscard audit unmasked-reads`` and ``sscard db migrate``: the
auditor's proof that the stored history is the written one, the list of full reads of personal
data, and the one-off upgrade of a store from before encryption."""

from __future__ import annotations

import argparse
import re
from typing import Any

from application.audit_results import ChainVerification, MigrationResult, UnmaskedReadsListing
from cli.claim_output import people
from cli.tables import print_table
from service.settings import Settings

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
        description="Check every stream's hash chain and the order of the whole log, and name "
        "the first altered, removed, inserted or reordered event. Exits 1 unless the history "
        "is intact. With --json: one object (status ok, intact true or false, the findings "
        "and the log head to note for a later --anchor).",
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
        description="List every recorded read of ID numbers and names in full, oldest first: "
        "when (local time), which auditor, which holder (masked), what and why. With --json: "
        'one object, {"status": "ok", "count": N, "reads": [...]}.',
    )
    reads.add_argument("--resident-id", help="only the reads of this holder's data")
    reads.set_defaults(handler=_unmasked_reads)

    db = commands.add_parser("db", help="maintenance of the event store")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "migrate",
        help="seal the personal fields of records from before encryption and link them into "
        "the hash chain (run once after upgrading, with the back office stopped)",
        description="Bring a store written by an older release up to date, in place: seal the "
        "personal fields of records from before encryption, key the request fingerprints and "
        "invoice reservations, link every record into the hash chain, then compact the store. "
        "Run it once after upgrading, with the back office stopped; a second run finds nothing "
        "to do. With --json: one object with the counts.",
    )
    upgrade.set_defaults(handler=_migrate)


def _unmasked_reads(args: argparse.Namespace, settings: Settings) -> int:
    from application.audit import UnmaskedReadsQuery, unmasked_reads
    from service.bootstrap import (
        open_back_office,  # the store's packages: loaded for a command only
    )

    query = UnmaskedReadsQuery(resident_id=args.resident_id)
    with open_back_office(settings) as backoffice:
        listing = unmasked_reads(backoffice.office, query)
    if args.json:
        print(listing.json_line())
    else:
        _print_reads(listing)
    return 0


def _print_reads(listing: UnmaskedReadsListing) -> None:
    print_table(
        ("read at", "by", "holder", "stream", "what", "reason", "reference"),
        (
            (
                people(read.read_at),
                read.actor.describe(),
                read.holder_id,
                read.holder_stream_id,
                read.scope,
                read.reason,
                read.reference,
            )
            for read in listing.reads
        ),
        what=("unmasked read", "unmasked reads"),
    )


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from application.audit import ChainAnchor, verify_chain
    from service.bootstrap import open_back_office

    anchor = None
    if args.anchor is not None:
        anchor = ChainAnchor(position=args.anchor[0], digest=args.anchor[1])
    with open_back_office(settings) as backoffice:
        verdict = verify_chain(backoffice, anchor)
    if args.json:
        print(verdict.json_line())
    else:
        for line in verification_lines(verdict):
            print(line)
    return 0 if verdict.intact else 1


def verification_lines(verdict: ChainVerification) -> list[str]:
    lines = [
        f"{verdict.records} records in {verdict.streams} streams checked; log audited up to "
        f"position {verdict.head_position or 0} ({verdict.added} newly)"
    ]
    lines += [f"BROKEN position {f.position}: {f.what}" for f in verdict.findings]
    if verdict.unlinked:
        lines.append(
            f"UNLINKED {verdict.unlinked} records were stored before the hash chain existed: "
            "run `sscard db migrate`"
        )
    anchor = verdict.anchor
    if anchor is not None and anchor.holds is not None:
        lines.append(
            f"anchor {anchor.position} holds"
            if anchor.holds
            else f"BROKEN anchor {anchor.position}: the log up to there is not what it was"
        )
    if not verdict.intact:
        return lines
    if verdict.head_position is not None:
        lines.append(
            f"intact; log head {verdict.head_position}:{verdict.head_digest} (note it to anchor "
            "later runs)"
        )
    else:
        lines.append("intact; the store is empty")
    return lines


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from application.audit import migrate_store
    from service.bootstrap import open_back_office

    with open_back_office(settings) as backoffice:
        result = migrate_store(backoffice)
    if args.json:
        print(result.json_line())
    else:
        print(migration_line(result))
    return 0


def migration_line(result: MigrationResult) -> str:
    if not result.migrated:
        return "nothing to migrate: every record is sealed, keyed and linked"
    return (
        f"migrated {result.streams} streams: {result.sealed} old records sealed, "
        f"{result.rekeyed} request fingerprints keyed, {result.moved} invoice reservations "
        f"moved to keyed ids, {result.relinked} records linked; the store was compacted and "
        "the log chain will be audited afresh"
    )
