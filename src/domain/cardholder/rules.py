"""Every rule of the card lifecycle, each in the one function named after it.

A rule either returns what the decision needs or raises the typed error that says why not.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, tzinfo

from domain.cardholder.errors import (
    AgentNotAuthorized,
    AlreadyProduced,
    CardAlreadyCollected,
    CardAlreadySuspended,
    CardNotActive,
    CardNotCollected,
    CardNotHeld,
    CardNotProduced,
    CardNotSealed,
    CertificateMismatch,
    DocumentsMissing,
    FormalReportIrreversible,
    HolderAlreadyRegistered,
    HolderDataErased,
    InvalidCommand,
    NoOpenApplication,
    NoOpenPreReport,
    PhotoRequired,
    ProxyNotAllowed,
    ReplacementCaseOpen,
    WrongCollectionOutlet,
)
from domain.cardholder.events import (
    Applicant,
    CardKind,
    DamageCause,
    FeeWaiver,
    IdentityDocument,
    ProxyScope,
)
from domain.cardholder.state import (
    Card,
    Cardholder,
    CardStatus,
    CaseKind,
    PreReport,
    ProxyAuthorization,
    ReplacementCase,
)
from domain.identifiers import birth_date_of, mask_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds, RegionPolicy

# Lost while normal or pre-reported, cancelled by a lapse, or lost after collection but
# before activation: each of these may be formally reported and replaced.
_REPLACEABLE = frozenset(
    {CardStatus.NORMAL, CardStatus.TEMPORARILY_LOST, CardStatus.CANCELLED, CardStatus.SEALED}
)

_COUNTER_IDENTITY = frozenset(
    {IdentityDocument.RESIDENT_ID_CARD, IdentityDocument.HOUSEHOLD_REGISTER}
)


def _how_replaced(case: ReplacementCase, zone: tzinfo) -> str:
    """How the old card left: reported lost or surrendered as damaged, on the region's date."""
    how = "formally reported lost" if case.kind is CaseKind.LOSS else "surrendered as damaged"
    return f"card {case.old_card_number} was {how} on {case.applied_at.astimezone(zone):%Y-%m-%d}"


def _case_under_way(case: ReplacementCase, zone: tzinfo) -> ReplacementCaseOpen:
    return ReplacementCaseOpen(
        f"{_how_replaced(case, zone)} and its replacement (certificate "
        f"{case.certificate_number}) is under way"
    )


def not_erased(holder: Cardholder, zone: tzinfo) -> None:
    """An erased holder's record is closed: it stays auditable, but records nothing more."""
    if holder.erased_at is not None:
        raise HolderDataErased(
            f"the holder's personal data was erased on "
            f"{holder.erased_at.astimezone(zone):%Y-%m-%d}; "
            "their record is closed and accepts no further commands"
        )


def can_register(holder: Cardholder | None, issued_on: date, today: date, zone: tzinfo) -> None:
    """A holder is registered once, with a card issued no later than today."""
    if holder is not None:
        not_erased(holder, zone)
        raise HolderAlreadyRegistered(
            f"cardholder {mask_resident_id(holder.resident_id)} is already registered"
        )
    if issued_on > today:
        raise InvalidCommand(f"a card cannot be issued in the future ({issued_on} > {today})")


def can_pre_report(holder: Cardholder, zone: tzinfo) -> Card:
    """A pre-report needs an active card whose settlement is not already suspended."""
    if holder.case is not None:
        raise _case_under_way(holder.case, zone)
    if holder.card.status is CardStatus.TEMPORARILY_LOST:
        raise CardAlreadySuspended(
            f"card {holder.card.number} is already pre-reported lost; settlement is suspended"
        )
    if holder.card.status is not CardStatus.NORMAL:
        raise CardNotActive(
            f"card {holder.card.number} is {holder.card.status.value}, not active; "
            "only an active card can be pre-reported lost"
        )
    return holder.card


def can_cancel_pre_report(holder: Cardholder, zone: tzinfo) -> PreReport:
    """Cancelling (解挂) needs an open pre-report that has not been made formal."""
    case = holder.case
    if case is not None and case.kind is CaseKind.LOSS:
        raise FormalReportIrreversible(
            f"{_how_replaced(case, zone)}; a formal report is irreversible and cannot be cancelled"
        )
    if case is not None:
        raise NoOpenPreReport(
            f"{_how_replaced(case, zone)}, never reported lost: there is no loss pre-report "
            "to cancel"
        )
    if holder.pre_report is None:
        raise NoOpenPreReport(f"card {holder.card.number} has no open loss pre-report to cancel")
    return holder.pre_report


def due_lapse(holder: Cardholder, pre_report_version: int, now: datetime) -> PreReport | None:
    """The pre-report that lapses now, or None when it was already dealt with.

    None (not an error) because the lapse is raised by the system and must happen exactly once:
    a second tick, or a tick racing a cancellation, simply finds nothing to do.
    """
    pre_report = holder.pre_report
    if pre_report is None or pre_report.version != pre_report_version:
        return None
    if now < pre_report.lapses_at:
        return None
    return pre_report


def check_proxy_authorization(
    holder: Cardholder,
    policy: RegionPolicy,
    agent_resident_id: str,
    grounds: ProxyGrounds,
    documents: Collection[ProxyDocument],
    today: date,
) -> None:
    """Whether the region lets this holder send an agent, with these documents."""
    if agent_resident_id == holder.resident_id:
        raise InvalidCommand("the agent must be someone other than the cardholder")
    rules = policy.proxy
    if rules.allowed_grounds is not None and grounds not in rules.allowed_grounds:
        allowed = ", ".join(sorted(g.value for g in rules.allowed_grounds))
        raise ProxyNotAllowed(
            f"region {policy.region_code} ({policy.name}) accepts agents only on these "
            f"grounds: {allowed}; got {grounds.value}"
        )
    if grounds is ProxyGrounds.ELDERLY:
        age = _age_on(birth_date_of(holder.resident_id), today)
        if age < rules.elderly_from_age:
            raise ProxyNotAllowed(
                f"the holder is {age}; region {policy.region_code} counts as elderly from "
                f"{rules.elderly_from_age}"
            )
    required = set(rules.required_documents())
    if grounds is ProxyGrounds.LIMITED_MOBILITY:
        required.add(ProxyDocument.MOBILITY_PROOF)
    _require_documents(required, documents, f"a proxy authorization in {policy.name}")


def agent_may(holder: Cardholder, agent_resident_id: str, scope: ProxyScope) -> ProxyAuthorization:
    """An agent may act only after the holder authorized them for this step."""
    for authorization in reversed(holder.proxies):
        if authorization.agent_resident_id == agent_resident_id and scope in authorization.scope:
            return authorization
    raise AgentNotAuthorized(
        f"agent {mask_resident_id(agent_resident_id)} holds no proxy authorization to "
        f"{scope.value} for this cardholder"
    )


def identity_documents_for(applicant: Applicant) -> frozenset[ProxyDocument]:
    """What the clerk must see for a formal report: original and photocopy of every ID card."""
    documents = {ProxyDocument.HOLDER_ID_ORIGINAL, ProxyDocument.HOLDER_ID_COPY}
    if applicant is Applicant.AGENT:
        documents |= {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}
    return frozenset(documents)


def can_report_formally(
    holder: Cardholder,
    applicant: Applicant,
    agent_resident_id: str | None,
    identity_documents: Collection[ProxyDocument],
    zone: tzinfo,
) -> Card:
    """A formal report needs no open case, a replaceable card and a passed identity check."""
    if holder.case is not None:
        raise _case_under_way(holder.case, zone)
    if holder.card.status not in _REPLACEABLE:
        raise CardNotActive(
            f"card {holder.card.number} is {holder.card.status.value} and cannot be replaced"
        )
    check_applicant(holder, applicant, agent_resident_id, ProxyScope.APPLY)
    _require_documents(identity_documents_for(applicant), identity_documents, "the identity check")
    return holder.card


def check_applicant(
    holder: Cardholder,
    applicant: Applicant,
    agent_resident_id: str | None,
    scope: ProxyScope,
) -> None:
    if applicant is Applicant.HOLDER:
        if agent_resident_id is not None:
            raise InvalidCommand("an agent ID number was given but the holder acts in person")
        return
    if agent_resident_id is None:
        raise InvalidCommand("an agent acts: the agent's resident ID number is required")
    agent_may(holder, agent_resident_id, scope)


def can_replace_damaged(
    holder: Cardholder,
    applicant: Applicant,
    agent_resident_id: str | None,
    identity_documents: Collection[ProxyDocument],
    zone: tzinfo,
) -> Card:
    """A damaged card is exchanged when it is the holder's active card, no case is open, and the
    identity check passes. A card pre-reported lost takes the loss path (a formal report)."""
    if holder.case is not None:
        raise _case_under_way(holder.case, zone)
    if holder.card.status is not CardStatus.NORMAL:
        raise CardNotActive(
            f"card {holder.card.number} is {holder.card.status.value}; only an active card is "
            "exchanged as damaged (a card reported lost is replaced after a formal report)"
        )
    check_applicant(holder, applicant, agent_resident_id, ProxyScope.APPLY)
    _require_documents(identity_documents_for(applicant), identity_documents, "the identity check")
    return holder.card


def damaged_card_fee(policy: RegionPolicy, cause: DamageCause) -> int:
    """The fee in fen for exchanging a damaged card: waived when the card itself failed or its
    data was wrong through no fault of the holder."""
    if cause is DamageCause.WEAR_OR_ACCIDENT:
        return policy.damaged_card_fee
    return 0


def replacement_fee(policy: RegionPolicy, waiver: FeeWaiver | None) -> int:
    """The fee in fen: the region's fee, waived for defects and errors not caused by the holder."""
    return 0 if waiver is not None else policy.replacement_fee_fen


def check_photo(card: Card, photo_provided: bool) -> bool:
    """Converting a medical-insurance IC card needs a one-inch colour photo.

    Returns whether this replacement is such a conversion."""
    converting = card.kind is CardKind.MEDICAL_INSURANCE_IC
    if converting and not photo_provided:
        raise PhotoRequired(
            f"card {card.number} is a medical-insurance IC card: converting it needs a one-inch "
            "colour photo (the 2nd-generation ID card photo)"
        )
    return converting


def open_application(holder: Cardholder, certificate_number: str) -> ReplacementCase:
    if holder.case is None:
        raise NoOpenApplication("the cardholder has no open replacement application")
    if holder.case.certificate_number != certificate_number:
        raise CertificateMismatch(
            f"collection certificate {certificate_number} does not match the open application"
        )
    return holder.case


def can_produce(
    holder: Cardholder, certificate_number: str, new_card_number: str
) -> ReplacementCase | None:
    """Production needs an open application. Returns None for an identical retry (idempotent)."""
    case = open_application(holder, certificate_number)
    if case.new_card_number is not None:
        if case.new_card_number == new_card_number:
            return None
        raise AlreadyProduced(
            f"the card for certificate {certificate_number} was already produced as "
            f"{case.new_card_number}"
        )
    if new_card_number in holder.known_card_numbers():
        raise InvalidCommand(
            f"card number {new_card_number} was used before; a replacement gets a new number"
        )
    return case


def can_collect(
    holder: Cardholder,
    certificate_number: str,
    outlet: str,
    collector: Applicant,
    agent_resident_id: str | None,
    identity_document: IdentityDocument,
) -> ReplacementCase:
    """Collection needs a produced card, the matching certificate, the right outlet and the
    holder in person or an agent authorized to collect."""
    case = open_application(holder, certificate_number)
    if case.collected_at is not None:
        raise CardAlreadyCollected(
            f"the card for certificate {certificate_number} was already collected on "
            f"{case.collected_at:%Y-%m-%d}"
        )
    if case.new_card_number is None:
        raise CardNotProduced(
            f"the card for certificate {certificate_number} has not been produced yet "
            f"(due {case.production_due_on:%Y-%m-%d})"
        )
    if outlet != case.collection_outlet:
        raise WrongCollectionOutlet(
            f"the card was dispatched to outlet {case.collection_outlet}, not {outlet}"
        )
    check_applicant(holder, collector, agent_resident_id, ProxyScope.COLLECT)
    if identity_document not in _COUNTER_IDENTITY:
        raise DocumentsMissing(
            "collecting a card needs an ID card or household register shown at the counter"
        )
    return case


def can_activate(holder: Cardholder, card_number: str) -> Card:
    """Only the collected, sealed (封存) card can be activated (启用)."""
    case = holder.case
    if case is not None and case.new_card_number == card_number and case.collected_at is None:
        raise CardNotCollected(
            f"card {card_number} has not been collected yet; it is activated after collection"
        )
    if holder.card.number != card_number:
        raise CardNotHeld(f"card {card_number} is not the holder's current card")
    if holder.card.status is not CardStatus.SEALED:
        raise CardNotSealed(
            f"card {card_number} is {holder.card.status.value}; only a collected, sealed card "
            "can be activated"
        )
    return holder.card


def _require_documents(
    required: Collection[ProxyDocument], presented: Collection[ProxyDocument], purpose: str
) -> None:
    missing = sorted(d.value for d in required if d not in presented)
    if missing:
        raise DocumentsMissing(f"{purpose} needs: {', '.join(missing)}")


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
