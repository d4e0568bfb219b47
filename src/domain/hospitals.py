"""Designated medical institutions (定点医疗机构): where a blocked card's holder may be treated and
later reimbursed.

A registry, like region policies, is configuration: the packaged ``hospitals.json`` holds sample
entries; an operator replaces it with the authority's own list (``SSCARD_HOSPITAL_REGISTRY``),
loaded by the composition root. A code is ``H`` + the 6-digit region code of the fund that
designated the institution + a 5-digit sequence (the national medical-insurance code's shape).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from domain.config_files import ConfigFile
from domain.identifiers import RegionCode, validate_shape

_HOSPITAL_CODE_SHAPE = re.compile(r"^H[1-9][0-9]{5}[0-9]{5}$", re.ASCII)


def validate_hospital_code(value: str) -> str:
    return validate_shape(
        "hospital code",
        _HOSPITAL_CODE_SHAPE,
        "H, the 6-digit region code, then a 5-digit sequence (e.g. H11010100001)",
        value.strip().upper()[:40],
    )


HospitalCode = Annotated[str, AfterValidator(validate_hospital_code)]


class Hospital(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: HospitalCode
    name: Annotated[str, Field(min_length=1, max_length=80)]
    region_code: RegionCode

    @model_validator(mode="after")
    def _code_names_its_region(self) -> Hospital:
        if self.code[1:7] != self.region_code:
            raise ValueError(
                f"hospital {self.code} carries region {self.code[1:7]} but is listed under "
                f"{self.region_code}"
            )
        return self


class HospitalRegistry(ConfigFile):
    """Every designated institution, by code."""

    KIND = "hospital registry"
    PACKAGED = "hospitals.json"

    hospitals: tuple[Hospital, ...]

    @model_validator(mode="after")
    def _unique_codes(self) -> HospitalRegistry:
        codes = [h.code for h in self.hospitals]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"hospital codes listed twice: {', '.join(duplicates)}")
        return self

    def find(self, code: str) -> Hospital | None:
        wanted = validate_hospital_code(code)
        return next((h for h in self.hospitals if h.code == wanted), None)
