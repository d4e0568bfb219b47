"""Money and the fund's share of a bill.

Money is an integer number of fen (1 yuan = 100 fen), never a float: people type yuan with at most
two decimals, parsed exactly, and see yuan with two places. The fund's share is computed with
integer arithmetic only, and every step is kept so the approved event shows how it was reached.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import InvalidInput
from domain.region_policy import BASIS_POINTS, ReimbursementPolicy

# A bill above a hundred million yuan is a typing error, not a hospital visit.
MAX_FEN = 10_000_000_000

# Strict: a float (or a string) is refused, never rounded into fen.
Fen = Annotated[int, Field(ge=0, le=MAX_FEN, strict=True)]
PositiveFen = Annotated[int, Field(ge=1, le=MAX_FEN, strict=True)]

_YUAN_SHAPE = re.compile(r"^[0-9]{1,8}(\.[0-9]{1,2})?$", re.ASCII)


def parse_yuan(text: str, what: str = "amount") -> int:
    """``"1234.5"`` -> 123450 fen, exactly. Refuses negatives, NaN, exponents, a third decimal."""
    candidate = text.strip()
    shown = candidate[:40]
    try:
        value = Decimal(candidate)
    except InvalidOperation:
        raise InvalidInput(f"{what} {shown!r} is not a number of yuan (e.g. 1234.50)") from None
    if not value.is_finite():
        raise InvalidInput(f"{what} {shown!r} is not a number of yuan (e.g. 1234.50)")
    if value.is_signed():
        raise InvalidInput(f"{what} {shown!r} must not be negative")
    if not _YUAN_SHAPE.match(candidate):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise InvalidInput(f"{what} {shown!r} has more than 2 decimal places (fen)")
        raise InvalidInput(
            f"{what} {shown!r} must be written as yuan with at most 2 decimals, e.g. 1234.50"
        )
    fen = value * 100
    assert fen == fen.to_integral_value()
    return int(fen)


def format_yuan(fen: int) -> str:
    """123450 -> ``"1234.50"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def check_bill(total_fen: int, in_scope_fen: int, fully_self_paid_fen: int) -> None:
    """A bill: a positive total; a positive amount within policy scope; the fully self-paid part
    (全自费, never reimbursed) and the in-scope amount together no more than the total."""
    if total_fen <= 0:
        raise ValueError("the bill's total must be positive")
    if in_scope_fen <= 0:
        raise ValueError("the amount within policy scope must be positive")
    if in_scope_fen > total_fen:
        raise ValueError(
            f"the amount within policy scope ({format_yuan(in_scope_fen)}) exceeds the total "
            f"({format_yuan(total_fen)})"
        )
    if in_scope_fen + fully_self_paid_fen > total_fen:
        raise ValueError(
            f"in-scope ({format_yuan(in_scope_fen)}) plus fully self-paid "
            f"({format_yuan(fully_self_paid_fen)}) exceed the total ({format_yuan(total_fen)})"
        )


def share_at_ratio(amount_fen: int, ratio_basis_points: int) -> int:
    """``amount x ratio``, rounded half up to the fen (四舍五入), in integers only."""
    return (amount_fen * ratio_basis_points + BASIS_POINTS // 2) // BASIS_POINTS


class Computation(BaseModel):
    """How an approved claim's payable amount was reached, one line per step.

    The first six fields are the inputs (the bill, the region's policy, what the holder's earlier
    claims of the same year already consumed); the rest are derived from them, and a stored
    computation that does not add up is refused on load.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_scope_fen: PositiveFen
    deductible_fen: Fen
    deductible_used_before_fen: Fen
    ratio_basis_points: Annotated[int, Field(ge=1, le=BASIS_POINTS)]
    annual_cap_fen: PositiveFen
    paid_before_fen: Fen
    deductible_applied_fen: Fen
    eligible_fen: Fen
    fund_share_fen: Fen
    cap_remaining_fen: Fen
    payable_fen: Fen

    @classmethod
    def of(
        cls,
        in_scope_fen: int,
        policy: ReimbursementPolicy,
        deductible_used_before_fen: int,
        paid_before_fen: int,
    ) -> Computation:
        inputs = {
            "in_scope_fen": in_scope_fen,
            "deductible_fen": policy.deductible_fen,
            "deductible_used_before_fen": deductible_used_before_fen,
            "ratio_basis_points": policy.ratio_basis_points,
            "annual_cap_fen": policy.annual_cap_fen,
            "paid_before_fen": paid_before_fen,
        }
        return cls(**inputs, **_steps(**inputs))

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        expected = _steps(
            in_scope_fen=self.in_scope_fen,
            deductible_fen=self.deductible_fen,
            deductible_used_before_fen=self.deductible_used_before_fen,
            ratio_basis_points=self.ratio_basis_points,
            annual_cap_fen=self.annual_cap_fen,
            paid_before_fen=self.paid_before_fen,
        )
        for name, value in expected.items():
            if getattr(self, name) != value:
                raise ValueError(f"the computation does not add up at {name}")
        return self

    def lines(self) -> list[tuple[str, str]]:
        """The computation as a claims officer reads it: (what, yuan or rule), in order."""
        deductible_remaining = max(self.deductible_fen - self.deductible_used_before_fen, 0)
        percent = Decimal(self.ratio_basis_points) / 100
        return [
            ("amount within policy scope", format_yuan(self.in_scope_fen)),
            (
                "annual deductible",
                f"{format_yuan(self.deductible_fen)}, used earlier this year "
                f"{format_yuan(self.deductible_used_before_fen)}, remaining "
                f"{format_yuan(deductible_remaining)}",
            ),
            ("deductible applied to this bill", format_yuan(self.deductible_applied_fen)),
            ("eligible = in scope - deductible applied", format_yuan(self.eligible_fen)),
            (
                f"fund share = eligible x {percent.normalize():f} %, half up",
                format_yuan(self.fund_share_fen),
            ),
            (
                "annual cap",
                f"{format_yuan(self.annual_cap_fen)}, paid earlier this year "
                f"{format_yuan(self.paid_before_fen)}, remaining "
                f"{format_yuan(self.cap_remaining_fen)}",
            ),
            ("payable = min(fund share, cap remaining)", format_yuan(self.payable_fen)),
        ]


def _steps(
    in_scope_fen: int,
    deductible_fen: int,
    deductible_used_before_fen: int,
    ratio_basis_points: int,
    annual_cap_fen: int,
    paid_before_fen: int,
) -> dict[str, int]:
    """The pooled fund pays (in scope - remaining deductible) x ratio, up to the remaining cap."""
    deductible_remaining = max(deductible_fen - deductible_used_before_fen, 0)
    deductible_applied = min(in_scope_fen, deductible_remaining)
    eligible = in_scope_fen - deductible_applied
    fund_share = share_at_ratio(eligible, ratio_basis_points)
    cap_remaining = max(annual_cap_fen - paid_before_fen, 0)
    return {
        "deductible_applied_fen": deductible_applied,
        "eligible_fen": eligible,
        "fund_share_fen": fund_share,
        "cap_remaining_fen": cap_remaining,
        "payable_fen": min(fund_share, cap_remaining),
    }
