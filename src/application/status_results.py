"""The operating answers as the output contract gives them: ``status``, ``relay status``,
``tick``, ``contracts export``, ``relay topics``.

A status that finds a live worker doing no work still answered (``status: ok``) and says
``healthy: false``; the entry point exits 3 on it. Instants carry the region's offset. Light at
import time: the command line loads it while it parses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from application.results import Result


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class FollowerPosition(_Part):
    name: str
    position: int
    lag: int


class ConsumerLag(_Part):
    view: str
    lag: int | None  # None: Kafka not reachable
    dead_letters: int


class WorkerState(_Part):
    worker: str
    state: str
    detail: str
    since: str
    seconds_in_state: float
    silent_seconds: float
    silent: bool  # no heartbeat for three beats: stopped or cut off from the database
    healthy: bool


class StatusResult(Result):
    at: str
    store: str
    head: int
    healthy: bool
    followers: list[FollowerPosition]
    card_events_topic: str  # the topic whose lag the consumers' figures give
    consumers: list[ConsumerLag]
    notes: list[str]
    pending_lapses: int
    commands: dict[str, int]  # recorded, per command
    refusals: dict[str, int]  # refused, per code
    system_events: dict[str, int]
    workers: list[WorkerState]


class RelayStatusResult(Result):
    head: int
    published: int
    lag: int


class LapsedPreReport(_Part):
    holder_stream_id: str
    card_number: str
    deadline: str
    lapsed_at: str  # when the back office handled it: later than the deadline after downtime
    result: str  # the card's status after the lapse
    late: bool  # handled after its deadline: settlement stayed suspended until then


class TickResult(Result):
    at: str
    due: int
    lapsed: list[LapsedPreReport]
    failed: int  # lapses refused this time (retried on the next tick)
    open: int  # pre-reports still open


class ContractsExportResult(Result):
    directory: str
    files: list[str]


class TopicsResult(Result):
    bootstrap_servers: str
    topics: list[str]
    created: list[str]
