"""The service outlets (服务网点) the office knows: configuration, like the region policies.

Every outlet code a command names is checked against this registry, so a typo (``XX-NOPE-999``)
is refused at the door instead of becoming a collection outlet no card can ever reach. Whether an
outlet issues cards instantly (即时制卡) is a fact about the outlet, so it lives here too.
The packaged ``outlets.json`` holds sample outlets; an operator points ``SSCARD_OUTLETS`` at the
authority's own file.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from domain.config_files import ConfigFile
from domain.errors import InvalidInput
from domain.identifiers import OutletCode, RegionCode
from domain.values import Name, quote


class Outlet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: OutletCode
    region_code: RegionCode
    name: Name
    instant_issue: bool = False


class OutletRegistry(ConfigFile):
    KIND = "outlet file"
    PACKAGED = "outlets.json"

    outlets: tuple[Outlet, ...] = Field(min_length=1)
    _by_code: dict[str, Outlet] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:  # noqa: ARG002 (pydantic's hook)
        self._by_code = {o.code: o for o in self.outlets}

    @model_validator(mode="after")
    def _unique_codes(self) -> Self:
        codes = [o.code for o in self.outlets]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"outlet codes configured twice: {', '.join(duplicates)}")
        return self

    def outlet(self, code: str) -> Outlet:
        """The outlet with this code, or ``InvalidInput`` naming the unknown code."""
        found = self._by_code.get(code)
        if found is None:
            raise InvalidInput(f"unknown outlet {quote(code)}: no such outlet is configured")
        return found

    def production_days_at(self, code: str, working_days: int) -> int:
        """Instant-issue outlets (即时制卡) produce the card the same day."""
        return 0 if self.outlet(code).instant_issue else working_days
