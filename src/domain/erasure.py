"""The erasure marker: what a personal field reads as once its holder's data key is destroyed.

After ``sscard holder erase`` (crypto-shredding) the store still holds the holder's events, but
their personal fields can no longer be decrypted; the store's mapper yields ``ERASED`` in their
place. The marker is a valid value of a stored event's personal field only when the record
comes from an erased holder: the mapper validates such records with ``ERASED_CONTEXT``, and
``Erased`` refuses the marker in any other context (a command, a record of a living holder).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator

ERASED: Final = "[erased]"
# The pydantic validation context the mapper passes for an erased holder's records.
ERASED_CONTEXT: Final[dict[str, Any]] = {"erased": True}


def from_erased_record(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and context.get("erased") is True


def _only_in_erased_records(value: str, info: ValidationInfo) -> str:
    if not from_erased_record(info):
        raise ValueError(f"{ERASED!r} is accepted only from an erased holder's stored record")
    return value


# The marker's type in states built from records (what a personal field may hold once erased).
ErasedMarker = Literal["[erased]"]
Erased = Annotated[ErasedMarker, AfterValidator(_only_in_erased_records)]


def _marker_first(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """The marker of an erased record is taken as is, before the field's own validators run
    (an ID number's validator would refuse it as a malformed number)."""
    if value == ERASED and from_erased_record(info):
        return value
    return handler(value)


# Put on a personal field typed ``X | Erased``: ``Annotated[X | Erased, ERASABLE]``.
ERASABLE = WrapValidator(_marker_first)


def is_erased(value: object) -> bool:
    return value == ERASED
