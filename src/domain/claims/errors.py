"""Why a claim command is refused. Each error names the rule it enforces; nothing was written."""

from __future__ import annotations

from domain.errors import InvalidInput, NotFound, RuleViolation


class ClaimNotFound(NotFound):
    code = "claim_not_found"


class NotAuthorized(InvalidInput):
    """The actor's role may not issue this command (or not through this channel)."""

    code = "not_authorized"


class NoReimbursementPolicy(RuleViolation):
    code = "no_reimbursement_policy"


class TreatmentInFuture(RuleViolation):
    code = "treatment_in_future"


class TreatmentOutsideWindow(RuleViolation):
    code = "treatment_outside_window"


class HospitalNotDesignated(RuleViolation):
    code = "hospital_not_designated"


class InvoiceAlreadyClaimed(RuleViolation):
    code = "invoice_already_claimed"


class FilingDeadlinePassed(RuleViolation):
    code = "filing_deadline_passed"


class ClaimDocumentsMissing(RuleViolation):
    code = "claim_documents_missing"


class CertificateNotHolders(RuleViolation):
    code = "certificate_not_holders"


class ClaimNotHolders(RuleViolation):
    code = "claim_not_holders"


class ClaimAlreadyDecided(RuleViolation):
    code = "claim_already_decided"


class ClaimNotPayable(RuleViolation):
    code = "claim_not_payable"


class ClaimDetailsErased(RuleViolation):
    """The claim's holder was erased: its medical details are gone, so it cannot be decided."""

    code = "holder_erased"
