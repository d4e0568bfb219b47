"""``sscard status`` tells the truth in every fault: fresh starts whose consumers race the
topics' creation, a broker killed under ``sscard run``, a consumer left holding no partition.

Real processes, a real broker of this module's own (killed with SIGKILL, so the rest of the
suite never notices), created the way the local broker is: it creates no topic by itself.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from consumers.runner import ViewConsumer
from devinfra.local_kafka import LocalKafka
from projections.catalogue import VIEW_NAMES
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.metrics import snapshot
from service.replay_wiring import models
from service.settings import Settings
from service.views import (
    kafka_consumer_config,
    model_named,
    verify,
    view_consumer,
    worker_name,
)
from tests.back_office import (
    SSCARD,
    check_topic,
    published_events,
    sscard_env,
    start_sscard,
    wait_until_published,
    write_burst,
)
from tests.conftest import make_settings, used_real_server
from tests.ports import free_ports
from tracking.board import NO_PARTITIONS, RUNNING, STANDBY, Board, WorkerRow, read_board

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# The broker's outage in the kill test; SSCARD_TEST_BROKER_OUTAGE=60 for the figure of record.
OUTAGE_SECONDS = float(os.environ.get("SSCARD_TEST_BROKER_OUTAGE", "20"))


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        port=port,
        controller_port=controller_port,
        state_dir=tmp_path_factory.mktemp("status-broker") / "broker",
        die_with_parent=True,
    )
    broker.start(timeout=120, progress=lambda _: None)
    yield broker
    broker.stop()


@pytest.fixture
def broker(module_broker: LocalKafka, request: pytest.FixtureRequest) -> LocalKafka:
    used_real_server(request, "kafka")
    module_broker.start(timeout=120, progress=lambda _: None)  # after a test that killed it
    return module_broker


def kafka_workers(settings: Settings) -> list[str]:
    """The board names of the workers that need Kafka: the relay and every consumer."""
    every = models(settings)
    return ["relay"] + [worker_name(v, f) for v in VIEW_NAMES for f in every[v].feeds]


def board(settings: Settings) -> dict[str, WorkerRow]:
    """The newest row of each worker name."""
    with open_back_office(settings) as backoffice:
        rows = read_board(backoffice.views)
    newest: dict[str, WorkerRow] = {}
    for row in sorted(rows, key=lambda r: r.since):
        newest[row.name] = row
    return newest


def wait_for_board(
    settings: Settings, names: list[str], want: str, timeout: float, log: Path
) -> dict[str, WorkerRow]:
    deadline = time.monotonic() + timeout
    while True:
        rows = board(settings)
        if all(n in rows and rows[n].state.startswith(want) for n in names):
            return rows
        assert time.monotonic() < deadline, (
            {n: (rows[n].state, rows[n].detail) if n in rows else None for n in names},
            log.read_text()[-3000:] if log.exists() else "",
        )
        time.sleep(0.3)


def wait_until_applied(settings: Settings, timeout: float, log: Path) -> None:
    """Until every consumer has applied every message on its topics (``verify`` waits only for
    a consumer that has applied something already)."""
    deadline = time.monotonic() + timeout
    with open_back_office(settings) as backoffice:
        while True:
            lags = {c.view: c.lag for c in snapshot(backoffice).consumers}
            if all(lag == 0 for lag in lags.values()):
                return
            assert time.monotonic() < deadline, (lags, log.read_text()[-3000:])
            time.sleep(0.3)


def sscard_status(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSCARD, "status"],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stop_run(run: subprocess.Popen[bytes], log: Path) -> None:
    run.terminate()
    assert run.wait(timeout=30) == 0, log.read_text()[-3000:]


# ---- fresh starts --------------------------------------------------------------------------


def one_fresh_start(tmp_path: Path, bootstrap: str, index: int) -> str:
    """``sscard run`` on a fresh store and topic prefix with events waiting: the relay and
    every consumer start at once. Returns "" when every view has its partitions and equals
    its rebuild, else what went wrong."""
    settings = make_settings(tmp_path / f"start-{index}", kafka_bootstrap_servers=bootstrap)
    done = threading.Event()
    write_burst(settings, holders=6, seconds=0.0, done=done)  # 30 events, on three partitions
    log = tmp_path / f"run-{index}.log"
    run = start_sscard(["run"], settings, log)
    try:
        consumers = kafka_workers(settings)[1:]
        wait_for_board(settings, consumers, RUNNING, 90, log)
        wait_until_published(settings, timeout=60)
        wait_until_applied(settings, 60, log)
        reports = verify(settings, wait=60)
        rows = board(settings)
    finally:
        stop_run(run, log)
    text = log.read_text()
    problems = [f"{r.view}: {r.notes} {[str(t) for t in r.tables]}" for r in reports if not r.equal]
    problems += [f"{n}: {rows[n].state}" for n in consumers if rows[n].state != RUNNING]
    # Every consumer was given partitions of its topic at once, none was left without.
    problems += [line for line in text.splitlines() if "assigned partitions []" in line]
    # No worker met a topic not made yet (the topics exist before any worker starts).
    problems += [
        line
        for line in text.splitlines()
        if re.search(r"UnknownTopicOrPartition|TopicMissing|TopicsNotReady|ERROR|Traceback", line)
    ]
    if text.count("ready: topics") != 1:
        problems.append("no single ready line")
    mended = [x for x in text.splitlines() if "rejoining its group" in x or "replacing the" in x]
    return f"start {index}: {problems}" if problems else f"mended {len(mended)}"


def test_twenty_fresh_starts_every_view_has_its_partitions_and_equals_its_rebuild(
    tmp_path: Path, broker: LocalKafka
):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(lambda i: one_fresh_start(tmp_path, broker.bootstrap_servers, i), range(20))
        )
    failed = [o for o in outcomes if not o.startswith("mended")]
    assert not failed, failed
    mended = sum(int(o.split()[1]) for o in outcomes)
    print(
        f"\n20 fresh starts, 4 at a time: every view complete and equal to its rebuild in "
        f"{time.monotonic() - started:.0f} s; consumers rejoined or replaced: {mended}"
    )


# ---- the broker killed -----------------------------------------------------------------------


def test_a_broker_killed_under_run_shows_in_every_workers_status_and_log_and_loses_nothing(
    tmp_path: Path, broker: LocalKafka
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings)
    log = tmp_path / "run.log"
    names = kafka_workers(settings)
    run = start_sscard(["run"], settings, log)
    done = threading.Event()
    writer = threading.Thread(
        target=write_burst, args=(settings, 60, OUTAGE_SECONDS + 20, done), daemon=True
    )
    try:
        wait_for_board(settings, names, RUNNING, 90, log)
        writer.start()
        time.sleep(5)
        killed_at = time.monotonic()
        broker.kill()  # SIGKILL: a crash, no goodbye to any client
        rows = wait_for_board(settings, names, "waiting for Kafka", 30, log)
        noticed = time.monotonic() - killed_at
        during = sscard_status(settings)
        time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - killed_at), 0))
        broker.start(timeout=120, progress=lambda _: None)
        back_at = time.monotonic()
        down = back_at - killed_at
        wait_for_board(settings, names, RUNNING, 90, log)
        recovered = time.monotonic() - back_at
        writer.join(timeout=120)
        assert done.is_set()
        wait_until_published(settings, timeout=120)
        reports = verify(settings, wait=90)
        after = sscard_status(settings)
    finally:
        stop_run(run, log)
    text = log.read_text()
    assert during.returncode == 0, during.stderr
    # Noticed by every worker within moments (a consumer: its coordinator gone for 5 s).
    assert noticed < 10, noticed
    for name in names:
        line = next(x for x in during.stdout.splitlines() if f" {name}@" in f" {x.strip()}")
        assert "waiting for Kafka" in line, during.stdout
    assert all(r.equal for r in reports), [(r.view, r.notes) for r in reports]
    assert after.returncode == 0, after.stdout + after.stderr
    with open_back_office(settings) as backoffice:
        expected = published_events(backoffice)
    assert len(expected) == 60 * 5
    check_topic(settings, expected)  # every event on the topic, in order per key
    # Each worker logs the outage's start and its real length (at least the time it was down).
    lengths = {}
    for worker in names:
        assert f"{worker}: Kafka unavailable" in text, (worker, text[-4000:])
        found = re.findall(rf"{re.escape(worker)}: Kafka back after ([\d.]+) s", text)
        assert found, (worker, text[-4000:])
        lengths[worker] = max(float(x) for x in found)
        # The real length: from the kill (not from a later failing attempt) to the restart.
        assert lengths[worker] >= down - 1.5, (worker, down, lengths, text[-4000:])
    waiting = [x.strip() for x in during.stdout.splitlines() if "waiting for Kafka" in x]
    print(
        f"\nbroker killed, down {down:.0f} s: every worker showed it after "
        f"{noticed:.1f} s; all running again {recovered:.1f} s after the restart; logged lengths "
        f"{lengths}; {len(expected)} events, none lost\nstatus during the outage:\n  "
        + "\n  ".join(waiting)
        + "\nlog:\n  "
        + "\n  ".join(x for x in text.splitlines() if "Kafka unavailable" in x or "back after" in x)
    )
    del rows


# ---- a consumer holding no partition ----------------------------------------------------------


class LeavesItsGroup(KafkaConsumer):  # type: ignore[misc]  # kafka-python is untyped
    """While ``losing`` is set, a member that leaves its group (unsubscribes) as soon as it is
    given partitions: from then on it holds none and hears of no rebalance, the state of the
    member the coordinator gave none for 30 minutes."""

    losing = threading.Event()

    def poll(self, timeout_ms: int = 0, max_records: int | None = None, **kwargs: Any) -> Any:
        records = super().poll(timeout_ms=timeout_ms, max_records=max_records, **kwargs)
        if self.losing.is_set() and self.assignment():
            self.unsubscribe()
            return {}
        return records


def test_a_consumer_holding_no_partition_is_unhealthy_until_it_rejoins_its_group(
    tmp_path: Path, broker: LocalKafka, caplog: pytest.LogCaptureFixture
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings)
    view = "outlet_queue"
    done = threading.Event()
    write_burst(settings, holders=6, seconds=0.0, done=done)
    stop = threading.Event()
    with open_back_office(settings) as backoffice, caplog.at_level(logging.INFO):
        relay_for(backoffice).publish_pending()
        config = kafka_consumer_config(settings, view, settings.consumer_batch_size)
        consumer = ViewConsumer(
            model_named(settings, view),
            backoffice.views,
            topics(settings).card_events,
            lambda: LeavesItsGroup(**config),
        )
        source = consumer.source
        source.watch.no_partitions_after, source.watch.max_rejoin_backoff = 2.0, 3.0
        runner = consumer.runner(Board(backoffice.views, view))
        thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        LeavesItsGroup.losing.set()
        thread.start()
        try:
            rows = wait_for_board(settings, [view], NO_PARTITIONS, 60, tmp_path / "none.log")
            stuck = sscard_status(settings)
            write_burst(settings, holders=3, seconds=0.0, done=done)  # more while it reads none
            relay_for(backoffice).publish_pending()
            LeavesItsGroup.losing.clear()
            wait_for_board(settings, [view], RUNNING, 60, tmp_path / "none.log")
            [report] = verify(settings, [view], wait=60)
            healthy = sscard_status(settings)
        finally:
            stop.set()
            thread.join(timeout=30)
            consumer.close()
    assert "holding no partition" in rows[view].state
    assert stuck.returncode == 3, stuck.stdout + stuck.stderr
    assert re.search(rf"{view}@\S+ +holding no partition \(none of the 3 partitions", stuck.stdout)
    assert f"unhealthy: {view}@" in stuck.stdout, stuck.stdout
    assert report.equal, (report.notes, [str(t) for t in report.tables])
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    messages = [r.getMessage() for r in caplog.records]
    assert any("holds no partition of" in m and "rejoining its group" in m for m in messages)
    assert any(re.search(r"holds partitions of \S+ again after", m) for m in messages)


def test_a_spare_member_of_a_full_group_stands_by_and_is_not_unhealthy(
    tmp_path: Path, broker: LocalKafka, caplog: pytest.LogCaptureFixture
):
    """Four instances of one consumer on three partitions: one holds none, and rightly so."""
    settings = make_settings(tmp_path, kafka_bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings)
    stop = threading.Event()
    names = [f"outlet_queue#{i}" for i in range(4)]
    with open_back_office(settings) as backoffice, caplog.at_level(logging.INFO):
        consumers = [view_consumer(settings, backoffice.views, "outlet_queue") for _ in names]
        threads = []
        for name, consumer in zip(names, consumers, strict=True):
            consumer.source.watch.no_partitions_after = 3.0
            runner = consumer.runner(Board(backoffice.views, name), name)
            threads.append(threading.Thread(target=runner.run, args=(stop,), daemon=True))
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + 90
            while True:
                states = sorted(board(settings)[n].state for n in names if n in board(settings))
                if states == [RUNNING] * 3 + [STANDBY]:
                    break
                assert time.monotonic() < deadline, states
                time.sleep(0.3)
            time.sleep(4)  # past another grace: still standing by, no rejoin
            answer = sscard_status(settings)
            states_after = sorted(board(settings)[n].state for n in names)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            for consumer in consumers:
                consumer.close()
    assert states_after == [RUNNING] * 3 + [STANDBY]
    assert answer.returncode == 0, answer.stdout
    assert "a spare member" in answer.stdout, answer.stdout
    assert not [r for r in caplog.records if "rejoining its group" in r.getMessage()]
