"""Who may ask for what: the role an actor needs for each cardholder command."""

from __future__ import annotations

from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    Command,
    EraseHolder,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReplaceDamagedCard,
    ReportLossFormally,
)
from domain.cardholder.errors import InvalidCommand
from domain.event import Channel, Role

_ALLOWED: dict[type[Command], frozenset[Role]] = {
    IssueCard: frozenset({Role.OUTLET_CLERK, Role.SYSTEM}),
    PreReportLoss: frozenset({Role.OUTLET_CLERK, Role.CARDHOLDER}),
    CancelPreReport: frozenset({Role.OUTLET_CLERK}),
    AuthorizeProxy: frozenset({Role.OUTLET_CLERK}),
    ReportLossFormally: frozenset({Role.OUTLET_CLERK}),
    ReplaceDamagedCard: frozenset({Role.OUTLET_CLERK}),
    RecordProduction: frozenset({Role.PRODUCTION_CENTRE}),
    RecordCollection: frozenset({Role.OUTLET_CLERK}),
    ActivateCard: frozenset({Role.OUTLET_CLERK}),
    EraseHolder: frozenset({Role.AUDITOR}),
}


def check_authority(command: Command) -> None:
    """Refuse a command whose actor's role may not issue it."""
    allowed = _ALLOWED[type(command)]
    role = command.actor.role
    if role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise InvalidCommand(f"a {role.value} may not {_verb(command)}; allowed roles: {names}")
    if not isinstance(command, PreReportLoss):
        return
    if role is Role.CARDHOLDER and command.actor.channel is not command.channel:
        raise InvalidCommand("a cardholder's pre-report comes through the actor's own channel")
    if role is Role.OUTLET_CLERK and command.channel is not Channel.OUTLET:
        raise InvalidCommand("an outlet clerk records pre-reports made at the outlet")


def _verb(command: Command) -> str:
    name = type(command).__name__
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
