"""Identifiers validated at every boundary.

The resident ID number (GB 11643-1999) is the social security number: 6-digit region code,
8-digit birth date, 3-digit sequence and an ISO 7064 MOD 11-2 check character. Card numbers,
outlet codes, staff ids and certificate numbers are opaque to us but have a fixed shape, so a
typo is refused at the door instead of being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from domain.erasure import ERASED
from domain.errors import InvalidInput
from domain.values import quote

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# re.ASCII: \d would also match Arabic-Indic and other Unicode digits, which no ID card carries.
_RESIDENT_ID_SHAPE = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_CARD_NUMBER_SHAPE = re.compile(r"^[0-9A-Z]{9}$", re.ASCII)
_OUTLET_CODE_SHAPE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,23}$", re.ASCII)
_STAFF_ID_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$", re.ASCII)
_REGION_CODE_SHAPE = re.compile(r"^[1-9]\d{5}$", re.ASCII)
_CERTIFICATE_SHAPE = re.compile(r"^[1-9]\d{5}-\d{10}$", re.ASCII)


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def validate_resident_id(value: str) -> str:
    """Return the canonical (upper-case X) resident ID number, or raise ``InvalidInput``."""
    candidate = value.strip().upper()
    if not _RESIDENT_ID_SHAPE.match(candidate):
        raise InvalidInput(_resident_id_shape_error(candidate))
    birth = candidate[6:14]
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        raise InvalidInput(f"resident ID number has an impossible birth date {birth}") from None
    # A day's slack: the number is checked against the UTC date, the holder was born in China.
    if born.year < 1900 or born > datetime.now(UTC).date() + timedelta(days=1):
        raise InvalidInput(f"resident ID number has an impossible birth date {birth}")
    expected = resident_id_check_char(candidate[:17])
    if candidate[17] != expected:
        raise InvalidInput(
            f"resident ID number {mask_resident_id(candidate)} fails its check character "
            f"(expected {expected}, got {candidate[17]})"
        )
    return candidate


def _resident_id_shape_error(candidate: str) -> str:
    """Say exactly what is wrong with the shape, without echoing the number."""
    if len(candidate) != 18:
        return f"resident ID number must be 18 characters, got {len(candidate)}"
    if not all(c in "0123456789" for c in candidate[:17]):
        return "resident ID number: the first 17 characters must be the digits 0-9"
    return "resident ID number: the check character (the 18th) must be 0-9 or X"


def compose_resident_id(region_code: str, born: date, sequence: int) -> str:
    """The valid resident ID number for these parts (used by imports, the demo and tests)."""
    first17 = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def birth_date_of(resident_id: str) -> date:
    return date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))


def mask_resident_id(value: str) -> str:
    """Keep the region code and the check character, hide the birth date and sequence."""
    if value == ERASED:
        return ERASED
    if len(value) < 8:
        return "*" * len(value)
    return f"{value[:6]}{'*' * (len(value) - 7)}{value[-1]}"


def mask_name(name: str) -> str:
    """Outlet views show the family name only: 张三丰 -> 张**."""
    if name == ERASED:
        return ERASED
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _shaped(kind: str, shape: re.Pattern[str], hint: str) -> AfterValidator:
    def check(value: str) -> str:
        return validate_shape(kind, shape, hint, value)

    return AfterValidator(check)


def _schema(shape: re.Pattern[str], description: str) -> WithJsonSchema:
    """What the published JSON Schema says of an identifier (the contract consumers code to)."""
    return WithJsonSchema({"type": "string", "pattern": shape.pattern, "description": description})


def validate_shape(kind: str, shape: re.Pattern[str], hint: str, value: str) -> str:
    candidate = value.strip()
    if not shape.match(candidate):
        raise InvalidInput(f"{kind} {quote(candidate)} is not valid: {hint}")
    return candidate


def validate_card_number(value: str) -> str:
    return validate_shape(
        "card number", _CARD_NUMBER_SHAPE, "9 characters, digits or A-Z", value.upper()
    )


def validate_region_code(value: str) -> str:
    return validate_shape(
        "region code", _REGION_CODE_SHAPE, "6-digit administrative region code", value
    )


def _resident_id(value: str) -> str:
    return validate_resident_id(value)


def _card_number(value: str) -> str:
    return validate_card_number(value)


def _region_code(value: str) -> str:
    return validate_region_code(value)


ResidentId = Annotated[
    str,
    AfterValidator(_resident_id),
    _schema(_RESIDENT_ID_SHAPE, "resident ID number (GB 11643-1999, check character verified)"),
]
CardNumber = Annotated[
    str, AfterValidator(_card_number), _schema(_CARD_NUMBER_SHAPE, "social security card number")
]
RegionCode = Annotated[
    str,
    AfterValidator(_region_code),
    _schema(_REGION_CODE_SHAPE, "administrative region code (GB/T 2260)"),
]
OutletCode = Annotated[
    str,
    _shaped("outlet code", _OUTLET_CODE_SHAPE, "3-24 characters of A-Z, 0-9 and '-'"),
    _schema(_OUTLET_CODE_SHAPE, "service outlet code"),
]
StaffId = Annotated[
    str,
    _shaped("staff id", _STAFF_ID_SHAPE, "2-32 characters of letters, digits, '.', '_', '-'"),
    _schema(_STAFF_ID_SHAPE, "staff id"),
]
CertificateNumber = Annotated[
    str,
    _shaped(
        "collection certificate number",
        _CERTIFICATE_SHAPE,
        "region code, '-', 10 digits (as printed on the certificate)",
    ),
    _schema(_CERTIFICATE_SHAPE, "collection certificate number (领卡凭证)"),
]


def holder_stream_id(resident_id: str, key: bytes) -> uuid.UUID:
    """The holder's stream id: a keyed hash of the resident ID number.

    Keyed (HMAC) rather than a plain uuid5 so that a holder id seen on a Kafka key cannot be
    reversed into an ID number by enumerating the small space of valid ID numbers.
    """
    digest = hmac.new(key, b"holder:" + resident_id.encode("ascii"), hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=5)
