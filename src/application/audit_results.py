"""What the auditor's commands answer: the recorded unmasked reads, the hash chain's verdict and
the store migration's counts (``sscard audit ...``, ``sscard db migrate``; the HTTP API to come
returns the same models).

This module imports nothing heavier than pydantic: the command line loads it for ``--help``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from application.results import Result
from domain.event import Actor


class UnmaskedReadEntry(BaseModel):
    """One recorded read of a holder's ID numbers and names in full: when (the holder's region's
    time), who, whose (``holder_id`` masked), what and why."""

    model_config = ConfigDict(frozen=True)

    read_at: str
    actor: Actor
    holder_id: str
    holder_stream_id: str
    scope: str
    reason: str
    reference: str | None


class UnmaskedReadsListing(Result):
    """``audit unmasked-reads``: every recorded read, oldest first, in one object; a paged
    query (the HTTP API) gives ``count`` of them, one ``page`` of ``page_size`` of ``total``."""

    count: int
    reads: list[UnmaskedReadEntry]
    total: int | None = None
    page: int | None = None
    page_size: int | None = None


class ChainFinding(BaseModel):
    """One break in the history, at the earliest log position it shows."""

    model_config = ConfigDict(frozen=True)

    position: int
    what: str


class AnchorCheck(BaseModel):
    """An anchor noted from an earlier run: does the log up to ``position`` still end in
    ``digest``? ``holds`` is None when a break was found before the anchor could be asked."""

    model_config = ConfigDict(frozen=True)

    position: int
    digest: str
    holds: bool | None


class ChainVerification(Result):
    """``audit verify-chain``: ``intact`` when every stream's chain and the whole log's order
    hold, every record is linked and the anchor (if given) holds. A verdict, not a refusal:
    ``status`` is ``ok`` either way (the command line exits 1 when not intact).

    ``head_position`` and ``head_digest`` are what to note to anchor a later run."""

    intact: bool
    records: int
    streams: int
    unlinked: int  # records stored before the hash chain existed: sscard db migrate links them
    audited: int  # log positions compared with the log chain
    added: int  # log positions audited for the first time by this run
    head_position: int | None
    head_digest: str | None
    anchor: AnchorCheck | None
    findings: list[ChainFinding]


class MigrationResult(Result):
    """``db migrate``: how many streams were rewritten and what was done to their records.
    ``migrated`` is false when nothing was left to do (a second run)."""

    migrated: bool
    streams: int
    sealed: int  # old records whose personal fields were sealed
    rekeyed: int  # request fingerprints keyed
    moved: int  # invoice reservations moved to keyed stream ids
    relinked: int  # records (re)linked into the hash chain
