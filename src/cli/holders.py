"""``sscard holder``: what auditors and clerks read about a holder, and the erasure.

Every read shows ID numbers and names masked (text and ``--json``), unless an auditor asks for
``--unmasked`` and the configuration allows it (``SSCARD_ALLOW_UNMASKED``). Times are local
(the holder's region) with their offset; the store keeps UTC.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from application import holders
from application.holders import UnmaskedRead
from cli.arguments import choices
from cli.cards import _holder_args, _request, _write_args, print_event_result
from cli.output import history_lines, holder_lines
from domain.cardholder.commands import EraseHolder
from domain.cardholder.events import ErasureReason
from domain.errors import InvalidInput
from domain.event import Actor, Role
from domain.unmasked_reads import UnmaskedReadReason
from domain.values import parse_instant

if TYPE_CHECKING:
    from service.settings import Settings


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
    show.set_defaults(handler=_show)

    history = holder_commands.add_parser(
        "history", help="every event of the holder, oldest first: local time, actor, outlet"
    )
    _holder_args(history)
    _unmasked_args(history)
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


def _unmasked_read(args: argparse.Namespace, settings: Settings) -> UnmaskedRead | None:
    """The auditor's request to read in full, or None for a masked read. Checked before the
    store is opened; the domain decides who may (``domain.unmasked_reads``)."""
    if not args.unmasked:
        if args.reason or args.reference:
            raise InvalidInput("--reason and --reference go with --unmasked")
        return None
    if not args.staff or not args.reason:
        raise InvalidInput("--unmasked needs --staff (the auditor's staff id) and --reason")
    read = UnmaskedRead(
        auditor=Actor.staff(Role.AUDITOR, args.staff),  # a malformed staff id is bad input
        reason=UnmaskedReadReason(args.reason),
        reference=args.reference,
    )
    holders.check_unmasked_read(read, settings.unmasked_reads_allowed)
    return read


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import (
        open_back_office,  # the store and its drivers: loaded for a command only
    )

    read = _unmasked_read(args, settings)
    with open_back_office(settings) as backoffice:
        result = holders.show_holder(
            backoffice.office,
            args.resident_id,
            as_of=args.as_of,
            read=read,
            allowed_here=settings.unmasked_reads_allowed,
        )
    if args.json:
        print(result.json_line())
    else:
        print("\n".join(holder_lines(result)))
    return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import open_back_office

    read = _unmasked_read(args, settings)
    with open_back_office(settings) as backoffice:
        result = holders.holder_history(
            backoffice.office,
            args.resident_id,
            read=read,
            allowed_here=settings.unmasked_reads_allowed,
        )
    # Under --json, JSON Lines: one event per line, oldest first.
    for line in result.json_lines() if args.json else history_lines(result):
        print(line)
    return 0


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import open_back_office

    command = EraseHolder(
        resident_id=args.resident_id,
        actor=Actor.staff(Role.AUDITOR, args.staff),
        reason=ErasureReason(args.reason),
        **_request(args),
    )
    with open_back_office(settings) as backoffice:
        result = holders.erase_holder(backoffice, command)
    print_event_result(args, result)
    return 0
