"""What a command's request body holds: the facts of the act, never who acts or where (those come
from the token). Each is validated before anything reaches the store; a field that does not
validate is named in the 422 answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from domain.claims.events import Bill, ClaimDocument, RejectionReason


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClaimFiling(_Body):
    """A bill paid at a designated hospital while the holder's card was blocked."""

    hospital_code: str = Field(description="designated hospital code, e.g. H11010500007")
    treatment_date: date = Field(description="local date of treatment")
    invoice_number: str
    bill: Bill
    documents: list[ClaimDocument] = Field(min_length=1)
    certificate: str | None = Field(
        default=None, description="the collection certificate's number, when it was shown"
    )


class ClaimRejectionBody(_Body):
    reason: RejectionReason
    explanation: str = Field(description="what the holder is told (up to 500 characters)")


class ClaimPaymentBody(_Body):
    payment_reference: str = Field(description="the payment's reference (bank, fund)")


class ClaimWithdrawalBody(_Body):
    explanation: str | None = Field(default=None, description="why, in the holder's words")
