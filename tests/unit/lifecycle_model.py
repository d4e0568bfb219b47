"""A reference model of the card lifecycle: what the office must do, written from DESIGN.md 2.

The oracle of the state machine in ``test_lifecycle_properties.py``. It is written apart from
``domain/cardholder/rules.py``, ``decisions.py`` and ``write_path.py`` and never calls them: it
reads the configured facts (each region's lapse days and outcome, fees, proxy rules and time
zone; the outlets and which of them issue instantly; which days the working calendar says are
worked) and nothing else from the domain.

One table says it all. ``REFUSALS`` holds, for each command, the circumstances in which the
office must not simply record it, in the order the office looks at them, each with the refusal
code the office must give (``DomainError.code``) or one of two answers that record nothing:
``REPEATED`` (a retry under a request id already recorded: the first result again) and
``NOTHING`` (a production retry, a lapse that is not due: "already recorded", no event). A
command none of whose rows apply is accepted, and ``EFFECTS`` says what the holder then looks
like; ``EVENT_FACTS`` says what the recorded event must carry. A new command is a new row in
each table.

Rows come in three stages, because the office answers "already recorded" between the second and
the third: at the ``DOOR`` (configuration, request ids, the holder's existence, explicit
instants), in the ``DECISION`` (who may ask, and the rules), and at the ``SAVE`` (a card number
someone else holds). A command that the rules refuse, but that one event earlier would have
recorded exactly the fact the holder's latest event records, is a plain repeat: the office
answers "already recorded" with that event. So is an accepted command that would record that
fact again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.outlets import OutletRegistry
from domain.region_policy import RegionPolicies

# ---- the vocabulary --------------------------------------------------------------------------

NORMAL, SEALED, SURRENDERED = "normal", "sealed", "surrendered"
TEMPORARILY_LOST, FORMALLY_LOST, CANCELLED = "temporarily_lost", "formally_lost", "cancelled"
SOCIAL_SECURITY_CARD, MEDICAL_INSURANCE_IC = "social_security_card", "medical_insurance_ic"
APPLY, COLLECT = "apply", "collect"
HOLDER, AGENT = "holder", "agent"
ELDERLY, LIMITED_MOBILITY, OTHER = "elderly", "limited_mobility", "other"
GROUNDS = (ELDERLY, LIMITED_MOBILITY, OTHER)
LOSS, DAMAGE = "loss", "damage"
WEAR_OR_ACCIDENT = "wear_or_accident"  # the holder broke or wore it out: the fee is due
CAUSES = (WEAR_OR_ACCIDENT, "card_defect", "data_error_not_by_holder")

HOLDER_ID = frozenset({"holder_id_original", "holder_id_copy"})
AGENT_ID = frozenset({"agent_id_original", "agent_id_copy"})
POWER_OF_ATTORNEY, RELATIONSHIP_PROOF = "power_of_attorney", "relationship_proof"
MOBILITY_PROOF = "mobility_proof"
COUNTER_IDENTITY = frozenset({"resident_id_card", "household_register"})

# How far ahead of the office's clock a person may date an event (clocks disagree a little).
CLOCK_SKEW = timedelta(minutes=5)

REPEATED = "(the first result again)"
NOTHING = "(nothing to record)"
# A production sent again after its case moved on: the first CardProduced is the answer.
PRODUCED_BEFORE = "(the production recorded before)"

DOOR, DECISION, SAVE = "door", "decision", "save"
# Refusals that say the command itself is wrong (bad input, not found): never a repeat.
NOT_RULES = frozenset({"invalid_input", "invalid_command", "request_id_reused", "holder_not_found"})

# Who may ask for what (DESIGN.md 7, roles).
MAY_ASK = {
    "issue": frozenset({"outlet_clerk", "system"}),
    "pre_report": frozenset({"outlet_clerk", "cardholder"}),
    "cancel": frozenset({"outlet_clerk"}),
    "authorize": frozenset({"outlet_clerk"}),
    "report": frozenset({"outlet_clerk"}),
    "replace_damaged": frozenset({"outlet_clerk"}),
    "produce": frozenset({"production_centre"}),
    "collect": frozenset({"outlet_clerk"}),
    "activate": frozenset({"outlet_clerk"}),
}


def age_on(born: date, day: date) -> int:
    """Whole years lived on ``day``: one fewer while this year's birthday is still to come."""
    birthday_to_come = (day.month, day.day) < (born.month, born.day)
    return day.year - born.year - (1 if birthday_to_come else 0)


class Calendar(Protocol):
    """What the model reads from the working calendar: facts about days, nothing computed."""

    def is_working_day(self, day: date) -> bool: ...

    def is_official(self, year: int) -> bool: ...


# ---- configuration: the facts of regions.json and outlets.json --------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    zone: ZoneInfo
    lapse_days: int
    lapse_cancels: bool  # 注销 instead of 自然解挂
    production_working_days: int
    fee_fen: int
    damaged_fee_fen: int
    needs_power_of_attorney: bool
    needs_relationship_proof: bool
    proxy_grounds: frozenset[str] | None  # None: any grounds
    elderly_from_age: int

    def business_date(self, at: datetime) -> date:
        """The date people in the region live on at the instant ``at``."""
        return at.astimezone(self.zone).date()

    def proxy_documents(self, grounds: str) -> frozenset[str]:
        """What the clerk must see before recording an agent: both ID cards, original and copy,
        and whatever else the region asks for."""
        needed = set(HOLDER_ID | AGENT_ID)
        if self.needs_power_of_attorney:
            needed.add(POWER_OF_ATTORNEY)
        if self.needs_relationship_proof:
            needed.add(RELATIONSHIP_PROOF)
        if grounds == LIMITED_MOBILITY:
            needed.add(MOBILITY_PROOF)
        return frozenset(needed)


def regions_of(policies: RegionPolicies) -> dict[str, Region]:
    regions = {}
    for p in policies.regions:
        grounds = p.proxy.allowed_grounds
        regions[p.region_code] = Region(
            code=p.region_code,
            zone=ZoneInfo(p.time_zone),
            lapse_days=p.lapse_days,
            lapse_cancels=p.lapse_outcome.value == "cancel",
            production_working_days=p.production_working_days,
            fee_fen=p.replacement_fee_fen,
            # Unset: a damaged card costs what a lost one does.
            damaged_fee_fen=p.replacement_fee_fen
            if p.damaged_card_fee_fen is None
            else p.damaged_card_fee_fen,
            needs_power_of_attorney=p.proxy.requires_power_of_attorney,
            needs_relationship_proof=p.proxy.requires_relationship_proof,
            proxy_grounds=None if grounds is None else frozenset(g.value for g in grounds),
            elderly_from_age=p.proxy.elderly_from_age,
        )
    return regions


def packaged_regions() -> dict[str, Region]:
    return regions_of(RegionPolicies.packaged())


@dataclass(frozen=True)
class Outlets:
    known: frozenset[str]
    instant: frozenset[str]  # 即时制卡: the card is made the day it is applied for


def outlets_of(registry: OutletRegistry) -> Outlets:
    return Outlets(
        known=frozenset(o.code for o in registry.outlets),
        instant=frozenset(o.code for o in registry.outlets if o.instant_issue),
    )


# ---- one holder, as the model sees them -------------------------------------------------------


@dataclass(frozen=True)
class OpenPreReport:
    version: int
    lapses_at: datetime
    cancels: bool


@dataclass(frozen=True)
class OpenCase:
    certificate: str
    collection_outlet: str
    kind: str = LOSS
    new_card: str | None = None
    collected: bool = False


@dataclass(frozen=True)
class Holder:
    resident_id: str
    born: date
    region: Region
    card: str
    card_kind: str
    updated_at: datetime  # when the latest event happened: nothing may be dated before it
    version: int = 1
    status: str = NORMAL
    suspended: bool = False
    pre_report: OpenPreReport | None = None
    proxies: tuple[tuple[str, frozenset[str]], ...] = ()
    case: OpenCase | None = None
    retired: tuple[str, ...] = ()
    completed_cases: int = 0
    last_fact: tuple[Any, ...] = ()  # what the latest event records (see ``fact``)
    # The holder one event earlier (None before the first): a repeat is judged against it.
    previous: Holder | None = field(default=None, compare=False, repr=False)

    def agent_may(self, agent: str, scope: str) -> bool:
        return any(a == agent and scope in scopes for a, scopes in self.proxies)

    def card_numbers(self) -> frozenset[str]:
        return frozenset({self.card, *self.retired})


# ---- the commands, with every circumstance that matters ---------------------------------------
# ``now`` is the office's clock when the command arrives; ``at`` an instant a person gives
# (a production batch's time, a tick's --at). Neither is part of what a command asks for.


@dataclass(frozen=True)
class Issue:
    resident_id: str
    born: date
    region_code: str
    card: str
    card_kind: str
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    issued_on: date = date(2020, 1, 1)  # the date printed on the card
    name = "issue"


@dataclass(frozen=True)
class PreReport:
    resident_id: str
    channel: str  # outlet, online, hotline_12333
    outlet: str | None  # at the outlet only
    now: datetime
    role: str = "outlet_clerk"
    actor_channel: str | None = None  # a cardholder's own channel
    request_id: str | None = None
    name = "pre_report"


@dataclass(frozen=True)
class Cancel:
    resident_id: str
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "cancel"


@dataclass(frozen=True)
class Authorize:
    resident_id: str
    agent: str
    scope: frozenset[str]
    grounds: str
    documents: frozenset[str]
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "authorize"


@dataclass(frozen=True)
class Report:
    resident_id: str
    applicant: str
    agent: str | None
    documents: frozenset[str]
    photo: bool
    collection_outlet: str
    fee_waived: bool
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "report"


@dataclass(frozen=True)
class ReplaceDamaged:
    """损坏换卡: the holder surrenders a damaged card and applies for a new one."""

    resident_id: str
    cause: str
    applicant: str
    agent: str | None
    documents: frozenset[str]
    photo: bool
    collection_outlet: str
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "replace_damaged"


@dataclass(frozen=True)
class Produce:
    certificate: str
    new_card: str
    now: datetime
    at: datetime | None = None  # when the centre says it produced the card
    role: str = "production_centre"
    request_id: str | None = None
    name = "produce"


@dataclass(frozen=True)
class Collect:
    resident_id: str
    certificate: str
    outlet: str
    collector: str
    agent: str | None
    identity_document: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "collect"


@dataclass(frozen=True)
class Activate:
    resident_id: str
    card: str
    outlet: str
    now: datetime
    role: str = "outlet_clerk"
    request_id: str | None = None
    name = "activate"


@dataclass(frozen=True)
class Lapse:
    """The scheduler asks for the lapse of pre-report ``version`` (perhaps a stale entry),
    dated by the office's clock or at the instant ``at`` it gives."""

    resident_id: str
    version: int
    now: datetime
    at: datetime | None = None
    request_id: None = None  # the system's own command carries none
    name = "lapse"


Command = (
    Issue
    | PreReport
    | Cancel
    | Authorize
    | Report
    | ReplaceDamaged
    | Produce
    | Collect
    | Activate
    | Lapse
)

_NOT_ASKED = frozenset({"now", "request_id"})


def content(c: Command) -> tuple[Any, ...]:
    """What the command asks for: the same content under the same request id is a retry."""
    return (c.name, *((f.name, getattr(c, f.name)) for f in fields(c) if f.name not in _NOT_ASKED))


def outlets_named(c: Command) -> tuple[str, ...]:
    names = (getattr(c, "outlet", None), getattr(c, "collection_outlet", None))
    return tuple(n for n in names if n is not None)


# ---- the table --------------------------------------------------------------------------------

World = Any  # the LifecycleModel; Any keeps the table's lambdas short
When = Callable[[World, Any, Any], bool]  # (model, holder or None, command) -> applies?


@dataclass(frozen=True)
class Row:
    code: str
    why: str
    when: When
    stage: str = DECISION


def _role_may_not(m: World, h: Holder | None, c: Any) -> bool:
    return c.role not in MAY_ASK[c.name]


UNKNOWN_OUTLET = Row(
    "invalid_input",
    "an outlet the registry does not know",
    lambda m, h, c: any(o not in m.outlets.known for o in outlets_named(c)),
    DOOR,
)
REQUEST_ROWS = (
    Row(
        "request_id_reused",
        "the request id was recorded for other content",
        lambda m, h, c: c.request_id in m.requests and m.requests[c.request_id][0] != content(c),
        DOOR,
    ),
    Row(
        REPEATED, "a retry of a request recorded", lambda m, h, c: c.request_id in m.requests, DOOR
    ),
)
UNKNOWN_HOLDER = Row(
    "holder_not_found",
    "no holder with that resident ID is registered",
    lambda m, h, c: h is None,
    DOOR,
)
# An instant given by hand: never in the future, never before the holder's latest event.
TIME_ROWS = (
    Row(
        "invalid_input",
        "dated in the future",
        lambda m, h, c: c.at is not None and c.at > c.now + CLOCK_SKEW,
        DOOR,
    ),
    Row(
        "invalid_input",
        "dated before the holder's latest event",
        lambda m, h, c: c.at is not None and c.at < h.updated_at,
        DOOR,
    ),
)
WRONG_ROLE = Row("invalid_command", "the actor's role may not ask for this", _role_may_not)
AT_THE_DOOR = (UNKNOWN_OUTLET, *REQUEST_ROWS, UNKNOWN_HOLDER)


def _applicant_rows(scope: str) -> tuple[Row, ...]:
    """Who stands at the counter: the holder in person, or an agent the holder entrusted with
    exactly this step."""
    person = "applicant" if scope == APPLY else "collector"
    return (
        Row(
            "invalid_command",
            "the holder acts in person but an agent's ID was given",
            lambda m, h, c: getattr(c, person) == HOLDER and c.agent is not None,
        ),
        Row(
            "invalid_command",
            "an agent acts but no agent ID was given",
            lambda m, h, c: getattr(c, person) == AGENT and c.agent is None,
        ),
        Row(
            "agent_not_authorized",
            f"the agent holds no authorization to {scope} for this holder",
            lambda m, h, c: getattr(c, person) == AGENT and not h.agent_may(c.agent, scope),
        ),
    )


def _identity_check(c: Report | ReplaceDamaged) -> frozenset[str]:
    return HOLDER_ID | (AGENT_ID if c.applicant == AGENT else frozenset())


CASE_OPEN = Row(
    "replacement_case_open", "a replacement is under way", lambda m, h, c: h.case is not None
)
APPLICATION_ROWS = (
    *_applicant_rows(APPLY),
    Row(
        "documents_missing",
        "original and copy of every ID card",
        lambda m, h, c: not _identity_check(c) <= c.documents,
    ),
    Row(
        "photo_required",
        "converting a medical-insurance IC card needs a photo",
        lambda m, h, c: h.card_kind == MEDICAL_INSURANCE_IC and not c.photo,
    ),
)

REFUSALS: dict[str, tuple[Row, ...]] = {
    "issue": (
        Row(
            "invalid_input",
            "no policy for the region",
            lambda m, h, c: c.region_code not in m.regions,
            DOOR,
        ),
        UNKNOWN_OUTLET,
        *REQUEST_ROWS,
        WRONG_ROLE,
        Row(
            "holder_already_registered",
            "the holder has a card already",
            lambda m, h, c: h is not None,
        ),
        Row(
            "invalid_command",
            "a card issued after today, the region's date",
            lambda m, h, c: c.issued_on > m.regions[c.region_code].business_date(c.now),
        ),
        Row(
            "card_number_in_use",
            "the card number is someone's",
            lambda m, h, c: c.card in m.card_owner,
            SAVE,
        ),
    ),
    "pre_report": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        Row(
            "invalid_command",
            "a cardholder pre-reports only through their own channel",
            lambda m, h, c: c.role == "cardholder" and c.actor_channel != c.channel,
        ),
        Row(
            "invalid_command",
            "a clerk records only pre-reports made at the outlet",
            lambda m, h, c: c.role == "outlet_clerk" and c.channel != "outlet",
        ),
        CASE_OPEN,
        Row(
            "card_already_suspended",
            "already pre-reported",
            lambda m, h, c: h.status == TEMPORARILY_LOST,
        ),
        Row(
            "card_not_active",
            "only an active card can be pre-reported",
            lambda m, h, c: h.status != NORMAL,
        ),
    ),
    "cancel": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        Row(
            "formal_report_irreversible",
            "the card was formally reported lost",
            lambda m, h, c: h.case is not None and h.case.kind == LOSS,
        ),
        Row(
            "no_open_pre_report",
            "nothing to cancel (a damaged card surrendered was never reported lost)",
            lambda m, h, c: h.pre_report is None,
        ),
    ),
    "authorize": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        Row(
            "invalid_command",
            "the holder cannot be their own agent",
            lambda m, h, c: c.agent == h.resident_id,
        ),
        Row(
            "proxy_not_allowed",
            "the region accepts agents only on other grounds",
            lambda m, h, c: (
                h.region.proxy_grounds is not None and c.grounds not in h.region.proxy_grounds
            ),
        ),
        Row(
            "proxy_not_allowed",
            "elderly grounds, but the holder is younger than the region's elderly age",
            lambda m, h, c: (
                c.grounds == ELDERLY
                and age_on(h.born, h.region.business_date(m.event_time(c)))
                < h.region.elderly_from_age
            ),
        ),
        Row(
            "documents_missing",
            "the region's proxy documents are not all there",
            lambda m, h, c: not h.region.proxy_documents(c.grounds) <= c.documents,
        ),
    ),
    "report": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        CASE_OPEN,
        Row(
            "card_not_active",
            "the card is in no state to be replaced",
            lambda m, h, c: h.status not in (NORMAL, TEMPORARILY_LOST, CANCELLED, SEALED),
        ),
        *APPLICATION_ROWS,
    ),
    "replace_damaged": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        CASE_OPEN,
        Row(
            "card_not_active",
            "only the active card is exchanged as damaged (a lost one takes a formal report)",
            lambda m, h, c: h.status != NORMAL,
        ),
        *APPLICATION_ROWS,
    ),
    "produce": (
        Row(
            "no_open_application",
            "no application ever carried the certificate",
            lambda m, h, c: h is None,
            DOOR,
        ),
        *REQUEST_ROWS,
        TIME_ROWS[0],
        Row(
            PRODUCED_BEFORE,
            "a production recorded before, sent again dated before the holder's latest event",
            lambda m, h, c: (
                (c.certificate, c.new_card) in m.productions
                and c.at is not None
                and c.at < h.updated_at
            ),
            DOOR,
        ),
        TIME_ROWS[1],
        WRONG_ROLE,
        Row(
            PRODUCED_BEFORE,
            "a production recorded before, sent again after the case moved on",
            lambda m, h, c: (
                (c.certificate, c.new_card) in m.productions
                and (h.case is None or h.case.certificate != c.certificate)
            ),
        ),
        Row(
            "no_open_application",
            "the holder's replacement is over",
            lambda m, h, c: h.case is None,
        ),
        Row(
            "certificate_mismatch",
            "the certificate is an earlier application's",
            lambda m, h, c: h.case.certificate != c.certificate,
        ),
        Row(
            NOTHING,
            "a retry of the production recorded",
            lambda m, h, c: h.case.new_card == c.new_card,
        ),
        Row(
            "already_produced",
            "produced under another number",
            lambda m, h, c: h.case.new_card is not None,
        ),
        Row(
            "invalid_command",
            "a replacement gets a number the holder never had",
            lambda m, h, c: c.new_card in h.card_numbers(),
        ),
        Row(
            "card_number_in_use",
            "the number is another holder's",
            lambda m, h, c: c.new_card in m.card_owner,
            SAVE,
        ),
    ),
    "collect": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        Row("no_open_application", "no replacement under way", lambda m, h, c: h.case is None),
        Row(
            "certificate_mismatch",
            "not this application's certificate",
            lambda m, h, c: h.case.certificate != c.certificate,
        ),
        Row("card_already_collected", "collected already", lambda m, h, c: h.case.collected),
        Row("card_not_produced", "not produced yet", lambda m, h, c: h.case.new_card is None),
        Row(
            "wrong_collection_outlet",
            "sent to another outlet",
            lambda m, h, c: c.outlet != h.case.collection_outlet,
        ),
        *_applicant_rows(COLLECT),
        Row(
            "documents_missing",
            "an ID card or household register shown at the counter",
            lambda m, h, c: c.identity_document not in COUNTER_IDENTITY,
        ),
    ),
    "activate": (
        *AT_THE_DOOR,
        WRONG_ROLE,
        Row(
            "card_not_collected",
            "the new card is produced but still at the outlet",
            lambda m, h, c: (
                h.case is not None and h.case.new_card == c.card and not h.case.collected
            ),
        ),
        Row("card_not_held", "not the holder's current card", lambda m, h, c: c.card != h.card),
        Row("card_not_sealed", "only a collected, sealed card", lambda m, h, c: h.status != SEALED),
    ),
    "lapse": (
        *TIME_ROWS,
        Row(
            NOTHING,
            "no open pre-report of that version: cancelled, lapsed, made formal, or a stale entry",
            lambda m, h, c: h.pre_report is None or h.pre_report.version != c.version,
        ),
        Row(
            NOTHING,
            "the deadline has not come",
            lambda m, h, c: m.event_time(c) < h.pre_report.lapses_at,
        ),
    ),
}


# ---- what an accepted command does ------------------------------------------------------------


def _issued(m: World, h: Holder | None, c: Issue, facts: dict[str, Any]) -> Holder:
    return Holder(
        resident_id=c.resident_id,
        born=c.born,
        region=m.regions[c.region_code],
        card=c.card,
        card_kind=c.card_kind,
        updated_at=c.now,
    )


def _pre_reported(m: World, h: Holder, c: PreReport, facts: dict[str, Any]) -> Holder:
    deadline = m.event_time(c) + timedelta(days=h.region.lapse_days)
    return replace(
        h,
        status=TEMPORARILY_LOST,
        suspended=True,
        pre_report=OpenPreReport(h.version + 1, deadline, h.region.lapse_cancels),
    )


def _cancelled(m: World, h: Holder, c: Cancel, facts: dict[str, Any]) -> Holder:
    return replace(h, status=NORMAL, suspended=False, pre_report=None)


def _lapsed(m: World, h: Holder, c: Lapse, facts: dict[str, Any]) -> Holder:
    assert h.pre_report is not None
    if h.pre_report.cancels:  # 注销: no settling until a new card
        return replace(h, status=CANCELLED, pre_report=None)
    return replace(h, status=NORMAL, suspended=False, pre_report=None)  # 自然解挂


def _authorized(m: World, h: Holder, c: Authorize, facts: dict[str, Any]) -> Holder:
    return replace(h, proxies=(*h.proxies, (c.agent, c.scope)))


def _reported(m: World, h: Holder, c: Report, facts: dict[str, Any]) -> Holder:
    case = OpenCase(certificate=facts["certificate"], collection_outlet=c.collection_outlet)
    return replace(h, status=FORMALLY_LOST, suspended=True, pre_report=None, case=case)


def _surrendered(m: World, h: Holder, c: ReplaceDamaged, facts: dict[str, Any]) -> Holder:
    """The damaged card settles until it is handed in, and no more."""
    case = OpenCase(facts["certificate"], c.collection_outlet, kind=DAMAGE)
    return replace(h, status=SURRENDERED, suspended=True, case=case)


def _produced(m: World, h: Holder, c: Produce, facts: dict[str, Any]) -> Holder:
    assert h.case is not None
    return replace(h, case=replace(h.case, new_card=c.new_card))


def _collected(m: World, h: Holder, c: Collect, facts: dict[str, Any]) -> Holder:
    assert h.case is not None
    assert h.case.new_card is not None
    return replace(
        h,
        card=h.case.new_card,
        card_kind=SOCIAL_SECURITY_CARD,  # an old medical-insurance IC card is converted
        status=SEALED,
        retired=(*h.retired, h.card),
        case=replace(h.case, collected=True),
    )


def _activated(m: World, h: Holder, c: Activate, facts: dict[str, Any]) -> Holder:
    return replace(
        h,
        status=NORMAL,
        suspended=False,
        case=None,
        proxies=(),
        completed_cases=h.completed_cases + 1,
    )


EFFECTS: dict[str, Callable[[World, Any, Any, dict[str, Any]], Holder]] = {
    "issue": _issued,
    "pre_report": _pre_reported,
    "cancel": _cancelled,
    "lapse": _lapsed,
    "authorize": _authorized,
    "report": _reported,
    "replace_damaged": _surrendered,
    "produce": _produced,
    "collect": _collected,
    "activate": _activated,
}


def _application_facts(m: World, h: Holder, c: Report | ReplaceDamaged) -> dict[str, Any]:
    due, basis = m.production_due(h, c)
    return {
        "card_number": h.card,
        "applicant": c.applicant,
        "agent_resident_id": c.agent,
        "identity_documents": c.documents,
        "collection_outlet": c.collection_outlet,
        "converting_medical_ic": h.card_kind == MEDICAL_INSURANCE_IC,
        "photo_provided": c.photo,
        "production_due_on": due,
        "production_due_basis": basis,
    }


# What the recorded event must say. Facts the office derives itself (a deadline, a due date)
# are listed in DERIVED: two events that differ only there record the same fact.
EVENT_FACTS: dict[str, Callable[[World, Holder | None, Any], dict[str, Any]]] = {
    "issue": lambda m, h, c: {
        "resident_id": c.resident_id,
        "issued_on": c.issued_on,
        "region_code": c.region_code,
        "card_number": c.card,
        "card_kind": c.card_kind,
    },
    "pre_report": lambda m, h, c: {
        "card_number": h.card,
        "channel": c.channel,
        "lapses_at": m.event_time(c) + timedelta(days=h.region.lapse_days),
        "lapse_outcome": "cancel" if h.region.lapse_cancels else "unblock",
    },
    "cancel": lambda m, h, c: {"card_number": h.card, "pre_report_version": h.pre_report.version},
    "lapse": lambda m, h, c: {
        "card_number": h.card,
        "pre_report_version": c.version,
        "deadline": h.pre_report.lapses_at,
        "result": "cancelled" if h.pre_report.cancels else "unblocked",
    },
    "authorize": lambda m, h, c: {
        "agent_resident_id": c.agent,
        "scope": c.scope,
        "grounds": c.grounds,
        "documents": c.documents,
    },
    "report": lambda m, h, c: (
        _application_facts(m, h, c) | {"fee_fen": 0 if c.fee_waived else h.region.fee_fen}
    ),
    "replace_damaged": lambda m, h, c: (
        _application_facts(m, h, c)
        | {
            "cause": c.cause,
            "fee_fen": h.region.damaged_fee_fen if c.cause == WEAR_OR_ACCIDENT else 0,
        }
    ),
    "produce": lambda m, h, c: {
        "certificate_number": c.certificate,
        "new_card_number": c.new_card,
        "dispatched_to": h.case.collection_outlet,
    },
    "collect": lambda m, h, c: {
        "card_number": h.case.new_card,
        "certificate_number": c.certificate,
        "collected_by": c.collector,
        "agent_resident_id": c.agent,
        "identity_document": c.identity_document,
    },
    "activate": lambda m, h, c: {"card_number": h.card},
}
DERIVED = frozenset({"lapses_at", "production_due_on", "production_due_basis"})


def fact(m: World, h: Holder | None, c: Command) -> tuple[Any, ...]:
    """What the event ``c`` records on ``h`` says, apart from when and what the office derives:
    the same fact twice is a repeat. (The instant a batch gives only dates the event.)"""
    asked = tuple(item for item in content(c) if item[0:1] != ("at",))
    said = tuple(
        sorted((k, v) for k, v in EVENT_FACTS[c.name](m, h, c).items() if k not in DERIVED)
    )
    return (asked, said)


# ---- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What the office must answer: a refusal ``code``, or a ``status`` with the event it must
    return, named by holder and version (None: no event at all)."""

    code: str | None = None
    why: str = "accepted"
    status: str = "recorded"  # recorded, repeated, already_recorded
    event: tuple[str, int] | None = None

    @property
    def recorded(self) -> bool:
        return self.code is None and self.status == "recorded"

    def __str__(self) -> str:
        if self.code is not None:
            return f"refuse with {self.code} ({self.why})"
        if self.status == "recorded":
            return "record it"
        return f"answer {self.status} with event {self.event} ({self.why})"


RECORD = Expectation()


@dataclass
class LifecycleModel:
    calendar: Calendar
    regions: dict[str, Region] = field(default_factory=packaged_regions)
    outlets: Outlets = field(default_factory=lambda: outlets_of(OutletRegistry.packaged()))
    holders: dict[str, Holder] = field(default_factory=dict)
    card_owner: dict[str, str] = field(default_factory=dict)
    certificate_owner: dict[str, str] = field(default_factory=dict)
    # (certificate, new card) -> the CardProduced event that recorded them (holder, version)
    productions: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    # request id -> (the content it was recorded with, the event it recorded)
    requests: dict[str, tuple[tuple[Any, ...], tuple[str, int]]] = field(default_factory=dict)

    def holder_for(self, c: Command) -> Holder | None:
        if isinstance(c, Produce):
            owner = self.certificate_owner.get(c.certificate)
            return None if owner is None else self.holders[owner]
        return self.holders.get(c.resident_id)

    def event_time(self, c: Command) -> datetime:
        """When the office dates the event: the instant given, else its clock, held at the
        holder's latest event if the clock stepped back (stream order must hold)."""
        if getattr(c, "at", None) is not None:
            return c.at  # type: ignore[union-attr,return-value]
        h = self.holder_for(c)
        return c.now if h is None else max(c.now, h.updated_at)

    def production_due(self, h: Holder, c: Report | ReplaceDamaged) -> tuple[date, str]:
        """The N-th day after the application's date (in the region's zone) that the calendar
        says is worked; the application's day itself at an instant-issue outlet."""
        start = h.region.business_date(self.event_time(c))
        n = 0 if c.collection_outlet in self.outlets.instant else h.region.production_working_days
        days = (start + timedelta(days=i) for i in itertools.count(1))
        due = start if n == 0 else next(itertools.islice(self._worked(days), n - 1, None))
        years = range(start.year, due.year + 1)
        official = all(self.calendar.is_official(y) for y in years)
        return due, "official_calendar" if official else "estimated"

    def _worked(self, days: Iterable[date]) -> Iterable[date]:
        return (d for d in days if self.calendar.is_working_day(d))

    def expect(self, c: Command) -> Expectation:
        h = self.holder_for(c)
        rows = REFUSALS[c.name]
        for row in rows:
            if row.stage == SAVE and h is not None and fact(self, h, c) == h.last_fact:
                return self._already(h, "an accepted command that records the latest fact again")
            if not row.when(self, h, c):
                continue
            if row.code == REPEATED:
                return Expectation(None, row.why, "repeated", self.requests[c.request_id][1])
            if row.code == NOTHING:
                return Expectation(None, row.why, "already_recorded")
            if row.code == PRODUCED_BEFORE:
                assert isinstance(c, Produce)
                produced = self.productions[(c.certificate, c.new_card)]
                return Expectation(None, row.why, "already_recorded", produced)
            if row.stage == DECISION and row.code not in NOT_RULES and self._repeat(h, c):
                return self._already(h, f"refused ({row.code}) but a repeat of the latest fact")
            return Expectation(row.code, row.why)
        if h is not None and fact(self, h, c) == h.last_fact:
            return self._already(h, "an accepted command that records the latest fact again")
        return RECORD

    def _already(self, h: Holder, why: str) -> Expectation:
        return Expectation(None, why, "already_recorded", (h.resident_id, h.version))

    def _repeat(self, h: Holder | None, c: Command) -> bool:
        """One event earlier, would the rules have let ``c`` record exactly the latest fact?"""
        if h is None or (h.previous is None and c.name != "issue"):
            return False
        earlier = h.previous
        decision = (r for r in REFUSALS[c.name] if r.stage == DECISION)
        if any(row.when(self, earlier, c) for row in decision):
            return False
        return fact(self, earlier, c) == h.last_fact

    def event_facts(self, c: Command) -> dict[str, Any]:
        """What the event recorded for ``c`` must carry (call before ``accept``)."""
        return EVENT_FACTS[c.name](self, self.holder_for(c), c)

    def accept(self, c: Command, **assigned: Any) -> Holder:
        """Apply a recorded command. ``assigned`` holds what the office draws and no rule
        decides (the certificate number it printed)."""
        h = self.holder_for(c)
        at = self.event_time(c)
        said = fact(self, h, c)
        after = EFFECTS[c.name](self, h, c, assigned)
        version = 1 if h is None else h.version + 1
        after = replace(after, version=version, updated_at=at, last_fact=said, previous=h)
        self.holders[after.resident_id] = after
        for number in after.card_numbers() | {after.case.new_card if after.case else None}:
            if number is not None:
                self.card_owner[number] = after.resident_id
        if after.case is not None:
            self.certificate_owner[after.case.certificate] = after.resident_id
        if c.request_id is not None:
            self.requests[c.request_id] = (content(c), (after.resident_id, version))
        if isinstance(c, Produce):
            self.productions[(c.certificate, c.new_card)] = (after.resident_id, version)
        return after

    def due(self, at: datetime) -> set[tuple[str, int]]:
        """Open pre-reports whose deadline has come: what the lapse schedule must list."""
        return {
            (h.resident_id, h.pre_report.version)
            for h in self.holders.values()
            if h.pre_report is not None and h.pre_report.lapses_at <= at
        }
