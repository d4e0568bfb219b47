"""``sscard run`` as an operator sees it: the database restarted and stopped under it, the whole
process group killed during a burst, SIGTERM with Kafka down, eight processes starting at once.

Real processes, real servers: the PostgreSQL that is restarted is a cluster of this test's own,
so the rest of the suite never notices.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest

from domain.cardholder.events import LossPreReportLapsed
from domain.errors import DomainError
from relay.publisher import RELAY
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import ensure_topics
from service.lapses import LapseScheduler
from service.settings import Settings
from tests.back_office import (
    SSCARD,
    check_topic,
    published_events,
    sscard_env,
    start_sscard,
    wait_until_published,
    write_burst,
)
from tests.conftest import make_settings
from tests.pg_cluster import PrivateCluster
from tests.support import Clock, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.drop()


def stop(process: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM; returns how long the process took to exit (it must exit 0)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    took = time.monotonic() - started
    assert code == 0, log.read_text()[-3000:]
    return took


class Clerks(threading.Thread):
    """Commands arriving all the while: each holder gets a card and a pre-report dated long ago
    (so it is due to lapse at once). A command that meets the database down is retried, as a
    clerk would; one that turns out to have been recorded before the connection dropped is
    refused on retry, which is the same outcome."""

    def __init__(self, settings: Settings, holders: int, seconds: float) -> None:
        super().__init__(name="clerks")
        self.settings, self.holders, self.seconds = settings, holders, seconds
        self.pre_reported: list[str] = []
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open_back_office(self.settings, clock=Clock()) as backoffice:
                start = time.monotonic()
                for i in range(self.holders):
                    holder = resident_id(region="310104")  # Shanghai: lapses after 5 days
                    office = backoffice.office
                    self._until_done(partial(office.issue_card, issue(holder, region="310000")))
                    self._until_done(partial(office.pre_report_loss, pre_report(holder)))
                    self.pre_reported.append(holder)
                    ahead = start + self.seconds * (i + 1) / self.holders - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        except BaseException as exc:
            self.error = exc

    def _until_done(self, command: Callable[[], object]) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                command()
                return
            except DomainError:
                # Recorded by an attempt whose answer was lost (the office retries too). A
                # command refused for any other reason shows in the lapse count at the end.
                return
            except Exception:
                assert time.monotonic() < deadline, "the database did not come back"
                self.retries += 1
                time.sleep(0.2)


def test_the_back_office_rides_out_postgresql_restarts_and_stops(
    tmp_path: Path, kafka_bootstrap: str, private_postgres: PrivateCluster
):
    settings = make_settings(
        tmp_path, database_url=private_postgres.url, kafka_bootstrap_servers=kafka_bootstrap
    )
    log = tmp_path / "run.log"
    run = start_sscard(["run"], settings, log, SSCARD_LAPSE_CHECK_SECONDS="1")
    clerks = Clerks(settings, holders=150, seconds=20)
    took = None
    try:
        clerks.start()
        time.sleep(4)
        private_postgres.restart()  # every connection of sscard run dies at once
        time.sleep(4)
        private_postgres.stop()  # a longer outage
        time.sleep(4)
        assert clerks.is_alive(), "the commands must keep arriving through the outage"
        private_postgres.start()
        clerks.join()
        assert clerks.error is None, clerks.error
        # No manual step: the very same sscard run publishes and lapses everything.
        wait_until_published(settings, timeout=60)
        deadline = time.monotonic() + 60
        with open_back_office(settings) as backoffice:
            while LapseScheduler(backoffice).pending() or _lapsed(backoffice) < len(
                clerks.pre_reported
            ):
                assert time.monotonic() < deadline, "due lapses did not happen"
                time.sleep(0.5)
            wait_until_published(settings, timeout=60)
            expected = published_events(backoffice)
            lapses = [
                p.event
                for p in backoffice.source.read(0, 10**6, [LossPreReportLapsed])
                if isinstance(p.event, LossPreReportLapsed)
            ]
        assert run.poll() is None, log.read_text()[-3000:]
    finally:
        if run.poll() is None:
            took = stop(run, log)
    text = log.read_text()
    assert len({e.originator_id for e in lapses}) == len(lapses) == len(clerks.pre_reported)
    assert len(expected) == 3 * len(clerks.pre_reported)  # issued, pre-reported, lapsed
    check_topic(settings, expected)  # every event, exactly once after dedupe, in order
    assert "the database unavailable" in text, text
    assert "the database back after" in text, text
    assert "Traceback" not in text, text
    assert took is not None
    assert took < 2.0, f"SIGTERM took {took:.1f} s"


def _lapsed(backoffice: BackOffice) -> int:
    return len(backoffice.source.read(0, 10**6, [LossPreReportLapsed]))


def test_killing_the_whole_run_process_group_during_a_burst_loses_nothing(
    tmp_path: Path, kafka_bootstrap: str
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    log = tmp_path / "run.log"
    done = threading.Event()
    writer = threading.Thread(target=write_burst, args=(settings, 600, 15.0, done))
    writer.start()
    kills = 0
    with open_back_office(settings) as watcher:
        watcher.views.ensure_position(RELAY)
        while not done.is_set() or kills < 5:
            run = start_sscard(["run"], settings, log, SSCARD_RELAY_BATCH_SIZE="200")
            started = watcher.views.position(RELAY)
            until = time.monotonic() + 10
            while watcher.views.position(RELAY) == started and time.monotonic() < until:
                time.sleep(0.01)
            time.sleep(0.3)
            os.killpg(run.pid, signal.SIGKILL)  # the relay, the scheduler, everything at once
            run.wait()
            kills += 1
        writer.join()
        runs = log.read_text().count("relay running")
        final = start_sscard(["run"], settings, log)
        try:
            deadline = time.monotonic() + 60
            while log.read_text().count("relay running") == runs:  # up, and so stoppable
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.1)
            wait_until_published(settings, timeout=120)
        finally:
            stop(final, log)
        expected = published_events(watcher)
    assert len(expected) == 600 * 5
    duplicates = check_topic(settings, expected)
    assert duplicates <= kills * 200
    print(f"\nprocess group kill test: {kills} kills, {duplicates} duplicates")


def test_sigterm_with_kafka_down_stops_within_two_seconds(tmp_path: Path):
    settings = make_settings(tmp_path, kafka_bootstrap_servers="127.0.0.1:1")
    with open_back_office(settings) as backoffice:
        backoffice.office.issue_card(issue(resident_id()))  # the relay has work it cannot do
    log = tmp_path / "run.log"
    run = start_sscard(["run"], settings, log)
    time.sleep(6)  # long past the first failed attempts: well into the outage
    deadline = time.monotonic() + 30
    while True:  # on a loaded machine the workers may take a few seconds more to start
        status = subprocess.run(
            [SSCARD, "status"],
            env=sscard_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        relay_row = next(line for line in status.stdout.splitlines() if "relay@" in line)
        if "waiting for Kafka" in relay_row or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "waiting for Kafka" in relay_row, status.stdout
    assert re.search(r"^relay +0 +2$", status.stdout, re.MULTILINE), status.stdout
    asked = log.read_text().count("\n")
    took = stop(run, log)
    after_stop = log.read_text().splitlines()[asked:]
    text = log.read_text()
    assert took < 2.0, f"SIGTERM took {took:.1f} s:\n{text[-2000:]}"
    # Each worker that needs Kafka says so once: the relay and every read model's consumer.
    for worker in ("relay", "outlet_queue", "settlement_blocklist", "lifecycle_analytics"):
        assert text.count(f"{worker}: Kafka unavailable") == 1, text
    assert not any("running" in line for line in after_stop), after_stop


def test_eight_processes_starting_at_once_on_a_fresh_schema_all_succeed(
    tmp_path: Path, postgres_url: str, postgres_schema: str
):
    """The library creates its tables and functions at every start; eight processes doing it
    at once on a fresh PostgreSQL schema must not collide ("tuple concurrently updated")."""
    settings = make_settings(tmp_path, database_url=postgres_url, postgres_schema=postgres_schema)
    env = sscard_env(settings)
    at = time.time() + 3.0  # every process is loaded and waiting by then
    launcher = (
        "import os, sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time())); "
        "os.execv(sys.argv[2], sys.argv[2:])"
    )
    processes = []
    for i in range(8):
        rid = resident_id()
        command = ["card", "issue", "--resident-id", rid, "--name", "张三", "--region", "110000"]
        command += ["--card-number", f"C{i:08d}", "--outlet", "BJ-DC-001", "--staff", "clerk-01"]
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", launcher, str(at), SSCARD, *command],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
    assert [code for code, _ in results] == [0] * 8, results
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute(
            f'SELECT count(*) FROM "{postgres_schema}".cardoffice_events'
        ).fetchone()
    assert count is not None
    assert count[0] >= 8  # every command was recorded
