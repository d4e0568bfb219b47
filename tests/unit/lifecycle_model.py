"""A reference model of the card lifecycle: what the office must do, written from DESIGN.md 2.

The oracle of the state machine in ``test_lifecycle_properties.py``. It is written apart from
``domain/cardholder/rules.py`` and ``decisions.py`` and never calls them: it reads the regions'
facts (lapse days and outcome, fee, instant-issue outlets, proxy rules) from the packaged
``regions.json`` and nothing else from the domain.

One table says it all. ``REFUSALS`` holds, for each command, the circumstances in which the
office must refuse it, in the order the office looks at them, each with the refusal code the
office must give (``DomainError.code``); ``NOTHING`` marks a circumstance in which the office
must neither refuse nor record (a production retry, a lapse that is not due). A command none of
whose rows apply is accepted, and ``EFFECTS`` says what the holder then looks like. ``EVENT_FACTS``
says what the recorded event must carry. A new command is a new row in each table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from domain.region_policy import RegionPolicies

# ---- the vocabulary --------------------------------------------------------------------------

NORMAL, SEALED = "normal", "sealed"
TEMPORARILY_LOST, FORMALLY_LOST, CANCELLED = "temporarily_lost", "formally_lost", "cancelled"
SOCIAL_SECURITY_CARD, MEDICAL_INSURANCE_IC = "social_security_card", "medical_insurance_ic"
APPLY, COLLECT = "apply", "collect"
HOLDER, AGENT = "holder", "agent"
ELDERLY, LIMITED_MOBILITY, OTHER = "elderly", "limited_mobility", "other"
GROUNDS = (ELDERLY, LIMITED_MOBILITY, OTHER)

HOLDER_ID = frozenset({"holder_id_original", "holder_id_copy"})
AGENT_ID = frozenset({"agent_id_original", "agent_id_copy"})
POWER_OF_ATTORNEY, RELATIONSHIP_PROOF = "power_of_attorney", "relationship_proof"
MOBILITY_PROOF = "mobility_proof"
COUNTER_IDENTITY = frozenset({"resident_id_card", "household_register"})

# China keeps one time zone and no daylight saving: business dates (age, "today") are UTC+8.
BEIJING = timezone(timedelta(hours=8))

NOTHING = ""  # neither refused nor recorded

# Who may ask for what (DESIGN.md 7, roles).
MAY_ASK = {
    "issue": frozenset({"outlet_clerk", "system"}),
    "pre_report": frozenset({"outlet_clerk", "cardholder"}),
    "cancel": frozenset({"outlet_clerk"}),
    "authorize": frozenset({"outlet_clerk"}),
    "report": frozenset({"outlet_clerk"}),
    "produce": frozenset({"production_centre"}),
    "collect": frozenset({"outlet_clerk"}),
    "activate": frozenset({"outlet_clerk"}),
}


def business_date(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


def age_on(born: date, day: date) -> int:
    """Whole years lived on ``day``: one fewer while this year's birthday is still to come."""
    birthday_to_come = (day.month, day.day) < (born.month, born.day)
    return day.year - born.year - (1 if birthday_to_come else 0)


# ---- regions: the facts of regions.json -------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    lapse_days: int
    lapse_cancels: bool  # 注销 instead of 自然解挂
    production_working_days: int
    instant_outlets: frozenset[str]
    fee_fen: int
    needs_power_of_attorney: bool
    needs_relationship_proof: bool
    proxy_grounds: frozenset[str] | None  # None: any grounds
    elderly_from_age: int

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


def packaged_regions() -> dict[str, Region]:
    regions = {}
    for p in RegionPolicies.packaged().regions:
        grounds = p.proxy.allowed_grounds
        regions[p.region_code] = Region(
            code=p.region_code,
            lapse_days=p.lapse_days,
            lapse_cancels=p.lapse_outcome.value == "cancel",
            production_working_days=p.production_working_days,
            instant_outlets=frozenset(p.instant_issue_outlets),
            fee_fen=p.replacement_fee_fen,
            needs_power_of_attorney=p.proxy.requires_power_of_attorney,
            needs_relationship_proof=p.proxy.requires_relationship_proof,
            proxy_grounds=None if grounds is None else frozenset(g.value for g in grounds),
            elderly_from_age=p.proxy.elderly_from_age,
        )
    return regions


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
    new_card: str | None = None
    collected: bool = False


@dataclass(frozen=True)
class Holder:
    resident_id: str
    born: date
    region: Region
    card: str
    card_kind: str
    version: int = 1
    status: str = NORMAL
    suspended: bool = False
    pre_report: OpenPreReport | None = None
    proxies: tuple[tuple[str, frozenset[str]], ...] = ()
    case: OpenCase | None = None
    retired: tuple[str, ...] = ()
    completed_cases: int = 0

    def agent_may(self, agent: str, scope: str) -> bool:
        return any(a == agent and scope in scopes for a, scopes in self.proxies)

    def card_numbers(self) -> frozenset[str]:
        return frozenset({self.card, *self.retired})


# ---- the commands, with every circumstance that matters ---------------------------------------


@dataclass(frozen=True)
class Issue:
    resident_id: str
    born: date
    region_code: str
    card: str
    card_kind: str
    at: datetime
    role: str = "outlet_clerk"
    name = "issue"


@dataclass(frozen=True)
class PreReport:
    resident_id: str
    channel: str  # outlet, online, hotline_12333
    at: datetime
    role: str = "outlet_clerk"
    actor_channel: str | None = None  # a cardholder's own channel
    name = "pre_report"


@dataclass(frozen=True)
class Cancel:
    resident_id: str
    at: datetime
    role: str = "outlet_clerk"
    name = "cancel"


@dataclass(frozen=True)
class Authorize:
    resident_id: str
    agent: str
    scope: frozenset[str]
    grounds: str
    documents: frozenset[str]
    at: datetime
    role: str = "outlet_clerk"
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
    at: datetime
    role: str = "outlet_clerk"
    name = "report"


@dataclass(frozen=True)
class Produce:
    certificate: str
    new_card: str
    at: datetime
    role: str = "production_centre"
    name = "produce"


@dataclass(frozen=True)
class Collect:
    resident_id: str
    certificate: str
    outlet: str
    collector: str
    agent: str | None
    identity_document: str
    at: datetime
    role: str = "outlet_clerk"
    name = "collect"


@dataclass(frozen=True)
class Activate:
    resident_id: str
    card: str
    at: datetime
    role: str = "outlet_clerk"
    name = "activate"


@dataclass(frozen=True)
class Lapse:
    """The scheduler asks for the lapse of pre-report ``version`` (perhaps a stale entry)."""

    resident_id: str
    version: int
    at: datetime
    name = "lapse"


Command = Issue | PreReport | Cancel | Authorize | Report | Produce | Collect | Activate | Lapse


# ---- the table of refusals --------------------------------------------------------------------

World = Any  # the LifecycleModel; Any keeps the table's lambdas short
When = Callable[[World, Any, Any], bool]  # (model, holder or None, command) -> applies?


@dataclass(frozen=True)
class Row:
    code: str
    why: str
    when: When


def _unknown_holder(m: World, h: Holder | None, c: Any) -> bool:
    return h is None


def _role_may_not(m: World, h: Holder | None, c: Any) -> bool:
    return c.role not in MAY_ASK[c.name]


UNKNOWN_HOLDER = Row(
    "holder_not_found", "no holder with that resident ID is registered", _unknown_holder
)
WRONG_ROLE = Row("invalid_command", "the actor's role may not ask for this", _role_may_not)


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


def _identity_check(c: Report) -> frozenset[str]:
    return HOLDER_ID | (AGENT_ID if c.applicant == AGENT else frozenset())


REFUSALS: dict[str, tuple[Row, ...]] = {
    "issue": (
        Row(
            "invalid_input",
            "no policy for the region",
            lambda m, h, c: c.region_code not in m.regions,
        ),
        WRONG_ROLE,
        Row(
            "holder_already_registered",
            "the holder has a card already",
            lambda m, h, c: h is not None,
        ),
        Row(
            "card_number_in_use",
            "the card number is someone's",
            lambda m, h, c: c.card in m.card_owner,
        ),
    ),
    "pre_report": (
        UNKNOWN_HOLDER,
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
        Row(
            "replacement_case_open",
            "a replacement is under way",
            lambda m, h, c: h.case is not None,
        ),
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
        UNKNOWN_HOLDER,
        WRONG_ROLE,
        Row(
            "formal_report_irreversible",
            "the loss was formally reported",
            lambda m, h, c: h.case is not None,
        ),
        Row("no_open_pre_report", "nothing to cancel", lambda m, h, c: h.pre_report is None),
    ),
    "authorize": (
        UNKNOWN_HOLDER,
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
                and age_on(h.born, business_date(c.at)) < h.region.elderly_from_age
            ),
        ),
        Row(
            "documents_missing",
            "the region's proxy documents are not all there",
            lambda m, h, c: not h.region.proxy_documents(c.grounds) <= c.documents,
        ),
    ),
    "report": (
        UNKNOWN_HOLDER,
        WRONG_ROLE,
        Row(
            "replacement_case_open",
            "a replacement is under way",
            lambda m, h, c: h.case is not None,
        ),
        Row(
            "card_not_active",
            "the card is in no state to be replaced",
            lambda m, h, c: h.status not in (NORMAL, TEMPORARILY_LOST, CANCELLED, SEALED),
        ),
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
    ),
    "produce": (
        Row(
            "no_open_application",
            "no application ever carried the certificate",
            lambda m, h, c: h is None,
        ),
        WRONG_ROLE,
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
        ),
    ),
    "collect": (
        UNKNOWN_HOLDER,
        WRONG_ROLE,
        Row("no_open_application", "no replacement under way", lambda m, h, c: h.case is None),
        Row(
            "certificate_mismatch",
            "not this application's certificate",
            lambda m, h, c: h.case.certificate != c.certificate,
        ),
        Row("card_not_produced", "collected already", lambda m, h, c: h.case.collected),
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
        UNKNOWN_HOLDER,
        WRONG_ROLE,
        Row("card_not_sealed", "not the holder's current card", lambda m, h, c: c.card != h.card),
        Row("card_not_sealed", "only a collected, sealed card", lambda m, h, c: h.status != SEALED),
    ),
    "lapse": (
        Row(
            NOTHING,
            "no open pre-report of that version: cancelled, lapsed, made formal, or a stale entry",
            lambda m, h, c: h.pre_report is None or h.pre_report.version != c.version,
        ),
        Row(NOTHING, "the deadline has not come", lambda m, h, c: c.at < h.pre_report.lapses_at),
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
    )


def _pre_reported(m: World, h: Holder, c: PreReport, facts: dict[str, Any]) -> Holder:
    deadline = c.at + timedelta(days=h.region.lapse_days)
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
    "produce": _produced,
    "collect": _collected,
    "activate": _activated,
}

# What the recorded event must say, beyond what the state shows.
EVENT_FACTS: dict[str, Callable[[Holder, Any], dict[str, Any]]] = {
    "pre_report": lambda h, c: {
        "card_number": h.card,
        "lapses_at": c.at + timedelta(days=h.region.lapse_days),
        "lapse_outcome": "cancel" if h.region.lapse_cancels else "unblock",
    },
    "cancel": lambda h, c: {"card_number": h.card},
    "lapse": lambda h, c: {
        "card_number": h.card,
        "deadline": h.pre_report.lapses_at,
        "result": "cancelled" if h.pre_report.cancels else "unblocked",
    },
    "authorize": lambda h, c: {"agent_resident_id": c.agent, "scope": c.scope},
    "report": lambda h, c: {
        "card_number": h.card,
        "collection_outlet": c.collection_outlet,
        "fee_fen": 0 if c.fee_waived else h.region.fee_fen,
        "converting_medical_ic": h.card_kind == MEDICAL_INSURANCE_IC,
    },
    "produce": lambda h, c: {
        "new_card_number": c.new_card,
        "dispatched_to": h.case.collection_outlet,
    },
    "collect": lambda h, c: {"card_number": h.case.new_card, "certificate_number": c.certificate},
    "activate": lambda h, c: {"card_number": h.card},
}


# ---- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    code: str | None  # None: accepted; NOTHING: neither; else the refusal code
    why: str = "accepted"

    @property
    def accepted(self) -> bool:
        return self.code is None

    def __str__(self) -> str:
        if self.code is None:
            return "accept"
        return "record nothing" if self.code == NOTHING else f"refuse with {self.code} ({self.why})"


ACCEPT = Expectation(None)


@dataclass
class LifecycleModel:
    regions: dict[str, Region] = field(default_factory=packaged_regions)
    holders: dict[str, Holder] = field(default_factory=dict)
    card_owner: dict[str, str] = field(default_factory=dict)
    certificate_owner: dict[str, str] = field(default_factory=dict)

    def holder_for(self, c: Command) -> Holder | None:
        if isinstance(c, Produce):
            owner = self.certificate_owner.get(c.certificate)
            return None if owner is None else self.holders[owner]
        return self.holders.get(c.resident_id)

    def expect(self, c: Command) -> Expectation:
        """The first row of the command's table that applies, or acceptance."""
        h = self.holder_for(c)
        for row in REFUSALS[c.name]:
            if row.when(self, h, c):
                return Expectation(row.code, row.why)
        return ACCEPT

    def event_facts(self, c: Command) -> dict[str, Any]:
        """What the event recorded for ``c`` must carry (call before ``accept``)."""
        facts = EVENT_FACTS.get(c.name)
        return facts(self.holder_for(c), c) if facts else {}

    def accept(self, c: Command, **facts: Any) -> Holder:
        """Apply an accepted command. ``facts`` are what the office assigns and no rule decides
        (the certificate number it printed)."""
        h = self.holder_for(c)
        after = EFFECTS[c.name](self, h, c, facts)
        if h is not None:
            after = replace(after, version=h.version + 1)
        self.holders[after.resident_id] = after
        for number in after.card_numbers() | {after.case.new_card if after.case else None}:
            if number is not None:
                self.card_owner[number] = after.resident_id
        if after.case is not None:
            self.certificate_owner[after.case.certificate] = after.resident_id
        return after

    def due(self, at: datetime) -> set[tuple[str, int]]:
        """Open pre-reports whose deadline has come: what the lapse schedule must list."""
        return {
            (h.resident_id, h.pre_report.version)
            for h in self.holders.values()
            if h.pre_report is not None and h.pre_report.lapses_at <= at
        }
