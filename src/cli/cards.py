"""The card lifecycle commands of ``sscard``: what outlet clerks and the production centre type."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from application import cards
from application.card_results import BatchResult, BatchRowResult, EventResult
from application.cards import PreReportRequest
from application.results import plural
from cli.arguments import add_request_id, choices
from cli.output import card_owner_line, event_result_line
from cli.progress import Progress, wanted
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    IssueCard,
    RecordCollection,
    RecordProduction,
    ReplaceDamagedCard,
    ReportLossFormally,
)
from domain.cardholder.events import (
    Applicant,
    CardKind,
    DamageCause,
    FeeWaiver,
    IdentityDocument,
    IssueSource,
    PreReportCancelReason,
    ProxyScope,
)
from domain.errors import InvalidInput
from domain.event import Actor, Channel, Role
from domain.region_policy import ProxyDocument, ProxyGrounds
from domain.values import parse_date, quote

if TYPE_CHECKING:
    from domain.application import CardOffice
    from service.settings import Settings

Input = TypeVar("Input")


def _csv(enum: Any) -> Any:
    """An argparse type for comma-separated enum values, with the valid values in the error."""

    def parse(text: str) -> frozenset[Any]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        try:
            return frozenset(enum(v) for v in values)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{quote(text)}: each value must be one of {', '.join(choices(enum))}"
            ) from None

    return parse


def _date(text: str) -> Any:
    """An argparse type: a refused value is argparse's one-line error, never a traceback."""
    try:
        return parse_date(text, "date")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _write_args(parser: argparse.ArgumentParser) -> None:
    add_request_id(parser)


def _holder_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resident-id", required=True, help="the holder's 18-character ID number")


def _clerk_args(parser: argparse.ArgumentParser, outlet_help: str = "outlet code") -> None:
    parser.add_argument("--outlet", required=True, help=outlet_help)
    parser.add_argument("--staff", required=True, help="the clerk's staff id")


def _clerk(args: argparse.Namespace) -> Actor:
    return Actor.staff(Role.OUTLET_CLERK, args.staff)


def _record(
    args: argparse.Namespace,
    settings: Settings,
    use_case: Callable[[CardOffice, Input], EventResult],
    command: Input,
) -> int:
    """Run one use case against the card office and print what it did."""
    from service.bootstrap import (
        open_back_office,  # the store and its drivers: loaded for a command only
    )

    with open_back_office(settings) as backoffice:
        result = use_case(backoffice.office, command)
    print_event_result(args, result)
    return 0


def print_event_result(args: argparse.Namespace, result: EventResult) -> None:
    print(result.json_line() if args.json else event_result_line(result))


def _request(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id} if args.request_id is not None else {}


def add_commands(commands: Any) -> None:
    _add_card_commands(commands)
    _add_loss_commands(commands)
    _add_proxy_commands(commands)


def _add_card_commands(commands: Any) -> None:
    card = commands.add_parser("card", help="issue, produce, collect and activate cards")
    card_commands = card.add_subparsers(dest="card_command", required=True, metavar="ACTION")

    issue = card_commands.add_parser("issue", help="register a holder with their current card")
    _holder_args(issue)
    issue.add_argument("--name", required=True, help="the holder's name")
    issue.add_argument("--region", required=True, help="6-digit region code of the issuing office")
    issue.add_argument("--card-number", required=True, help="9-character card number")
    issue.add_argument(
        "--kind",
        choices=choices(CardKind),
        default=CardKind.SOCIAL_SECURITY_CARD,
        help="card kind (medical_insurance_ic: an old IC card, converted on replacement)",
    )
    issue.add_argument(
        "--issued-on", type=_date, default=None, help="YYYY-MM-DD (default: today, local time)"
    )
    issue.add_argument("--imported", action="store_true", help="taken over from a legacy system")
    issue.add_argument("--outlet", help="issuing outlet (absent for imports)")
    issue.add_argument("--staff", help="clerk's staff id (absent: the system imports)")
    _write_args(issue)
    issue.set_defaults(handler=_issue, records=True)

    produce = card_commands.add_parser(
        "produce",
        help="production centre: the new card for a certificate is made and dispatched "
        "(one card, or a batch file)",
    )
    produce.add_argument("--certificate", help="collection certificate number (one card)")
    produce.add_argument("--new-card-number", help="the new card's 9-character number (one card)")
    produce.add_argument(
        "--batch",
        type=Path,
        metavar="FILE.csv",
        help="a production batch (制卡批次): CSV with the header certificate,new_card_number,"
        "produced_at; one result line per row",
    )
    produce.add_argument("--batch-id", help="the production batch's id, recorded on each card")
    produce.add_argument(
        "--progress",
        action="store_true",
        help="progress on stderr also when it is not a terminal: a plain line every 10 s and "
        "the last count (a terminal always shows it, redrawn in place)",
    )
    produce.add_argument("--staff", required=True, help="production centre staff id")
    _write_args(produce)
    produce.set_defaults(handler=_produce, records=True)

    collect = card_commands.add_parser("collect", help="hand the new card over at the outlet")
    _holder_args(collect)
    _clerk_args(collect)
    collect.add_argument("--certificate", required=True, help="collection certificate number")
    collect.add_argument("--agent", help="the collecting agent's ID number (absent: the holder)")
    collect.add_argument(
        "--document",
        choices=choices(IdentityDocument),
        default=IdentityDocument.RESIDENT_ID_CARD,
        help="identity document shown by the collector",
    )
    _write_args(collect)
    collect.set_defaults(handler=_collect, records=True)

    activate = card_commands.add_parser("activate", help="activate a collected (sealed) card")
    _holder_args(activate)
    _clerk_args(activate)
    activate.add_argument("--card-number", required=True, help="the collected card's number")
    _write_args(activate)
    activate.set_defaults(handler=_activate, records=True)

    _add_replace_damaged(card_commands)

    whose = card_commands.add_parser("whose", help="which holder a card number belongs to")
    whose.add_argument("--card-number", required=True, help="the card's 9-character number")
    whose.set_defaults(handler=_whose)


def _add_replace_damaged(card_commands: Any) -> None:
    damaged = card_commands.add_parser(
        "replace-damaged",
        help="损坏换卡: the holder surrenders a damaged card and applies for a new one",
    )
    _holder_args(damaged)
    _clerk_args(damaged)
    damaged.add_argument(
        "--cause",
        required=True,
        choices=choices(DamageCause),
        help="why the card failed: wear_or_accident (fee due), card_defect or "
        "data_error_not_by_holder (fee waived)",
    )
    damaged.add_argument(
        "--collection-outlet", required=True, help="where the new card is collected"
    )
    damaged.add_argument("--agent", help="the applying agent's ID number (absent: the holder)")
    damaged.add_argument(
        "--documents",
        required=True,
        type=_csv(ProxyDocument),
        help=f"documents checked, comma-separated: {', '.join(choices(ProxyDocument))}",
    )
    damaged.add_argument(
        "--photo", action="store_true", help="one-inch colour photo provided (IC card conversion)"
    )
    _write_args(damaged)
    damaged.set_defaults(handler=_replace_damaged, records=True)


def _add_loss_commands(commands: Any) -> None:
    loss = commands.add_parser("loss", help="pre-report, cancel and formally report a lost card")
    loss_commands = loss.add_subparsers(dest="loss_command", required=True, metavar="ACTION")

    pre = loss_commands.add_parser("pre-report", help="预挂失: stop settlement on the card at once")
    _holder_args(pre)
    pre.add_argument(
        "--channel",
        choices=choices(Channel),
        default=Channel.OUTLET,
        help="where the holder reports (hotline/online: no outlet, no staff)",
    )
    pre.add_argument("--outlet", help="outlet code (channel outlet)")
    pre.add_argument("--staff", help="clerk's staff id (channel outlet)")
    pre.add_argument(
        "--document",
        choices=choices(IdentityDocument),
        help="identity document shown (default: resident_id_card at an outlet, "
        "else online_identity)",
    )
    _write_args(pre)
    pre.set_defaults(handler=_pre_report, records=True)

    cancel = loss_commands.add_parser("cancel", help="解挂: the card was found; resume settlement")
    _holder_args(cancel)
    _clerk_args(cancel)
    cancel.add_argument(
        "--reason",
        choices=choices(PreReportCancelReason),
        default=PreReportCancelReason.CARD_FOUND,
        help="why the pre-report is cancelled",
    )
    _write_args(cancel)
    cancel.set_defaults(handler=_cancel, records=True)

    report = loss_commands.add_parser(
        "report", help="正式挂失 and apply for a replacement; issues the collection certificate"
    )
    _holder_args(report)
    _clerk_args(report)
    report.add_argument(
        "--collection-outlet", required=True, help="where the new card is collected"
    )
    report.add_argument("--agent", help="the applying agent's ID number (absent: the holder)")
    report.add_argument(
        "--documents",
        required=True,
        type=_csv(ProxyDocument),
        help=f"documents checked, comma-separated: {', '.join(choices(ProxyDocument))}",
    )
    report.add_argument(
        "--fee-waiver",
        choices=choices(FeeWaiver),
        help="waive the replacement fee (defect or data error not caused by the holder)",
    )
    report.add_argument(
        "--photo", action="store_true", help="one-inch colour photo provided (IC card conversion)"
    )
    _write_args(report)
    report.set_defaults(handler=_report, records=True)


def _add_proxy_commands(commands: Any) -> None:
    proxy = commands.add_parser("proxy", help="record the holder's authorization of an agent")
    proxy_commands = proxy.add_subparsers(dest="proxy_command", required=True, metavar="ACTION")
    authorize = proxy_commands.add_parser("authorize", help="委托代办: entrust an agent")
    _holder_args(authorize)
    _clerk_args(authorize)
    authorize.add_argument("--agent", required=True, help="the agent's ID number")
    authorize.add_argument("--agent-name", required=True, help="the agent's name")
    authorize.add_argument(
        "--scope", required=True, type=_csv(ProxyScope), help="apply, collect or apply,collect"
    )
    authorize.add_argument(
        "--grounds",
        choices=choices(ProxyGrounds),
        default=ProxyGrounds.OTHER,
        help="why the holder sends an agent (some regions accept only elderly/limited_mobility)",
    )
    authorize.add_argument(
        "--documents",
        required=True,
        type=_csv(ProxyDocument),
        help=f"documents presented, comma-separated: {', '.join(choices(ProxyDocument))}",
    )
    authorize.add_argument("--relationship", help="the agent's relationship to the holder")
    _write_args(authorize)
    authorize.set_defaults(handler=_authorize, records=True)


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    if args.imported == bool(args.staff):
        raise InvalidInput("give --staff for a card issued at an outlet, or --imported without it")
    actor = Actor.system() if args.imported else _clerk(args)
    command = IssueCard(
        resident_id=args.resident_id,
        actor=actor,
        holder_name=args.name,
        region_code=args.region,
        card_number=args.card_number,
        card_kind=CardKind(args.kind),
        issued_on=args.issued_on,
        source=IssueSource.IMPORTED if args.imported else IssueSource.ISSUED,
        outlet=args.outlet,
        **_request(args),
    )
    return _record(args, settings, cards.issue_card, command)


def _pre_report(args: argparse.Namespace, settings: Settings) -> int:
    request = PreReportRequest(
        resident_id=args.resident_id,
        channel=Channel(args.channel),
        outlet=args.outlet,
        staff_id=args.staff,
        identity_document=IdentityDocument(args.document) if args.document else None,
        **_request(args),
    )
    return _record(args, settings, cards.pre_report_loss, request)


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    command = CancelPreReport(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        reason=PreReportCancelReason(args.reason),
        **_request(args),
    )
    return _record(args, settings, cards.cancel_pre_report, command)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    command = ReportLossFormally(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        applicant=Applicant.AGENT if args.agent else Applicant.HOLDER,
        agent_resident_id=args.agent,
        identity_documents=args.documents,
        collection_outlet=args.collection_outlet,
        fee_waiver=FeeWaiver(args.fee_waiver) if args.fee_waiver else None,
        photo_provided=args.photo,
        **_request(args),
    )
    return _record(args, settings, cards.report_loss_formally, command)


def _authorize(args: argparse.Namespace, settings: Settings) -> int:
    command = AuthorizeProxy(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        agent_resident_id=args.agent,
        agent_name=args.agent_name,
        scope=args.scope,
        grounds=ProxyGrounds(args.grounds),
        documents=args.documents,
        relationship=args.relationship,
        **_request(args),
    )
    return _record(args, settings, cards.authorize_proxy, command)


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    actor = Actor.staff(Role.PRODUCTION_CENTRE, args.staff)
    if args.batch is not None:
        if args.certificate or args.new_card_number or args.request_id:
            raise InvalidInput(
                "--batch takes its cards from the file: no --certificate, --new-card-number "
                "or --request-id with it"
            )
        return _produce_batch(args, settings, actor)
    if not (args.certificate and args.new_card_number):
        raise InvalidInput("give --certificate and --new-card-number, or --batch FILE.csv")
    command = RecordProduction(
        actor=actor,
        certificate_number=args.certificate,
        new_card_number=args.new_card_number,
        batch_id=args.batch_id,
        **_request(args),
    )
    return _record(args, settings, cards.record_production, command)


def _produce_batch(args: argparse.Namespace, settings: Settings, actor: Actor) -> int:
    """A batch file: the whole file is read (and refused as bad input) before any row is
    recorded; in text one line per row as it is done, under ``--json`` one object at the end."""
    from application.production_batch import read_batch, record_batch
    from service.bootstrap import open_back_office
    from service.metrics import count_refusal

    rows = read_batch(args.batch)
    progress = Progress("rows", wanted(args.progress))

    def row_done(row: BatchRowResult, done: int, total: int) -> None:
        if not args.json:
            print(batch_row_line(row), flush=True)
        progress(done, total)

    with open_back_office(settings) as backoffice:
        result = record_batch(backoffice.office, rows, actor, args.batch_id, row_done)
    for code, count in result.refused_by_code.items():  # each refused row is a refused command
        count_refusal(settings, code, count)
    print(result.json_line() if args.json else batch_summary_line(result, args.batch.name))
    return 0 if result.complete else 1


def batch_row_line(row: BatchRowResult) -> str:
    where = f"line {row.line}: {quote(row.certificate, 24)}"
    if row.status == "refused":
        return f"{where}: refused: ({row.code}) {row.message}"
    return f"{where}: {row.status.replace('_', ' ')}"


def batch_summary_line(result: BatchResult, name: str) -> str:
    return (
        f"batch {name}: {plural(result.rows, 'row')}, {result.recorded} recorded, "
        f"{result.already_recorded} already recorded, {result.refused} refused"
    )


def _replace_damaged(args: argparse.Namespace, settings: Settings) -> int:
    command = ReplaceDamagedCard(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        cause=DamageCause(args.cause),
        applicant=Applicant.AGENT if args.agent else Applicant.HOLDER,
        agent_resident_id=args.agent,
        identity_documents=args.documents,
        collection_outlet=args.collection_outlet,
        photo_provided=args.photo,
        **_request(args),
    )
    return _record(args, settings, cards.replace_damaged_card, command)


def _collect(args: argparse.Namespace, settings: Settings) -> int:
    command = RecordCollection(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        certificate_number=args.certificate,
        collected_by=Applicant.AGENT if args.agent else Applicant.HOLDER,
        agent_resident_id=args.agent,
        identity_document=IdentityDocument(args.document),
        **_request(args),
    )
    return _record(args, settings, cards.record_collection, command)


def _activate(args: argparse.Namespace, settings: Settings) -> int:
    command = ActivateCard(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        card_number=args.card_number,
        **_request(args),
    )
    return _record(args, settings, cards.activate_card, command)


def _whose(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import open_back_office

    with open_back_office(settings) as backoffice:
        result = cards.card_owner(backoffice.office, args.card_number)
    print(result.json_line() if args.json else card_owner_line(result))
    return 0
