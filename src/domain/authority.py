"""Who may do what: one table for every role a person signs in with, and the one rule that reads it.

An entry point (the HTTP API, its console) knows who is asking from a verified token: a
``Principal`` (role, and the outlet or the holder the role is tied to). Before it calls the
application layer it names the use case (an ``Action``) and what the request touches (a
``Scope``: the outlet acted at or read, the holder whose record it is) and asks ``authorize``.

The table says, for each role, which actions it may take and how far it reaches:

- anywhere: the role's work is not tied to a place (a claims officer decides any claim);
- its own outlet: an outlet clerk acts at, and reads the queue of, the outlet in their token;
  a clerk serves whoever comes to the counter, so reading a holder's (masked) record is not
  tied to the outlet;
- its own record: a cardholder reads and acts on their own record only. Another holder's
  record is answered exactly as an unknown one is, so that a holder cannot learn whether
  someone else is registered.

An auditor reads (history, state as of an instant, unmasked reads with a reason, verify,
verify-chain) and makes one write: a holder's erasure, which the card office records as an
auditor's act. ``admin`` runs the office (status, dead letters, rebuilds, the lapse run,
verify); it acts on no holder's record and reads no personal data.

The acting roles of the store's events (``domain.event.Role``) are the published contract's and
stay as they are: ``settlement`` and ``admin`` sign in, but record no act.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from domain.cardholder.errors import HolderNotFound
from domain.claims.errors import ClaimNotFound
from domain.errors import DomainError, InvalidInput
from domain.event import Actor, Channel, Role
from domain.identifiers import OutletCode, ResidentId, StaffId

# What the card office answers for a holder it does not know; a cardholder asking about
# another holder gets the same words (tests/unit/test_authority.py holds the two equal).
UNKNOWN_HOLDER = "no cardholder with that resident ID number is registered"


class Forbidden(DomainError):
    """The identity's role may not take this action, or not here (HTTP 403)."""

    code = "forbidden"


class AccessRole(StrEnum):
    """The role a person or system signs in with (a token's ``role`` claim)."""

    OUTLET_CLERK = "outlet_clerk"
    PRODUCTION_CENTRE = "production_centre"
    CLAIMS_OFFICER = "claims_officer"
    AUDITOR = "auditor"
    SETTLEMENT = "settlement"  # a hospital's or pharmacy's system looking up a card
    CARDHOLDER = "cardholder"  # the holder, online
    ADMIN = "admin"  # the operator of the back office


class Action(StrEnum):
    """Every use case an entry point offers, by the name the table uses."""

    # Acts recorded in a holder's or a claim's history, under the actor's name.
    ISSUE_CARD = "issue_card"
    PRE_REPORT = "pre_report"
    CANCEL_PRE_REPORT = "cancel_pre_report"
    REPORT_LOSS = "report_loss"
    AUTHORIZE_PROXY = "authorize_proxy"
    REPLACE_DAMAGED = "replace_damaged"
    PRODUCE = "produce"
    COLLECT = "collect"
    ACTIVATE = "activate"
    ERASE_HOLDER = "erase_holder"
    SUBMIT_CLAIM = "submit_claim"
    DECIDE_CLAIM = "decide_claim"
    PAY_CLAIM = "pay_claim"
    WITHDRAW_CLAIM = "withdraw_claim"
    # Reads.
    LOOKUP_HOLDER = "lookup_holder"  # the reference that names a holder in paths
    READ_STATE = "read_state"
    READ_HISTORY = "read_history"
    READ_UNMASKED = "read_unmasked"  # each one recorded, with its reason
    READ_DISCLOSURES = "read_disclosures"  # the record of unmasked reads
    READ_CLAIMS = "read_claims"
    READ_QUEUE = "read_queue"
    WHOSE_CARD = "whose_card"
    READ_ANALYTICS = "read_analytics"
    SETTLEMENT_LOOKUP = "settlement_lookup"
    VERIFY = "verify"
    VERIFY_CHAIN = "verify_chain"
    # Running the office.
    READ_STATUS = "read_status"
    MANAGE_DEAD_LETTERS = "manage_dead_letters"
    REBUILD_VIEW = "rebuild_view"
    RUN_LAPSES = "run_lapses"


ACTS = frozenset(
    {
        Action.ISSUE_CARD,
        Action.PRE_REPORT,
        Action.CANCEL_PRE_REPORT,
        Action.REPORT_LOSS,
        Action.AUTHORIZE_PROXY,
        Action.REPLACE_DAMAGED,
        Action.PRODUCE,
        Action.COLLECT,
        Action.ACTIVATE,
        Action.ERASE_HOLDER,
        Action.SUBMIT_CLAIM,
        Action.DECIDE_CLAIM,
        Action.PAY_CLAIM,
        Action.WITHDRAW_CLAIM,
    }
)


class Reach(StrEnum):
    """How far a role's permission for an action extends."""

    ANYWHERE = "anywhere"
    OWN_OUTLET = "own_outlet"  # the outlet named in the token
    OWN_RECORD = "own_record"  # the holder named in the token


_ANY = Reach.ANYWHERE
_OUTLET = Reach.OWN_OUTLET
_OWN = Reach.OWN_RECORD

# THE table. An action missing from a role's row is refused to it.
PERMISSIONS: Mapping[AccessRole, Mapping[Action, Reach]] = MappingProxyType(
    {
        AccessRole.OUTLET_CLERK: MappingProxyType(
            {
                Action.ISSUE_CARD: _OUTLET,
                Action.PRE_REPORT: _OUTLET,
                Action.CANCEL_PRE_REPORT: _OUTLET,
                Action.REPORT_LOSS: _OUTLET,
                Action.AUTHORIZE_PROXY: _OUTLET,
                Action.REPLACE_DAMAGED: _OUTLET,
                Action.COLLECT: _OUTLET,
                Action.ACTIVATE: _OUTLET,
                Action.SUBMIT_CLAIM: _OUTLET,
                Action.WITHDRAW_CLAIM: _OUTLET,
                Action.READ_QUEUE: _OUTLET,
                Action.LOOKUP_HOLDER: _ANY,
                Action.READ_STATE: _ANY,
                Action.READ_HISTORY: _ANY,
                Action.READ_CLAIMS: _ANY,
                Action.WHOSE_CARD: _ANY,
            }
        ),
        AccessRole.PRODUCTION_CENTRE: MappingProxyType({Action.PRODUCE: _ANY}),
        AccessRole.CLAIMS_OFFICER: MappingProxyType(
            {
                Action.SUBMIT_CLAIM: _ANY,
                Action.DECIDE_CLAIM: _ANY,
                Action.PAY_CLAIM: _ANY,
                Action.READ_CLAIMS: _ANY,
                Action.LOOKUP_HOLDER: _ANY,
                Action.READ_STATE: _ANY,
                Action.READ_HISTORY: _ANY,
            }
        ),
        AccessRole.AUDITOR: MappingProxyType(
            {
                Action.LOOKUP_HOLDER: _ANY,
                Action.READ_STATE: _ANY,
                Action.READ_HISTORY: _ANY,
                Action.READ_UNMASKED: _ANY,
                Action.READ_DISCLOSURES: _ANY,
                Action.READ_CLAIMS: _ANY,
                Action.READ_QUEUE: _ANY,
                Action.WHOSE_CARD: _ANY,
                Action.READ_ANALYTICS: _ANY,
                Action.VERIFY: _ANY,
                Action.VERIFY_CHAIN: _ANY,
                Action.ERASE_HOLDER: _ANY,
            }
        ),
        AccessRole.SETTLEMENT: MappingProxyType({Action.SETTLEMENT_LOOKUP: _ANY}),
        AccessRole.CARDHOLDER: MappingProxyType(
            {
                Action.PRE_REPORT: _OWN,
                Action.SUBMIT_CLAIM: _OWN,
                Action.WITHDRAW_CLAIM: _OWN,
                Action.LOOKUP_HOLDER: _OWN,
                Action.READ_STATE: _OWN,
                Action.READ_HISTORY: _OWN,
                Action.READ_CLAIMS: _OWN,
            }
        ),
        AccessRole.ADMIN: MappingProxyType(
            {
                Action.READ_STATUS: _ANY,
                Action.MANAGE_DEAD_LETTERS: _ANY,
                Action.REBUILD_VIEW: _ANY,
                Action.RUN_LAPSES: _ANY,
                Action.READ_ANALYTICS: _ANY,
                Action.VERIFY: _ANY,
                Action.VERIFY_CHAIN: _ANY,
            }
        ),
    }
)

# The store's acting role for each role that records acts (the cardholder acts online).
_ACTING_ROLES: Mapping[AccessRole, Role] = MappingProxyType(
    {
        AccessRole.OUTLET_CLERK: Role.OUTLET_CLERK,
        AccessRole.PRODUCTION_CENTRE: Role.PRODUCTION_CENTRE,
        AccessRole.CLAIMS_OFFICER: Role.CLAIMS_OFFICER,
        AccessRole.AUDITOR: Role.AUDITOR,
        AccessRole.CARDHOLDER: Role.CARDHOLDER,
    }
)

_VERBS: Mapping[Action, str] = MappingProxyType(
    {
        Action.ISSUE_CARD: "issue a card",
        Action.PRE_REPORT: "take a loss pre-report",
        Action.CANCEL_PRE_REPORT: "cancel a pre-report",
        Action.REPORT_LOSS: "take a formal loss report",
        Action.AUTHORIZE_PROXY: "record a proxy authorization",
        Action.REPLACE_DAMAGED: "replace a damaged card",
        Action.PRODUCE: "record a card's production",
        Action.COLLECT: "record a card's collection",
        Action.ACTIVATE: "activate a card",
        Action.ERASE_HOLDER: "erase a holder's personal data",
        Action.SUBMIT_CLAIM: "submit a claim",
        Action.DECIDE_CLAIM: "decide a claim",
        Action.PAY_CLAIM: "record a claim's payment",
        Action.WITHDRAW_CLAIM: "withdraw a claim",
        Action.LOOKUP_HOLDER: "look up a holder's reference",
        Action.READ_STATE: "read a holder's state",
        Action.READ_HISTORY: "read a holder's history",
        Action.READ_UNMASKED: "read ID numbers and names in full",
        Action.READ_DISCLOSURES: "list the unmasked reads",
        Action.READ_CLAIMS: "read claims",
        Action.READ_QUEUE: "read an outlet's queue",
        Action.WHOSE_CARD: "look up whose card a number is",
        Action.READ_ANALYTICS: "read the lifecycle analytics",
        Action.SETTLEMENT_LOOKUP: "look up a card's settlement status",
        Action.VERIFY: "verify the read models",
        Action.VERIFY_CHAIN: "verify the history's hash chain",
        Action.READ_STATUS: "read the office's status",
        Action.MANAGE_DEAD_LETTERS: "handle dead letters",
        Action.REBUILD_VIEW: "rebuild a read model",
        Action.RUN_LAPSES: "run the lapse of due pre-reports",
    }
)


class Principal(BaseModel):
    """Who is asking: a role, and what the role is tied to (a clerk's outlet, a holder's own
    record). Built by an entry point from a verified token, never from a request's body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=255)
    role: AccessRole
    outlet: OutletCode | None = None
    # The holder's resident ID number: kept out of repr, so that a logged identity shows none.
    holder: ResidentId | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _tied_as_the_role_says(self) -> Self:
        problem = principal_problem(self.role, self.outlet, self.holder, self.subject)
        if problem is not None:
            raise ValueError(problem)
        return self

    def actor(self) -> Actor:
        """Who the store records for this identity's acts: staff by their subject, the holder
        through the online channel."""
        role = _ACTING_ROLES.get(self.role)
        if role is None:
            raise Forbidden(f"{_a(self.role)} records no acts")
        if role is Role.CARDHOLDER:
            return Actor(role=role, channel=Channel.ONLINE)
        return Actor.staff(role, self.subject)


def principal_problem(
    role: AccessRole, outlet: str | None, holder: str | None, subject: str
) -> str | None:
    """What makes an identity's claims inconsistent, or ``None``: an outlet clerk is tied to
    one outlet and a cardholder to their own record; no other role carries either. Staff act
    under their subject, which must be a staff id (it is recorded with each act)."""
    if role is AccessRole.OUTLET_CLERK and outlet is None:
        return "an outlet clerk is tied to an outlet: name it"
    if role is not AccessRole.OUTLET_CLERK and outlet is not None:
        return f"{_a(role)} is tied to no outlet (only an outlet clerk is)"
    if role is AccessRole.CARDHOLDER and holder is None:
        return "a cardholder is tied to their own record: name the holder (resident ID number)"
    if role is not AccessRole.CARDHOLDER and holder is not None:
        return f"{_a(role)} is tied to no holder (only a cardholder is)"
    if _ACTING_ROLES.get(role) not in (None, Role.CARDHOLDER):
        try:
            _STAFF_ID.validate_python(subject)
        except InvalidInput as exc:
            return f"{_a(role)} acts under a staff id as subject: {exc}"
    return None


_STAFF_ID: TypeAdapter[str] = TypeAdapter(StaffId)


class Scope(BaseModel):
    """What a request touches: the outlet acted at (or whose queue is read), the holder whose
    record it is (their resident ID number), and the claim it names, if any. An entry point
    fills it from the route, or from the record it loaded (a claim's holder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outlet: OutletCode | None = None
    holder: ResidentId | None = Field(default=None, repr=False)
    claim_id: UUID | None = None


def authorize(principal: Principal, action: Action, scope: Scope | None = None) -> None:
    """Refuse what the table does not allow: ``Forbidden`` for a role or an outlet that may
    not; for a cardholder asking about another holder, the very refusal an unknown holder (or
    claim) gets, so that the answer says nothing about whether it exists."""
    scope = scope or Scope()
    reach = PERMISSIONS[principal.role].get(action)
    verb = _VERBS[action]
    if reach is None:
        raise Forbidden(f"{_a(principal.role)} may not {verb}")
    if reach is Reach.OWN_OUTLET:
        if scope.outlet is None:
            raise Forbidden(f"an outlet clerk names the outlet where they {verb}")
        if scope.outlet != principal.outlet:
            raise Forbidden(
                f"a clerk of outlet {principal.outlet} may not {verb} at outlet {scope.outlet}"
            )
    elif reach is Reach.OWN_RECORD:
        if scope.holder is None:
            raise Forbidden(f"a cardholder may {verb} on their own record only")
        if scope.holder != principal.holder:
            if scope.claim_id is not None:
                raise ClaimNotFound(f"no claim {scope.claim_id}")
            raise HolderNotFound(UNKNOWN_HOLDER)


def _a(role: AccessRole) -> str:
    """The role with its article, as a sentence names it: "an auditor", "a cardholder"."""
    return ("an " if role.value[0] in "aeiou" else "a ") + role.value
