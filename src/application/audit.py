"""The auditor's queries and the store's one-off upgrade, for every entry point: the recorded
unmasked reads, the verification of the hash chains (with an anchor noted earlier), and the
migration of a store written by an older release."""

from __future__ import annotations

from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from application.audit_results import (
    AnchorCheck,
    ChainFinding,
    ChainVerification,
    MigrationResult,
    UnmaskedReadEntry,
    UnmaskedReadsListing,
)
from application.paging import PageRequest, page_of
from application.results import local_instant
from domain.application import CardOffice
from domain.identifiers import ResidentId, mask_resident_id
from replay.verify_chain import anchor_digest
from replay.verify_chain import verify_chain as verify_chains
from service.bootstrap import BackOffice
from store.migrate import migrate


class UnmaskedReadsQuery(BaseModel):
    """All recorded reads, or those of one holder's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resident_id: ResidentId | None = None
    # Or the holder by their stream id (the HTTP API's holder reference).
    holder_stream_id: UUID | None = None
    paging: PageRequest | None = None


def unmasked_reads(office: CardOffice, query: UnmaskedReadsQuery) -> UnmaskedReadsListing:
    """Every recorded unmasked read, oldest first; times in the holder's region."""
    holder_id = office.holder(query.resident_id).id if query.resident_id else None
    if query.holder_stream_id is not None:
        holder_id = office.holder_by_id(query.holder_stream_id).id  # an unknown one: refused
    masked: dict[UUID, tuple[str, ZoneInfo]] = {}
    entries = []
    chosen, paged = page_of(office.unmasked_reads(holder_id), query.paging)
    for read in chosen:
        if read.holder_id not in masked:
            holder = office.holder_by_id(read.holder_id)
            zone = office.policies.policy_for(holder.region_code).zone
            masked[read.holder_id] = (mask_resident_id(holder.resident_id), zone)
        holder_masked, zone = masked[read.holder_id]
        entries.append(
            UnmaskedReadEntry(
                read_at=local_instant(read.occurred_at, zone),
                actor=read.actor,
                holder_id=holder_masked,
                holder_stream_id=str(read.holder_id),
                scope=read.scope.value,
                reason=read.reason.value,
                reference=read.reference,
            )
        )
    return UnmaskedReadsListing(count=len(entries), reads=entries, **paged.model_dump())


class ChainAnchor(BaseModel):
    """POSITION:DIGEST as an earlier verification printed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int = Field(ge=0)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


def verify_chain(backoffice: BackOffice, anchor: ChainAnchor | None = None) -> ChainVerification:
    """Check every stream's hash chain and the whole log's order (bringing the log chain up to
    date); with an anchor, that the log up to its position is what it was then."""
    report = verify_chains(backoffice)
    checked = None
    if anchor is not None:
        holds = None
        if not report.findings:
            holds = anchor_digest(backoffice.views, anchor.position) == anchor.digest
        checked = AnchorCheck(position=anchor.position, digest=anchor.digest, holds=holds)
    return ChainVerification(
        intact=report.intact and (checked is None or checked.holds is True),
        records=report.records,
        streams=report.streams,
        unlinked=report.unlinked,
        audited=report.audited,
        added=report.added,
        head_position=report.head[0] if report.head else None,
        head_digest=report.head[1] if report.head else None,
        anchor=checked,
        findings=[ChainFinding(position=f.position, what=f.what) for f in report.findings],
    )


def migrate_store(backoffice: BackOffice) -> MigrationResult:
    """Seal, key and link the records an older release left (run with the back office
    stopped); a second run finds nothing to do."""
    report = migrate(backoffice)
    return MigrationResult(
        migrated=report.streams > 0,
        streams=report.streams,
        sealed=report.sealed,
        rekeyed=report.rekeyed,
        moved=report.moved,
        relinked=report.relinked,
    )
