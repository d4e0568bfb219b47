"""The workers' board: who counts as unhealthy, how long an ended worker stays listed, and an
outage a source noticed by itself dated from when it began."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracking.board import (
    ENDED_BOUND_SECONDS,
    FAILED,
    NO_PARTITIONS,
    RUNNING,
    STOPPED,
    Board,
    WorkerRow,
    _utc_text,
    forget_ended,
    is_healthy,
    read_board,
)
from tracking.follow import Batch, Follower, StorePositions
from tracking.runner import Dependency, DependencyDown, Pulse, Runner
from tracking.store import ViewStore, workers_table

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def row(state: str, heard_seconds_ago: float = 1.0) -> WorkerRow:
    at = NOW - timedelta(seconds=heard_seconds_ago)
    return WorkerRow("w@host:1", "w", state, "", at, at)


def test_a_live_worker_holding_no_partition_or_failed_is_unhealthy():
    assert not is_healthy(row(NO_PARTITIONS), NOW)
    assert not is_healthy(row(FAILED), NOW)


def test_running_waiting_out_an_outage_stopped_or_gone_is_not_unhealthy():
    assert is_healthy(row(RUNNING), NOW)
    assert is_healthy(row("waiting for Kafka"), NOW)  # shown, and waited out by itself
    assert is_healthy(row(STOPPED), NOW)
    # Silent: its process is gone; what it last said is history, not its health now.
    assert is_healthy(row(NO_PARTITIONS, heard_seconds_ago=60), NOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ViewStore]:
    views = ViewStore.sqlite(tmp_path / "views.sqlite")
    views.create()
    yield views
    views.close()


def put(store: ViewStore, worker: str, state: str, heard_seconds_ago: float) -> None:
    at = _utc_text(datetime.now(UTC) - timedelta(seconds=heard_seconds_ago))
    with store.transaction() as tx:
        tx.upsert(
            workers_table,
            ["worker"],
            worker=worker,
            name=worker.split("@", maxsplit=1)[0],
            state=state,
            detail="",
            since=at,
            updated_at=at,
        )


def test_workers_that_ended_leave_the_board_after_the_bound(store: ViewStore):
    put(store, "relay@host:1", STOPPED, ENDED_BOUND_SECONDS + 10)  # stopped long ago
    put(store, "relay@host:2", RUNNING, ENDED_BOUND_SECONDS + 10)  # silent long ago
    put(store, "relay@host:3", STOPPED, 30)  # stopped just now: still shown
    put(store, "relay@host:4", RUNNING, 1)
    # Reading leaves them out at once, and writes nothing...
    assert [w.worker for w in read_board(store)] == ["relay@host:3", "relay@host:4"]
    with store.reading() as tx:
        assert len(tx.execute(workers_table.select()).all()) == 4
    # ...and a running worker's heartbeat prunes them.
    Board(store, "lapses").set(RUNNING)
    with store.reading() as tx:
        kept = sorted(r.worker for r in tx.execute(workers_table.select()))
    assert kept[:2] == ["lapses@" + kept[0].split("@")[1], "relay@host:3"]
    assert len(kept) == 3
    forget_ended(store, older_than_seconds=0)
    assert read_board(store) == []


class _GoneSource:
    """A source that finds its dependency gone with no error of its own, then back."""

    def __init__(self, lost_at: float, back_at: float) -> None:
        self.lost_at, self.back_at = lost_at, back_at

    def read(self, after: int, limit: int) -> Batch[int, int]:
        del limit
        now = time.monotonic()
        if self.lost_at <= now < self.back_at:
            raise DependencyDown("no answer", since=self.lost_at)
        return Batch(after, after, ())

    def wait(self, after: int, timeout: float) -> bool:
        del after
        time.sleep(min(timeout, 0.01))
        return False

    def lag(self, position: int) -> int:
        del position
        return 0

    def reset(self) -> None:
        pass


class _Nothing:
    def handle(self, batch: Batch[int, int], commit: object, pulse: Pulse) -> None:
        del batch, commit, pulse
        raise AssertionError("no batch expected")


def test_an_outage_a_source_noticed_itself_is_dated_from_when_it_began(
    store: ViewStore, caplog: pytest.LogCaptureFixture
):
    started = time.monotonic()
    source = _GoneSource(lost_at=started - 2.0, back_at=started + 1.5)  # began 2 s ago
    follower: Follower[int, int] = Follower("w", source, StorePositions(store), _Nothing())
    gone = Dependency("the thing", lambda exc: isinstance(exc, DependencyDown))
    board = Board(store, "w")
    runner = Runner("w", follower=follower, board=board, dependencies=(gone,), max_backoff=0.1)
    stop = threading.Event()
    states = []
    with caplog.at_level(logging.INFO):
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        while time.monotonic() < started + 10 and (not states or states[-1] != RUNNING):
            if not states or states[-1] != board.state:
                states.append(board.state)
            time.sleep(0.01)
        stop.set()
        thread.join(timeout=10)
    waiting = next(s for s in states if s.startswith("waiting"))
    assert waiting == "waiting for the thing"
    [back] = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
    seconds = float(back.split("back after ")[1].split(" s")[0])
    assert seconds >= 3.4, back  # from when it was lost, not from the failing attempt


class _CountingSource(_GoneSource):
    def __init__(self) -> None:
        super().__init__(lost_at=0.0, back_at=0.0)
        self.reads = 0

    def read(self, after: int, limit: int) -> Batch[int, int]:
        self.reads += 1
        return super().read(after, limit)


def test_an_idle_worker_without_a_periodic_task_waits_between_steps(store: ViewStore):
    """Not live and nothing to tick: one look per heartbeat, not a busy loop."""
    source = _CountingSource()
    follower: Follower[int, int] = Follower("w", source, StorePositions(store), _Nothing())
    runner = Runner("w", follower=follower, live=False, heartbeat=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join(timeout=10)
    assert 1 <= source.reads <= 8, source.reads
