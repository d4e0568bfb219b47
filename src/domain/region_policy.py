"""Regional practice as configuration: one ``RegionPolicy`` per administrative region code.

Rules never ask which city they are in; they ask the holder's region policy. The packaged
``regions.json`` holds sample policies for the regions DESIGN.md names; an operator replaces it
with the authority's own file (``SSCARD_REGION_POLICIES``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from domain.config_files import ConfigFile
from domain.errors import InvalidInput
from domain.identifiers import RegionCode, validate_region_code

# Every region of the mainland keeps Beijing time; a region's business dates (due dates, "today",
# deadlines shown to people) are taken in its zone while the store keeps UTC.
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class LapseOutcome(StrEnum):
    """What a pre-report that was neither cancelled nor formalised becomes at its deadline."""

    UNBLOCK = "unblock"  # 自然解挂: settlement resumes on the same card
    CANCEL = "cancel"  # 注销: the card is cancelled; the holder must apply for a replacement


class ProxyDocument(StrEnum):
    HOLDER_ID_ORIGINAL = "holder_id_original"
    HOLDER_ID_COPY = "holder_id_copy"
    AGENT_ID_ORIGINAL = "agent_id_original"
    AGENT_ID_COPY = "agent_id_copy"
    POWER_OF_ATTORNEY = "power_of_attorney"
    RELATIONSHIP_PROOF = "relationship_proof"
    MOBILITY_PROOF = "mobility_proof"


class ProxyGrounds(StrEnum):
    """Why the holder does not come in person; some regions accept only the first two."""

    ELDERLY = "elderly"
    LIMITED_MOBILITY = "limited_mobility"
    OTHER = "other"


_ALWAYS_REQUIRED = frozenset(
    {
        ProxyDocument.HOLDER_ID_ORIGINAL,
        ProxyDocument.HOLDER_ID_COPY,
        ProxyDocument.AGENT_ID_ORIGINAL,
        ProxyDocument.AGENT_ID_COPY,
    }
)


class ProxyRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requires_power_of_attorney: bool = False
    requires_relationship_proof: bool = False
    # None: anyone may send an agent. Otherwise only holders on these grounds may.
    allowed_grounds: frozenset[ProxyGrounds] | None = None
    elderly_from_age: Annotated[int, Field(ge=50, le=100)] = 70

    def required_documents(self) -> frozenset[ProxyDocument]:
        required = set(_ALWAYS_REQUIRED)
        if self.requires_power_of_attorney:
            required.add(ProxyDocument.POWER_OF_ATTORNEY)
        if self.requires_relationship_proof:
            required.add(ProxyDocument.RELATIONSHIP_PROOF)
        return frozenset(required)


# Ten thousand basis points are 100 %: ratios stay exact integers, never floats.
BASIS_POINTS = 10_000


class ReimbursementPolicy(BaseModel):
    """How the region's pooled fund repays bills paid out of pocket while a card was blocked.

    Money in integer fen. The fund pays (in-scope amount - remaining deductible (起付线)) x ratio,
    up to what is left of the annual cap (最高支付限额); deductible and cap are per holder and
    calendar year.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    deductible_fen: Annotated[int, Field(ge=0, le=10_000_000)]
    ratio_basis_points: Annotated[int, Field(ge=1, le=BASIS_POINTS)]
    annual_cap_fen: Annotated[int, Field(ge=1, le=1_000_000_000)]
    # Counted in calendar days from the treatment date (local time) to the day of filing.
    filing_deadline_days: Annotated[int, Field(ge=1, le=3660)]


class RegionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region_code: RegionCode
    name: str
    lapse_days: Annotated[int, Field(ge=1, le=90)]
    lapse_outcome: LapseOutcome
    production_working_days: Annotated[int, Field(ge=0, le=120)]
    replacement_fee_fen: Annotated[int, Field(ge=0)]
    # Exchanging a damaged card (损坏换卡); None: the same as a replacement after a loss.
    damaged_card_fee_fen: Annotated[int, Field(ge=0)] | None = None
    proxy: ProxyRules = ProxyRules()
    # Business dates (due dates, treatment days, deadlines, the benefit year) are local dates.
    time_zone: str = DEFAULT_TIME_ZONE
    # None: the region takes no reimbursement claims through this office.
    reimbursement: ReimbursementPolicy | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value[:40]!r} (an IANA name)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def damaged_card_fee(self) -> int:
        return (
            self.replacement_fee_fen
            if self.damaged_card_fee_fen is None
            else self.damaged_card_fee_fen
        )


class RegionPolicies(ConfigFile):
    """All configured regions. A city without its own entry inherits its province's."""

    KIND = "region policy file"
    PACKAGED = "regions.json"

    regions: tuple[RegionPolicy, ...]
    # Region code -> its policy, filled as codes are asked for (every command asks).
    _resolved: dict[str, RegionPolicy] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_codes(self) -> RegionPolicies:
        codes = [r.region_code for r in self.regions]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"region codes configured twice: {', '.join(duplicates)}")
        return self

    def policy_for(self, region_code: str) -> RegionPolicy:
        """The region's own policy, else its prefecture's (xxxx00), else its province's (xx0000)."""
        known = self._resolved.get(region_code)
        if known is not None:
            return known
        code = validate_region_code(region_code)
        by_code = {r.region_code: r for r in self.regions}
        for candidate in (code, code[:4] + "00", code[:2] + "0000"):
            if candidate in by_code:
                self._resolved[region_code] = by_code[candidate]
                return by_code[candidate]
        raise InvalidInput(f"unknown region {code}: no region policy is configured for it")
