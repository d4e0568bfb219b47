"""``sscard status`` only reads: on a full disk it still answers (exit 0) with the exact figures,
and the figures count what they say (commands, system events, refusals of commands only).

The full disk is real: the data directory on a small tmpfs filled to the last byte (mounting one
needs root, which the machines that run this suite have)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.bootstrap import open_back_office
from service.lapses import LapseScheduler
from service.metrics import serve_metrics, snapshot
from service.settings import Settings
from tests.back_office import SSCARD, sscard_env
from tests.conftest import make_settings
from tests.ports import free_ports
from tests.support import Clock, issue, pre_report, resident_id
from tracking.board import NO_PARTITIONS, Board

pytestmark = [pytest.mark.integration]


def sscard(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSCARD, *args],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    where.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): the test needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Write to ``folder``'s file system until not one byte more fits."""
    with (folder / "filler").open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            written = size
            while written == size:
                written = _write(out.fileno(), b"\0" * size)


def _write(fd: int, data: bytes) -> int:
    """Bytes written; 0 once the file system is full."""
    try:
        return os.write(fd, data)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return 0


def history(settings: Settings, holders: int = 5) -> None:
    """Cards issued and pre-reports made long ago, then a tick that lapses them."""
    long_ago = datetime.now(UTC) - timedelta(days=60)
    with open_back_office(settings, clock=Clock(long_ago)) as backoffice:
        for _ in range(holders):
            rid = resident_id(region="310104")
            backoffice.office.issue_card(issue(rid, region="310000"))
            backoffice.office.pre_report_loss(pre_report(rid))
    with open_back_office(settings) as backoffice:
        LapseScheduler(backoffice).tick()


def test_status_answers_on_a_full_disk_and_moves_no_follower(tmp_path: Path):
    if os.geteuid() != 0:  # a full disk is made with a small tmpfs: the suite runs as root
        pytest.fail("mounting a tmpfs needs root")
    with small_tmpfs(tmp_path / f"disk-{uuid.uuid4().hex[:6]}") as disk:
        settings = make_settings(tmp_path, data_dir=disk / "data")
        history(settings)
        with open_back_office(
            settings
        ) as backoffice:  # the back office keeps its stores open, as it runs
            fill(disk)
            answer = sscard(settings, "status")
            refused = sscard(
                settings, "card", "activate", "--resident-id", resident_id(), "--outlet",
                "BJ-HD-003", "--staff", "clerk-01", "--card-number", "Z00000009",
            )  # fmt: skip
            figures = snapshot(backoffice, kafka=False)
        (disk / "filler").unlink()
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "commands recorded: CardIssued 5, LossPreReported 5" in answer.stdout, answer.stdout
    assert "system events: LossPreReportLapsed 5" in answer.stdout, answer.stdout
    assert figures.commands == {"CardIssued": 5, "LossPreReported": 5}
    # The refusal could not be counted on the full disk: it says so rather than vanish.
    assert refused.returncode == 1, refused.stderr
    assert re.search(r"1 refusal\(s\) \(\w+\) not counted", refused.stderr), refused.stderr


def test_status_and_the_metrics_create_nothing_and_move_no_follower(tmp_path: Path):
    """Before ``sscard run`` ever ran: status counts what is stored, and leaves the view store
    without the counts' table or position (only the worker of ``sscard run`` makes them)."""
    settings = make_settings(tmp_path)
    history(settings, holders=2)
    answer = sscard(settings, "status")
    assert answer.returncode == 0, answer.stderr
    assert "commands recorded: CardIssued 2, LossPreReported 2" in answer.stdout
    with open_back_office(settings) as backoffice, backoffice.views.reading() as tx:
        assert not tx.has_table("sscard_event_counts")
        assert tx.position("event_counts") == 0


def test_only_refused_commands_count_as_refusals_batch_rows_included(tmp_path: Path):
    settings = make_settings(tmp_path)
    history(settings, holders=1)
    # A query that finds nothing refuses nothing.
    unknown = sscard(settings, "holder", "show", "--resident-id", resident_id())
    assert unknown.returncode == 1, unknown.stderr
    # A command refused: counted.
    refused = sscard(
        settings, "card", "activate", "--resident-id", resident_id(), "--outlet", "BJ-HD-003",
        "--staff", "clerk-01", "--card-number", "Z00000009",
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    reason = re.search(r"refused \((\w+)\)", refused.stderr)
    assert reason is not None, refused.stderr
    # A production batch with two rows refused: each is a refused command.
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "certificate,new_card_number,produced_at\n"
        "NO-SUCH-CERT-1,A00000001,2026-01-05T10:00:00+08:00\n"
        "NO-SUCH-CERT-2,A00000002,2026-01-05T10:00:00+08:00\n"
    )
    produced = sscard(settings, "card", "produce", "--batch", str(batch), "--staff", "pc-01")
    assert produced.returncode == 1, produced.stdout + produced.stderr
    row_reasons = re.findall(r"refused: \((\w+)\)", produced.stdout)
    assert len(row_reasons) == 2, produced.stdout
    with open_back_office(settings) as backoffice:
        figures = snapshot(backoffice, kafka=False)
    expected: dict[str, int] = {reason.group(1): 1}
    for code in row_reasons:
        expected[code] = expected.get(code, 0) + 1
    assert figures.refusals == expected


def test_a_lapse_is_a_system_event_not_a_command(tmp_path: Path):
    settings = make_settings(tmp_path)
    history(settings, holders=3)
    with open_back_office(settings) as backoffice:
        figures = snapshot(backoffice, kafka=False)
    assert figures.commands == {"CardIssued": 3, "LossPreReported": 3}
    assert figures.system_events == {"LossPreReportLapsed": 3}


def test_health_and_metrics_answer_on_their_own_paths(tmp_path: Path):
    [port] = free_ports(1)
    settings = make_settings(tmp_path, metrics_port=port, kafka_bootstrap_servers="127.0.0.1:1")
    history(settings, holders=1)
    collector = serve_metrics(settings)
    assert collector is not None

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        metrics = get("/metrics")
        healthy = get("/healthz")
        root = get("/")
        with open_back_office(settings) as backoffice:
            Board(backoffice.views, "outlet_queue").set(NO_PARTITIONS, "none of 3")
        stuck = get("/healthz")
    finally:
        collector.close()
    assert metrics[0] == 200
    assert "sscard_store_up 1.0" in metrics[1], metrics
    assert 'sscard_system_events_total{event="LossPreReportLapsed"} 1.0' in metrics[1]
    assert healthy == (200, "ok\n")
    assert root[0] == 404
    assert "sscard_" not in root[1]
    assert stuck[0] == 503
    assert f"outlet_queue@{socket.gethostname()}" in stuck[1]
    assert NO_PARTITIONS in stuck[1], stuck
