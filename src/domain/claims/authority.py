"""Who may do what with a claim, in one function.

Claims officers decide and record payments. Outlet clerks take claims (and withdrawals) at the
counter, naming their outlet. Holders file online, where they upload the documents, and may take
their own claim back online or by the 12333 hotline.
"""

from __future__ import annotations

from domain.claims.commands import (
    ApproveClaim,
    ClaimCommand,
    PayClaim,
    RejectClaim,
    SubmitClaim,
    WithdrawClaim,
)
from domain.claims.errors import NotAuthorized
from domain.event import Channel, Role

_ALLOWED: dict[type[ClaimCommand], frozenset[Role]] = {
    SubmitClaim: frozenset({Role.OUTLET_CLERK, Role.CLAIMS_OFFICER, Role.CARDHOLDER}),
    ApproveClaim: frozenset({Role.CLAIMS_OFFICER}),
    RejectClaim: frozenset({Role.CLAIMS_OFFICER}),
    PayClaim: frozenset({Role.CLAIMS_OFFICER}),
    WithdrawClaim: frozenset({Role.OUTLET_CLERK, Role.CARDHOLDER}),
}

_VERBS: dict[type[ClaimCommand], str] = {
    SubmitClaim: "submit a claim",
    ApproveClaim: "approve a claim",
    RejectClaim: "reject a claim",
    PayClaim: "record a claim's payment",
    WithdrawClaim: "withdraw a claim",
}


def check_claim_authority(command: ClaimCommand) -> None:
    """Refuse a command whose actor may not issue it, or issues it from the wrong place."""
    role = command.actor.role
    allowed = _ALLOWED[type(command)]
    verb = _VERBS[type(command)]
    if role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise NotAuthorized(f"a {role.value} may not {verb}; allowed roles: {names}")
    if role is Role.OUTLET_CLERK and command.outlet is None:
        raise NotAuthorized(f"an outlet clerk names the outlet where they {verb}")
    if role is Role.CARDHOLDER:
        if command.outlet is not None:
            raise NotAuthorized("a holder acting through a channel names no outlet")
        if isinstance(command, SubmitClaim) and command.actor.channel is not Channel.ONLINE:
            raise NotAuthorized(
                "a holder files a claim online (the documents are uploaded) or at an outlet"
            )
