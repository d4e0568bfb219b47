"""Why a cardholder command is refused. Each error names the rule it enforces."""

from __future__ import annotations

from domain.errors import InvalidInput, NotFound, RuleViolation


class HolderNotFound(NotFound):
    code = "holder_not_found"


class HolderAlreadyRegistered(RuleViolation):
    code = "holder_already_registered"


class CardNumberInUse(RuleViolation):
    code = "card_number_in_use"


class CardNotActive(RuleViolation):
    code = "card_not_active"


class CardAlreadySuspended(RuleViolation):
    code = "card_already_suspended"


class NoOpenPreReport(RuleViolation):
    code = "no_open_pre_report"


class FormalReportIrreversible(RuleViolation):
    code = "formal_report_irreversible"


class ReplacementCaseOpen(RuleViolation):
    code = "replacement_case_open"


class NoOpenApplication(RuleViolation):
    code = "no_open_application"


class AlreadyProduced(RuleViolation):
    code = "already_produced"


class CardNotProduced(RuleViolation):
    code = "card_not_produced"


class CardAlreadyCollected(RuleViolation):
    code = "card_already_collected"


class CardNotCollected(RuleViolation):
    code = "card_not_collected"


class CardNotHeld(RuleViolation):
    code = "card_not_held"


class CertificateMismatch(RuleViolation):
    code = "certificate_mismatch"


class WrongCollectionOutlet(RuleViolation):
    code = "wrong_collection_outlet"


class CardNotSealed(RuleViolation):
    code = "card_not_sealed"


class AgentNotAuthorized(RuleViolation):
    code = "agent_not_authorized"


class ProxyNotAllowed(RuleViolation):
    code = "proxy_not_allowed"


class DocumentsMissing(RuleViolation):
    code = "documents_missing"


class PhotoRequired(RuleViolation):
    code = "photo_required"


class InvalidCommand(InvalidInput):
    code = "invalid_command"


class HolderDataErased(RuleViolation):
    """The holder's personal data was erased (crypto-shredded): the record is closed."""

    code = "holder_erased"
