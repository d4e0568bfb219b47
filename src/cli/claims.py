"""``sscard claims``: manual reimbursement of bills paid while a card was blocked.

Clerks and holders file claims; claims officers approve, reject and record payments. Money is typed
in yuan with at most two decimals and parsed exactly. This module parses, calls the application
layer (``application.claims``) and renders its result: text for people, or under ``--json`` the
result model itself, one object. Every rule lives in the domain; the store's packages are loaded
by the handlers, so that ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from application.claim_results import ClaimRecorded
from cli.arguments import add_request_id, choices
from cli.claim_output import CLAIM_STATUSES, claim_lines, print_listing, recorded_lines
from domain.claims.amounts import parse_yuan
from domain.claims.commands import (
    ApproveClaim,
    PayClaim,
    RejectClaim,
    SubmitClaim,
    WithdrawClaim,
)
from domain.claims.events import Bill, ClaimDocument, RejectionReason
from domain.errors import DomainError, InvalidInput
from domain.event import Actor, Channel, Role
from service.settings import Settings

if TYPE_CHECKING:
    from domain.application import CardOffice


def _yuan(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return parse_yuan(text, what)
        except DomainError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a date (YYYY-MM-DD)") from None


def _claim_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a claim id (as printed by claims submit)"
        ) from None


def _documents(text: str) -> frozenset[ClaimDocument]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    try:
        return frozenset(ClaimDocument(v) for v in values)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}: each value must be one of {', '.join(choices(ClaimDocument))}"
        ) from None


def _claim_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claim", required=True, type=_claim_id, help="the claim id printed by claims submit"
    )


def _officer_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--officer", required=True, help="the claims officer's staff id")


def _taker_args(parser: argparse.ArgumentParser, channels: list[str]) -> None:
    """Who takes the command: a clerk at an outlet, or the holder through a channel."""
    parser.add_argument("--outlet", help="outlet code, when a clerk takes it at the counter")
    parser.add_argument("--staff", help="the clerk's staff id (with --outlet)")
    parser.add_argument(
        "--channel",
        choices=channels,
        help="the holder acts through this channel (no outlet, no staff)",
    )


def _taker(args: argparse.Namespace, officer: str | None = None) -> Actor:
    """The actor from exactly one of: --staff (a clerk, with --outlet), --officer, --channel."""
    given = [bool(args.staff), bool(args.channel), bool(officer)]
    if sum(given) != 1:
        options = ["--outlet and --staff", "--channel"]
        if "officer" in args:
            options.insert(1, "--officer")
        raise InvalidInput(f"say who takes it, with one of: {', '.join(options)}")
    if officer:
        return Actor.staff(Role.CLAIMS_OFFICER, officer)
    if args.channel:
        return Actor(role=Role.CARDHOLDER, channel=Channel(args.channel))
    return Actor.staff(Role.OUTLET_CLERK, args.staff)


def add_commands(commands: Any) -> None:
    claims = commands.add_parser(
        "claims",
        help="reimbursement of medical bills paid while the card was blocked",
        description="File, decide, pay and look at reimbursement claims.",
    )
    actions = claims.add_subparsers(dest="claims_command", required=True, metavar="ACTION")

    submit = actions.add_parser(
        "submit",
        help="file a bill paid at a designated hospital while the holder's card was blocked",
        description="File a claim. Prints the claim id; the invoice is reserved for good.",
    )
    submit.add_argument("--resident-id", required=True, help="the holder's 18-character ID number")
    submit.add_argument(
        "--hospital", required=True, help="designated hospital code, e.g. H11010500007"
    )
    submit.add_argument(
        "--treatment-date", required=True, type=_day, help="YYYY-MM-DD, local date of treatment"
    )
    submit.add_argument("--invoice", required=True, help="the invoice number as printed")
    submit.add_argument(
        "--total", required=True, type=_yuan("total"), help="bill total in yuan, e.g. 5000.00"
    )
    submit.add_argument(
        "--in-scope",
        required=True,
        type=_yuan("in-scope amount"),
        help="the amount within policy scope (政策范围内), in yuan",
    )
    submit.add_argument(
        "--self-paid",
        type=_yuan("fully self-paid amount"),
        default=0,
        help="the fully self-paid part (全自费), in yuan; default 0",
    )
    submit.add_argument(
        "--documents",
        required=True,
        type=_documents,
        help=f"documents handed in, comma-separated: {', '.join(choices(ClaimDocument))}",
    )
    submit.add_argument(
        "--certificate",
        help="collection certificate number, when shown as the temporary medical voucher",
    )
    submit.add_argument("--officer", help="a claims officer files it (instead of a clerk)")
    _taker_args(submit, [Channel.ONLINE.value])
    add_request_id(submit)
    submit.set_defaults(handler=_submit, records=True)

    approve = actions.add_parser(
        "approve",
        help="approve a claim: compute the payable amount and consume deductible and cap",
        description="Approve a submitted claim; prints the computation line by line.",
    )
    _claim_arg(approve)
    _officer_arg(approve)
    add_request_id(approve)
    approve.set_defaults(handler=_approve, records=True)

    reject = actions.add_parser(
        "reject",
        help="turn a submitted claim down, with a reason code and an explanation",
        description="Reject a submitted claim: a reason code and what the holder is told.",
    )
    _claim_arg(reject)
    _officer_arg(reject)
    reject.add_argument(
        "--reason", required=True, choices=choices(RejectionReason), help="reason code"
    )
    reject.add_argument(
        "--explanation", required=True, help="what the holder is told (up to 500 characters)"
    )
    add_request_id(reject)
    reject.set_defaults(handler=_reject, records=True)

    pay = actions.add_parser(
        "pay",
        help="record the payment of an approved claim",
        description="Record that the fund paid an approved claim, with the payment reference.",
    )
    _claim_arg(pay)
    _officer_arg(pay)
    pay.add_argument("--reference", required=True, help="the payment's reference (bank, fund)")
    add_request_id(pay)
    pay.set_defaults(handler=_pay, records=True)

    withdraw = actions.add_parser(
        "withdraw",
        help="the holder takes a claim back before it is decided",
        description="Withdraw a claim not yet decided, for its holder (their own claim only).",
    )
    _claim_arg(withdraw)
    withdraw.add_argument(
        "--resident-id", required=True, help="the holder's ID number (their own claim only)"
    )
    withdraw.add_argument("--explanation", help="why, in the holder's words")
    _taker_args(withdraw, [Channel.ONLINE.value, Channel.HOTLINE_12333.value])
    add_request_id(withdraw)
    withdraw.set_defaults(handler=_withdraw, records=True)

    listing = actions.add_parser(
        "list",
        help="the claims queue from the claims view: status, age, amounts (no medical details)",
        description="List claims from the claims view, oldest filing first: status, age in "
        "days, payable and paid amounts. The view is kept by sscard run (or sscard replay "
        "claims); the medical details of one claim are in claims show. With --json: one "
        'object, {"status": "ok", "count": N, "claims": [...]}, each claim with the fields '
        "of claims show's queue columns.",
    )
    listing.add_argument("--status", choices=CLAIM_STATUSES, help="only claims of this status")
    listing.add_argument("--resident-id", help="only this holder's claims (18-character ID)")
    listing.set_defaults(handler=_list)

    show = actions.add_parser(
        "show",
        help="one claim from the store: status, bill, window, computation, steps (local time)",
        description="Show one claim as the store has it: status, bill, window, computation "
        "and steps, in the claim's region's local time. With --json: one object.",
    )
    _claim_arg(show)
    show.set_defaults(handler=_show)


def _record(
    args: argparse.Namespace,
    settings: Settings,
    use_case: Callable[[CardOffice], ClaimRecorded],
) -> int:
    """Run one claim use case and print what it recorded (a retry: what the first call did)."""
    from service.bootstrap import (
        open_back_office,  # the store's packages: loaded for a command only
    )

    with open_back_office(settings) as backoffice:
        result = use_case(backoffice.office)
    if args.json:
        print(result.json_line())
    else:
        for line in recorded_lines(result):
            print(line)
    return 0


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    command = SubmitClaim(
        request_id=args.request_id,
        resident_id=args.resident_id,
        actor=_taker(args, officer=args.officer),
        outlet=args.outlet,
        hospital_code=args.hospital,
        treatment_date=args.treatment_date,
        invoice_number=args.invoice,
        bill=Bill(
            total_fen=args.total,
            in_scope_fen=args.in_scope,
            fully_self_paid_fen=args.self_paid,
        ),
        documents=args.documents,
        collection_certificate=args.certificate,
    )
    from application.claims import submit_claim

    return _record(args, settings, lambda office: submit_claim(office, command))


def _approve(args: argparse.Namespace, settings: Settings) -> int:
    command = ApproveClaim(
        request_id=args.request_id,
        actor=Actor.staff(Role.CLAIMS_OFFICER, args.officer),
        claim_id=args.claim,
    )
    from application.claims import approve_claim

    return _record(args, settings, lambda office: approve_claim(office, command))


def _reject(args: argparse.Namespace, settings: Settings) -> int:
    command = RejectClaim(
        request_id=args.request_id,
        actor=Actor.staff(Role.CLAIMS_OFFICER, args.officer),
        claim_id=args.claim,
        reason=RejectionReason(args.reason),
        explanation=args.explanation,
    )
    from application.claims import reject_claim

    return _record(args, settings, lambda office: reject_claim(office, command))


def _pay(args: argparse.Namespace, settings: Settings) -> int:
    command = PayClaim(
        request_id=args.request_id,
        actor=Actor.staff(Role.CLAIMS_OFFICER, args.officer),
        claim_id=args.claim,
        payment_reference=args.reference,
    )
    from application.claims import pay_claim

    return _record(args, settings, lambda office: pay_claim(office, command))


def _withdraw(args: argparse.Namespace, settings: Settings) -> int:
    command = WithdrawClaim(
        request_id=args.request_id,
        actor=_taker(args),
        outlet=args.outlet,
        claim_id=args.claim,
        resident_id=args.resident_id,
        explanation=args.explanation,
    )
    from application.claims import withdraw_claim

    return _record(args, settings, lambda office: withdraw_claim(office, command))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from application.claims import ClaimsQuery, list_claims
    from service.bootstrap import open_back_office

    query = ClaimsQuery(status=args.status, resident_id=args.resident_id)
    with open_back_office(settings) as backoffice:
        listing = list_claims(backoffice.office, backoffice.views, query)
    if args.json:
        print(listing.json_line())
    else:
        print_listing(listing)
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from application.claims import show_claim
    from service.bootstrap import open_back_office

    with open_back_office(settings) as backoffice:
        claim = show_claim(backoffice.office, args.claim)
    if args.json:
        print(claim.json_line())
    else:
        for line in claim_lines(claim):
            print(line)
    return 0
