"""The read models' queries and operations as the output contract gives them: an outlet's
queue, an analytics export, a replay, a verify, the dead letters, a card's settlement status.

Every answer is a ``Result`` (``status`` first). A query that found something unwelcome still
answered (``status: ok``): ``verify`` says ``equal: false``, a retry says ``still_parked``; the
entry point chooses its exit code from those fields. Instants carry the region's offset
(``local_instant``). Light at import time: the command line loads it while it parses.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from application.results import Result, Status


class _Part(BaseModel):
    """A part of a result (a row, an entry): no status of its own."""

    model_config = ConfigDict(frozen=True)


# ---- the outlet's queue -----------------------------------------------------------------------


class OutletQueueQuery(_Part):
    outlet: str
    queue_status: str = "ready"
    page: int = 1
    page_size: int = 50


class QueueEntry(_Part):
    certificate: str | None  # None for a pre-report
    card_number: str | None
    masked_name: str
    kind: str
    queue_status: str
    since: str  # when the entry reached its status, with the region's offset
    production_due_on: date | None
    overdue_working_days: int  # working days past the due date (0: not overdue)


class OutletQueueResult(Result):
    outlet: str
    today: date  # the outlet's region's date
    counts: dict[str, int]
    queue_status: str
    page: int
    page_size: int
    entries: list[QueueEntry]


# ---- analytics --------------------------------------------------------------------------------

AnalyticsTable = Literal["outlet-months", "cases"]
ExportFormat = Literal["csv", "parquet"]


class AnalyticsExportResult(Result):
    table: AnalyticsTable
    format: ExportFormat
    output: str | None  # None: CSV written to stdout
    rows: int


# ---- replay and verify ------------------------------------------------------------------------


class ReplayedView(_Part):
    view: str
    position: int  # the store position the live view now reflects
    rows: int
    events_after_rebuild: int
    dead_letters_cleared: int
    seconds: float


class ReplayResult(Result):
    views: list[ReplayedView]


class TableVerdict(_Part):
    table: str
    equal: bool
    live_rows: int
    live_digest: str
    rebuilt_rows: int
    rebuilt_digest: str
    differences: list[str]  # the first ``show`` of them
    difference_count: int


class ViewVerdict(_Part):
    view: str
    equal: bool
    position: int  # the store position of the rebuild compared with
    # Messages on the view's topics its consumers had not applied when the wait ran out (None:
    # no consumer offsets, or Kafka not reachable). A lagging consumer explains a difference.
    consumer_lag: int | None
    notes: list[str]
    tables: list[TableVerdict]


class VerifyResult(Result):
    equal: bool
    views: list[ViewVerdict]


# ---- dead letters -----------------------------------------------------------------------------


class ParkedMessage(_Part):
    view: str
    key: str
    topic: str
    partition: int
    offset: int
    failed: bool  # False: parked behind an earlier message of its key
    reason: str
    parked_at: str


class DeadLettersResult(Result):
    """Parked messages, per key in the order of retry; a paged query (the HTTP API) gives
    ``count`` of them, one ``page`` of ``page_size`` of ``total``."""

    count: int
    messages: list[ParkedMessage]
    total: int | None = None
    page: int | None = None
    page_size: int | None = None


class RetriedKey(_Part):
    view: str
    key: str
    applied: int
    still_parked: int
    reason: str  # why the first one still parked failed again ("" when none is)


class DeadLettersRetryResult(Result):
    applied: int
    still_parked: int
    keys: list[RetriedKey]


class DeadLettersDiscardResult(Result):
    view: str
    discarded: int


# ---- the settlement subscriber ----------------------------------------------------------------


class CardSettlementStatus(_Part):
    card_number: str
    blocked: bool
    card_status: str  # active, blocked, cancelled, suspect
    since: str | None  # with the region's offset; for a suspect card, when it was seen
    reason: str  # for a suspect card: what broke the contract


class SettlementCheckResult(Result):
    card: CardSettlementStatus
    cards_bootstrapped: int
    seconds: float


SettlementEvent = Literal["caught_up", "changed", "stale", "fresh"]


class SettlementNotice(Result):
    """One line of ``settlement follow``: caught up, a card changed, stale, fresh again."""

    event: SettlementEvent
    card: CardSettlementStatus | None = None
    cards: int | None = None  # caught_up: cards known
    blocked: int | None = None  # caught_up: of them blocked
    reason: str | None = None  # stale: why


class SettlementLookup(Result):
    """A card's settlement status as the settlement blocklist view has it (a point lookup for
    systems that run no Kafka consumer), with how far the view has read and how old the card's
    status is: a view that lags answers an older truth, and the caller can see by how much.

    ``view_position``: the card-events messages the view has applied (0 before its first);
    ``status_age_seconds``: how long the card has had this status."""

    card: CardSettlementStatus
    view_position: int
    status_age_seconds: float


# ---- read-your-writes -------------------------------------------------------------------------


class ViewBehindRefusal(Result):
    """A query asked to wait until its view reached a store position (``after``), and the wait
    ran out first (``code``: ``view_behind``). Nothing is wrong with the request: asked again
    later, it is answered. The view has reached a position when it holds the event recorded
    there (the version of its stream it applied is the event's): ``stream_version_applied`` is
    how far it had got on that stream; ``relay_published_through`` the store position up to
    which the relay had published to Kafka (below ``after``: the relay lags, not the view)."""

    status: Status = "refused"
    code: Literal["view_behind"] = "view_behind"
    message: str
    view: str
    after: int
    stream_version_wanted: int
    stream_version_applied: int
    relay_published_through: int
    waited_seconds: float
