"""What every recorded event carries, and who acted.

Events are frozen pydantic models: they are the public contract (exported as JSON Schema), so
adding a field means bumping ``schema_version`` and writing an ``upcast_vN_vN+1`` static method
that the store's mapper calls on older records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import ClassVar, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator, model_validator

from domain.identifiers import OutletCode, StaffId


class Role(StrEnum):
    OUTLET_CLERK = "outlet_clerk"
    PRODUCTION_CENTRE = "production_centre"
    CLAIMS_OFFICER = "claims_officer"
    AUDITOR = "auditor"
    CARDHOLDER = "cardholder"  # self-service through a channel (12333 hotline, online)
    SYSTEM = "system"  # the back office itself, e.g. a pre-report lapsing at its deadline


class Channel(StrEnum):
    OUTLET = "outlet"
    HOTLINE_12333 = "hotline_12333"
    ONLINE = "online"


class Actor(BaseModel):
    """Who acted, on what authority: a member of staff, the holder via a channel, or the system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    staff_id: StaffId | None = None
    channel: Channel | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.role in (Role.CARDHOLDER, Role.SYSTEM):
            if self.staff_id is not None:
                raise ValueError(f"a {self.role.value} actor has no staff id")
        elif self.staff_id is None:
            raise ValueError(f"a {self.role.value} actor needs a staff id")
        if self.role is Role.CARDHOLDER and self.channel not in (
            Channel.HOTLINE_12333,
            Channel.ONLINE,
        ):
            raise ValueError("a cardholder acts through the 12333 hotline or online")
        return self

    @classmethod
    def staff(cls, role: Role, staff_id: str) -> Actor:
        return cls(role=role, staff_id=staff_id)

    @classmethod
    def system(cls) -> Actor:
        return cls(role=Role.SYSTEM)

    def describe(self) -> str:
        if self.staff_id:
            return f"{self.role.value}:{self.staff_id}"
        if self.channel:
            return f"{self.role.value}:{self.channel.value}"
        return self.role.value


# A stream's first event has this version, and each next one the version after.
FIRST_VERSION = 1


class DomainEvent(BaseModel):
    """Base of every stored event: identity, position in its stream, time, actor and outlet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Names the library's repository and notification log rely on.
    originator_id: UUID
    originator_version: int
    event_id: UUID
    occurred_at: AwareDatetime
    actor: Actor
    outlet: OutletCode | None = None
    schema_version: int = 1

    # Fields the office fills from its clock or draws itself (a deadline, a certificate
    # number): two events that differ only in these and in their bookkeeping record one fact.
    DERIVED_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _current_schema(self) -> Self:
        current = current_schema_version(type(self))
        if self.schema_version != current:
            raise ValueError(
                f"{type(self).__name__} is at schema_version {current}; "
                f"got {self.schema_version} (older records are upcast before loading)"
            )
        return self

    @classmethod
    def event_type(cls) -> str:
        """The stable public name of the event type (Kafka header, JSON Schema title)."""
        return cls.__name__


BOOKKEEPING_FIELDS = frozenset({"originator_id", "originator_version", "event_id", "occurred_at"})


def same_fact(event: DomainEvent, other: DomainEvent | None) -> bool:
    """Whether two events record the same fact: same type and content, apart from their
    bookkeeping (id, version, time) and what the office derives itself."""
    if other is None or type(event) is not type(other):
        return False
    exclude = set(BOOKKEEPING_FIELDS | type(event).DERIVED_FIELDS)
    return event.model_dump(exclude=exclude) == other.model_dump(exclude=exclude)


@cache  # asked for every event built and loaded; a class's version never changes
def current_schema_version(cls: type[DomainEvent]) -> int:
    default = cls.model_fields["schema_version"].default
    assert isinstance(default, int)
    return default
