"""The card lifecycle commands of ``sscard``: what outlet clerks and the production centre type."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from typing import Any

from cli.output import event_json, event_line, holder_summary
from domain.application import CardOffice
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReportLossFormally,
)
from domain.cardholder.events import (
    Applicant,
    CardKind,
    FeeWaiver,
    IdentityDocument,
    IssueSource,
    PreReportCancelReason,
    ProxyScope,
)
from domain.errors import InvalidInput
from domain.event import Actor, Channel, DomainEvent, Role
from domain.identifiers import mask_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds
from service.bootstrap import build
from service.settings import Settings


def _choices(enum: Any) -> list[str]:
    return [member.value for member in enum]


def _csv(enum: Any) -> Any:
    """An argparse type for comma-separated enum values, with the valid values in the error."""

    def parse(text: str) -> frozenset[Any]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        try:
            return frozenset(enum(v) for v in values)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: each value must be one of {', '.join(_choices(enum))}"
            ) from None

    return parse


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
    use_case: Callable[[CardOffice], DomainEvent | None],
    noop: str = "",
) -> int:
    """Run one use case of the card office and print what it recorded."""
    with build(settings) as backoffice:
        event = use_case(backoffice.office)
    if event is None:
        print(noop)
    elif args.json:
        print(event_json(event))
    else:
        print(event_line(event))
    return 0


def add_commands(commands: Any) -> None:
    _add_card_commands(commands)
    _add_loss_commands(commands)
    _add_proxy_commands(commands)
    _add_holder_commands(commands)


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
        choices=_choices(CardKind),
        default=CardKind.SOCIAL_SECURITY_CARD,
        help="card kind (medical_insurance_ic: an old IC card, converted on replacement)",
    )
    issue.add_argument("--issued-on", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    issue.add_argument("--imported", action="store_true", help="taken over from a legacy system")
    issue.add_argument("--outlet", help="issuing outlet (absent for imports)")
    issue.add_argument("--staff", help="clerk's staff id (absent: the system imports)")
    issue.set_defaults(handler=_issue)

    produce = card_commands.add_parser(
        "produce", help="production centre: the new card for a certificate is made and dispatched"
    )
    produce.add_argument("--certificate", required=True, help="collection certificate number")
    produce.add_argument(
        "--new-card-number", required=True, help="the new card's 9-character number"
    )
    produce.add_argument("--batch", help="production batch id")
    produce.add_argument("--staff", required=True, help="production centre staff id")
    produce.set_defaults(handler=_produce)

    collect = card_commands.add_parser("collect", help="hand the new card over at the outlet")
    _holder_args(collect)
    _clerk_args(collect)
    collect.add_argument("--certificate", required=True, help="collection certificate number")
    collect.add_argument("--agent", help="the collecting agent's ID number (absent: the holder)")
    collect.add_argument(
        "--document",
        choices=_choices(IdentityDocument),
        default=IdentityDocument.RESIDENT_ID_CARD,
        help="identity document shown by the collector",
    )
    collect.set_defaults(handler=_collect)

    activate = card_commands.add_parser("activate", help="activate a collected (sealed) card")
    _holder_args(activate)
    _clerk_args(activate)
    activate.add_argument("--card-number", required=True, help="the collected card's number")
    activate.set_defaults(handler=_activate)

    whose = card_commands.add_parser("whose", help="which holder a card number belongs to")
    whose.add_argument("card_number", help="the card number (9 characters)")
    whose.set_defaults(handler=_whose)


def _add_loss_commands(commands: Any) -> None:
    loss = commands.add_parser("loss", help="pre-report, cancel and formally report a lost card")
    loss_commands = loss.add_subparsers(dest="loss_command", required=True, metavar="ACTION")

    pre = loss_commands.add_parser("pre-report", help="预挂失: stop settlement on the card at once")
    _holder_args(pre)
    pre.add_argument(
        "--channel",
        choices=_choices(Channel),
        default=Channel.OUTLET,
        help="where the holder reports (hotline/online: no outlet, no staff)",
    )
    pre.add_argument("--outlet", help="outlet code (channel outlet)")
    pre.add_argument("--staff", help="clerk's staff id (channel outlet)")
    pre.add_argument(
        "--document",
        choices=_choices(IdentityDocument),
        help="identity document shown (default: resident_id_card at an outlet, "
        "else online_identity)",
    )
    pre.set_defaults(handler=_pre_report)

    cancel = loss_commands.add_parser("cancel", help="解挂: the card was found; resume settlement")
    _holder_args(cancel)
    _clerk_args(cancel)
    cancel.add_argument(
        "--reason",
        choices=_choices(PreReportCancelReason),
        default=PreReportCancelReason.CARD_FOUND,
        help="why the pre-report is cancelled",
    )
    cancel.set_defaults(handler=_cancel)

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
        help=f"documents checked, comma-separated: {', '.join(_choices(ProxyDocument))}",
    )
    report.add_argument(
        "--fee-waiver",
        choices=_choices(FeeWaiver),
        help="waive the replacement fee (defect or data error not caused by the holder)",
    )
    report.add_argument(
        "--photo", action="store_true", help="one-inch colour photo provided (IC card conversion)"
    )
    report.set_defaults(handler=_report)


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
        choices=_choices(ProxyGrounds),
        default=ProxyGrounds.OTHER,
        help="why the holder sends an agent (some regions accept only elderly/limited_mobility)",
    )
    authorize.add_argument(
        "--documents",
        required=True,
        type=_csv(ProxyDocument),
        help=f"documents presented, comma-separated: {', '.join(_choices(ProxyDocument))}",
    )
    authorize.add_argument("--relationship", help="the agent's relationship to the holder")
    authorize.set_defaults(handler=_authorize)


def _add_holder_commands(commands: Any) -> None:
    holder = commands.add_parser("holder", help="look at a holder's state and history")
    holder_commands = holder.add_subparsers(dest="holder_command", required=True, metavar="ACTION")
    show = holder_commands.add_parser("show", help="current card, case, proxies, suspensions")
    _holder_args(show)
    show.set_defaults(handler=_show)
    history = holder_commands.add_parser("history", help="every event of the holder, oldest first")
    _holder_args(history)
    history.set_defaults(handler=_history)


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
        issued_on=args.issued_on or date.today(),
        source=IssueSource.IMPORTED if args.imported else IssueSource.ISSUED,
        outlet=args.outlet,
    )
    return _record(args, settings, lambda office: office.issue_card(command))


def _pre_report(args: argparse.Namespace, settings: Settings) -> int:
    channel = Channel(args.channel)
    if channel is Channel.OUTLET:
        if not args.staff:
            raise InvalidInput("a pre-report at an outlet needs --staff and --outlet")
        actor = _clerk(args)
        document = IdentityDocument(args.document or IdentityDocument.RESIDENT_ID_CARD)
    else:
        actor = Actor(role=Role.CARDHOLDER, channel=channel)
        document = IdentityDocument(args.document or IdentityDocument.ONLINE_IDENTITY)
    command = PreReportLoss(
        resident_id=args.resident_id,
        actor=actor,
        channel=channel,
        outlet=args.outlet,
        identity_document=document,
    )
    return _record(args, settings, lambda office: office.pre_report_loss(command))


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    command = CancelPreReport(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        reason=PreReportCancelReason(args.reason),
    )
    return _record(args, settings, lambda office: office.cancel_pre_report(command))


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
    )
    return _record(args, settings, lambda office: office.report_loss_formally(command))


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
    )
    return _record(args, settings, lambda office: office.authorize_proxy(command))


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    command = RecordProduction(
        actor=Actor.staff(Role.PRODUCTION_CENTRE, args.staff),
        certificate_number=args.certificate,
        new_card_number=args.new_card_number,
        batch_id=args.batch,
    )
    return _record(
        args,
        settings,
        lambda office: office.record_production(command),
        noop="already recorded: nothing to do",
    )


def _collect(args: argparse.Namespace, settings: Settings) -> int:
    command = RecordCollection(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        certificate_number=args.certificate,
        collected_by=Applicant.AGENT if args.agent else Applicant.HOLDER,
        agent_resident_id=args.agent,
        identity_document=IdentityDocument(args.document),
    )
    return _record(args, settings, lambda office: office.record_collection(command))


def _activate(args: argparse.Namespace, settings: Settings) -> int:
    command = ActivateCard(
        resident_id=args.resident_id,
        actor=_clerk(args),
        outlet=args.outlet,
        card_number=args.card_number,
    )
    return _record(args, settings, lambda office: office.activate_card(command))


def _whose(args: argparse.Namespace, settings: Settings) -> int:
    with build(settings) as backoffice:
        holder_id = backoffice.office.holder_of_card(args.card_number)
        if holder_id is None:
            print(f"card {args.card_number} belongs to no registered holder")
            return 1
        holder = backoffice.office.holder_by_id(holder_id)
        current = "current" if holder.card.number == args.card_number else "retired"
        print(
            f"card {args.card_number} ({current}) belongs to "
            f"{mask_resident_id(holder.resident_id)}, stream {holder_id}"
        )
        return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with build(settings) as backoffice:
        for line in holder_summary(backoffice.office.holder(args.resident_id)):
            print(line)
        return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    with build(settings) as backoffice:
        for event in backoffice.office.history(args.resident_id):
            print(event_json(event) if args.json else event_line(event))
        return 0
