"""Read model consumers as real processes: killed with SIGKILL during a burst, and sharing a
consumer group across rebalances. Every view must end equal to its replay from the store,
per-stream event counts included (an event applied twice or skipped shows there)."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from projections.catalogue import VIEW_NAMES
from samples.stories import Identities, population_story
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, topics
from service.settings import Settings
from service.views import consumer_lag, topic_end_offsets
from tests.back_office import start_sscard, wait_until_published
from tests.conftest import make_settings
from tests.support import Clock
from tests.views_support import assert_views_equal_replay
from tracking.partition_offsets import KafkaPositions

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def write_burst(settings: Settings, holders: int, seconds: float, done: threading.Event) -> None:
    """Holder stories (pre-reports, cancellations, replacements) paced over ``seconds``."""
    try:
        ids = Identities("110105", "K")
        with open_back_office(settings, clock=Clock()) as backoffice:
            start = time.monotonic()
            for i in range(holders):
                for _ in population_story(backoffice.office, ids, i):
                    pass
                ahead = start + seconds * (i + 1) / holders - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        done.set()


def applied(positions: KafkaPositions) -> int:
    """Offsets recorded by all the read models together (moves with every batch applied)."""
    return sum(sum(positions.load(name).values()) for name in VIEW_NAMES)


def wait_caught_up(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wait_until_published(settings, timeout)
    ends = topic_end_offsets(settings, topics(settings).card_events)
    with open_back_office(settings) as backoffice:
        positions = KafkaPositions(backoffice.views, topics(settings).card_events)
        while any(consumer_lag(positions.load(name), ends) for name in VIEW_NAMES):
            assert time.monotonic() < deadline, "the consumers did not catch up"
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)


def test_twenty_kill_9s_of_a_consumer_during_a_burst_apply_every_event_once(
    tmp_path: Path, kafka_bootstrap: str
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    log = tmp_path / "run.log"
    relay = start_sscard(["relay", "run"], settings, log, SSCARD_METRICS_PORT="0")
    done = threading.Event()
    # Long enough for twenty restarts: each kill should land while there is work to do.
    writer = threading.Thread(target=write_burst, args=(settings, 1_200, 45.0, done))
    writer.start()
    rng = random.Random(20261126)
    # A static member of each group: a restarted consumer takes its partitions back at once.
    env = {
        "SSCARD_METRICS_PORT": "0",
        "SSCARD_CONSUMER_INSTANCE": "crash",
        "SSCARD_CONSUMER_BATCH_SIZE": "40",
    }
    kills = 0
    watcher = open_back_office(settings)
    positions = KafkaPositions(watcher.views, topics(settings).card_events)
    positions.ensure("")  # before the first consumer process creates it
    try:
        while kills < 20:
            consumer = start_sscard(["consumers", "run"], settings, log, **env)
            # Once it applies batches, a random moment (mid-batch, mid-commit, between).
            before = applied(positions)
            until = time.monotonic() + 8
            while applied(positions) == before and time.monotonic() < until:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(timeout=10)
            kills += 1
        writer.join(timeout=120)
        assert done.is_set()
        consumer = start_sscard(["consumers", "run"], settings, log, **env)
        try:
            wait_caught_up(settings, 120)
        finally:
            stop(consumer)
    finally:
        watcher.close()
        stop(relay)
        writer.join(timeout=120)
    assert kills == 20
    assert_views_equal_replay(settings)


def assigned(log: Path) -> list[list[int]]:
    """Every assignment the settlement blocklist's consumers logged, in order."""
    found = re.findall(r"settlement_blocklist: assigned partitions \[([0-9, ]*)\]", log.read_text())
    return [[int(p) for p in text.split(",") if p.strip()] for text in found]


def test_two_consumers_in_one_group_share_partitions_across_rebalances(
    tmp_path: Path, kafka_bootstrap: str
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    relay = start_sscard(
        ["relay", "run"], settings, tmp_path / "relay.log", SSCARD_METRICS_PORT="0"
    )
    done = threading.Event()
    writer = threading.Thread(target=write_burst, args=(settings, 900, 24.0, done))
    writer.start()
    args = ["consumers", "run", "--view", "settlement_blocklist"]
    env = {"SSCARD_METRICS_PORT": "0", "SSCARD_CONSUMER_BATCH_SIZE": "40"}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        first = start_sscard(args, settings, first_log, **env)
        time.sleep(6)
        second = start_sscard(args, settings, second_log, **env)  # a rebalance: share
        time.sleep(7)
        stop(first)  # a rebalance: the second takes every partition
        time.sleep(5)
        first = start_sscard(args, settings, first_log, **env)  # and shares again
        writer.join(timeout=120)
        wait_until_published(settings, 60)
        deadline = time.monotonic() + 60
        ends = topic_end_offsets(settings, topics(settings).card_events)
        with open_back_office(settings) as backoffice:
            positions = KafkaPositions(backoffice.views, topics(settings).card_events)
            while consumer_lag(positions.load("settlement_blocklist"), ends):
                assert time.monotonic() < deadline, "the group did not catch up"
                time.sleep(0.2)
        stop(first)
        stop(second)
    finally:
        stop(relay)
        writer.join(timeout=120)
    first_seen, second_seen = assigned(first_log), assigned(second_log)
    shared = [a for a in first_seen + second_seen if 0 < len(a) < 3]
    assert shared, (first_seen, second_seen)  # at some point each held part of the topic
    assert [0, 1, 2] in second_seen  # alone after the first stopped
    assert_views_equal_replay(settings, ["settlement_blocklist"])
