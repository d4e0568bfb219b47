"""``sscard holder``: what auditors and clerks read about a holder, and the erasure.

Every read shows ID numbers and names masked (text and ``--json``), unless an auditor asks for
``--unmasked`` and the configuration allows it (``SSCARD_ALLOW_UNMASKED``). Times are local
(the holder's region) with their offset; the store keeps UTC.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from cli.arguments import choices
from cli.cards import _holder_args, _output_args, _request, _write_args
from cli.output import (
    event_json,
    event_line,
    holder_data,
    holder_summary,
    local,
    outcome_json,
    outcome_line,
)
from domain.application import CardOffice
from domain.cardholder.commands import EraseHolder
from domain.cardholder.events import ErasureReason
from domain.errors import InvalidInput
from domain.event import Actor, Role
from domain.unmasked_reads import (
    UnmaskedReadReason,
    UnmaskedScope,
    may_read_unmasked,
)
from domain.values import parse_instant
from service.bootstrap import open_back_office
from service.settings import Settings
from store.erasure import erase_holder


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text, "--as-of")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _unmasked_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unmasked",
        action="store_true",
        help="auditors: show full ID numbers and names, for a stated reason; the read is "
        "recorded in the store (refused when SSCARD_ALLOW_UNMASKED forbids it)",
    )
    parser.add_argument("--staff", help="the auditor's staff id (with --unmasked)")
    parser.add_argument(
        "--reason",
        choices=choices(UnmaskedReadReason),
        help="why the data is read in full (with --unmasked)",
    )
    parser.add_argument(
        "--reference", help="the case or file number the auditor works under (with --unmasked)"
    )


def add_commands(commands: Any) -> None:
    holder = commands.add_parser("holder", help="look at a holder's state and history; erase")
    holder_commands = holder.add_subparsers(dest="holder_command", required=True, metavar="ACTION")

    show = holder_commands.add_parser("show", help="current card, case, proxies, suspensions")
    _holder_args(show)
    show.add_argument(
        "--as-of",
        type=_instant,
        help="ISO-8601 instant with its offset: the holder's state as it was then",
    )
    _unmasked_args(show)
    _output_args(show)
    show.set_defaults(handler=_show)

    history = holder_commands.add_parser(
        "history", help="every event of the holder, oldest first: local time, actor, outlet"
    )
    _holder_args(history)
    _unmasked_args(history)
    _output_args(history)
    history.set_defaults(handler=_history)

    erase = holder_commands.add_parser(
        "erase",
        help="auditors: erase the holder's personal data for good (crypto-shredding); the "
        "card history stays",
    )
    _holder_args(erase)
    erase.add_argument("--staff", required=True, help="the auditor's staff id")
    erase.add_argument(
        "--reason",
        choices=choices(ErasureReason),
        default=ErasureReason.HOLDER_REQUEST,
        help="why the data is erased",
    )
    _write_args(erase)
    erase.set_defaults(handler=_erase, records=True)


def _unmasked_reader(args: argparse.Namespace, settings: Settings) -> Actor | None:
    """The auditor asking for full ID numbers, or None for a masked read. Checked before the
    store is opened; the domain decides who may (``domain.unmasked_reads``)."""
    if not args.unmasked:
        if args.reason or args.reference:
            raise InvalidInput("--reason and --reference go with --unmasked")
        return None
    if not args.staff or not args.reason:
        raise InvalidInput("--unmasked needs --staff (the auditor's staff id) and --reason")
    auditor = Actor.staff(Role.AUDITOR, args.staff)  # a malformed staff id is bad input
    may_read_unmasked(auditor, settings.unmasked_reads_allowed)
    return auditor


def _record_read(
    office: CardOffice,
    auditor: Actor | None,
    holder_id: UUID,
    scope: UnmaskedScope,
    args: argparse.Namespace,
    settings: Settings,
) -> bool:
    """Record an unmasked read before anything is shown (no record, no read)."""
    if auditor is None:
        return False
    office.record_unmasked_read(
        holder_id,
        auditor,
        scope,
        UnmaskedReadReason(args.reason),
        args.reference,
        settings.unmasked_reads_allowed,
    )
    return True


def _show(args: argparse.Namespace, settings: Settings) -> int:
    auditor = _unmasked_reader(args, settings)
    with open_back_office(settings) as backoffice:
        office = backoffice.office
        holder = office.holder(args.resident_id)
        zone = office.policies.policy_for(holder.region_code).zone
        if args.as_of is not None:
            versions = [e for e in office.history(args.resident_id) if e.occurred_at <= args.as_of]
            if not versions:
                print(f"the holder had no record yet on {local(args.as_of, zone, seconds=True)}")
                return 1
            holder = office.holder_by_id(holder.id, versions[-1].originator_version)
        unmasked = _record_read(office, auditor, holder.id, UnmaskedScope.STATE, args, settings)
        if args.json:
            print(json.dumps(holder_data(holder, unmasked), ensure_ascii=False))
            return 0
        if args.as_of is not None:
            print(f"as of     {local(args.as_of, zone, seconds=True)} (version {holder.version})")
        for line in holder_summary(holder, zone, unmasked):
            print(line)
        return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    auditor = _unmasked_reader(args, settings)
    with open_back_office(settings) as backoffice:
        office = backoffice.office
        events = office.history(args.resident_id)
        holder_id = events[0].originator_id
        unmasked = _record_read(office, auditor, holder_id, UnmaskedScope.HISTORY, args, settings)
        if args.json:  # JSON Lines: one event per line, oldest first
            for event in events:
                print(event_json(event, unmasked))
            return 0
        zone = office.zone_of(events[0].originator_id)
        for event in events:
            print(event_line(event, zone, unmasked))
        return 0


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    command = EraseHolder(
        resident_id=args.resident_id,
        actor=Actor.staff(Role.AUDITOR, args.staff),
        reason=ErasureReason(args.reason),
        **_request(args),
    )
    with open_back_office(settings) as backoffice:
        outcome = erase_holder(backoffice, command)
        zone = backoffice.office.zone_of(outcome.event.originator_id) if outcome.event else None
    if args.json:
        print(outcome_json(outcome))
    elif zone is not None:
        print(outcome_line(outcome, zone))
    else:
        print(outcome_line(outcome))
    return 0
