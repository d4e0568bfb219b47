"""``views.sqlite`` deleted or replaced under a running ``sscard run``.

Before, the workers went on writing to the unlinked file, ``status`` (which opened a new empty
one) said "none has run on this store", and the log chain kept in that file was gone. Now the
supervisor finds it within a second or two, stops every worker, puts the store back as it was
(read through a connection it holds open: an unlinked file stays readable), and starts them
again; or, when it cannot, says so and exits non-zero.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.publisher import RELAY
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics
from service.settings import Settings
from service.views import verify
from tests.back_office import (
    SSCARD,
    check_topic,
    published_events,
    sscard_env,
    start_sscard,
    wait_until_published,
)
from tests.conftest import make_settings
from tests.support import Clock, cancel, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def _holders(settings: Settings, count: int) -> None:
    with open_back_office(settings, clock=Clock(datetime.now(UTC))) as backoffice:
        for _ in range(count):
            holder = resident_id()
            backoffice.office.issue_card(issue(holder))
            backoffice.office.pre_report_loss(pre_report(holder))
            backoffice.office.cancel_pre_report(cancel(holder))


def _wait_for(log: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def _log_chain(settings: Settings) -> list[tuple[int, str]]:
    conn = sqlite3.connect(f"file:{settings.views_sqlite_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT position, chain FROM sscard_log_chain ORDER BY position")
        return [(int(p), str(c)) for p, c in rows]
    finally:
        conn.close()


def _views_equal_their_rebuild(settings: Settings, timeout: float = 90.0) -> None:
    """Until every view equals its rebuild from the store (its consumers may start late: a
    consumer that has stored no offset yet is not waited for by ``verify``)."""
    deadline = time.monotonic() + timeout
    while True:
        reports = verify(settings, wait=10)
        differing = [r.view for r in reports if not r.equal]
        if not differing:
            return
        assert time.monotonic() < deadline, f"views differ from their rebuild: {differing}"
        time.sleep(1)


def _status(settings: Settings) -> str:
    shown = subprocess.run(
        [SSCARD, "status"],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _started(
    tmp_path: Path, kafka_bootstrap: str
) -> tuple[Settings, Path, subprocess.Popen[bytes]]:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    log = tmp_path / "run.log"
    run = start_sscard(["run"], settings, log, SSCARD_LAPSE_CHECK_SECONDS="1")
    _holders(settings, 15)
    wait_until_published(settings, timeout=60)
    _views_equal_their_rebuild(settings)  # every consumer has caught up
    return settings, log, run


def _stop(run: subprocess.Popen[bytes], log: Path) -> int:
    if run.poll() is None:
        run.send_signal(signal.SIGTERM)
    return run.wait(timeout=30)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_view_store_deleted_or_replaced_under_run_is_restored_and_the_views_go_on(
    tmp_path: Path, kafka_bootstrap: str, how: str
):
    settings, log, run = _started(tmp_path, kafka_bootstrap)
    path = settings.views_sqlite_path
    try:
        with open_back_office(settings) as backoffice:
            published = backoffice.views.position(RELAY)
        chain = _log_chain(settings)
        assert chain, "the audit worker keeps the log chain"
        if how == "deleted":
            path.unlink()
        else:  # another store moved into its place, as a restore of a backup would
            other = tmp_path / "other.sqlite"
            with sqlite3.connect(other) as conn:
                conn.execute("CREATE TABLE sscard_positions (name TEXT, position INTEGER)")
            other.replace(path)
        _wait_for(log, f"views.sqlite was {how}")
        _wait_for(log, "every worker started again on the restored view store")

        _holders(settings, 10)  # the views go on after it
        wait_until_published(settings, timeout=60)
        _views_equal_their_rebuild(settings)
        # What the workers said once the change was seen: a worker restarted on the restored
        # store may announce itself before the supervisor's "started again" line.
        restarted = log.read_text().split(f"views.sqlite was {how}")[1]
        for worker in (RELAY, "audit_log"):  # each went on from its position, not from 0
            position = re.search(rf"{worker} running: position (\d+)", restarted)
            assert position is not None, restarted[-3000:]
            assert int(position.group(1)) >= published, f"{worker} started over"
        assert _log_chain(settings)[: len(chain)] == chain, "the log chain is the one it was"
        with open_back_office(settings) as backoffice:
            duplicates = check_topic(settings, published_events(backoffice))
        assert duplicates == 0, "the relay published again what it had published"
        shown = _status(settings)
        assert "none has run on this store" not in shown
        assert "relay@" in shown
        if how == "replaced":
            assert list(path.parent.glob("views.sqlite.replaced-*")), "the other store is kept"
        assert run.poll() is None, log.read_text()[-3000:]
    finally:
        code = _stop(run, log)
    assert code == 0, log.read_text()[-3000:]


def test_a_view_store_that_cannot_be_restored_ends_the_run_non_zero_with_a_clear_line(
    tmp_path: Path, kafka_bootstrap: str
):
    settings, log, run = _started(tmp_path, kafka_bootstrap)
    path = settings.views_sqlite_path
    try:
        blocked = path.with_name("views.sqlite.restoring")  # where the copy would be written
        blocked.mkdir()
        (blocked / "keep").write_text("not the restore's to remove")
        path.unlink()
        code = run.wait(timeout=60)
    finally:
        _stop(run, log)
    text = log.read_text()
    assert code == 3, text[-3000:]
    assert "views.sqlite was deleted under the running back office" in text, text[-3000:]
    assert "cannot be restored from the open copy" in text, text[-3000:]
    assert "the view store cannot be restored; stopping the back office" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_two_processes_on_one_view_store_restore_it_once_and_both_go_on(
    tmp_path: Path, kafka_bootstrap: str
):
    """``sscard run`` and ``sscard consumers run`` both find the store deleted: one restores
    it, the other takes the restored store as it is (no copy set aside, no ping-pong)."""
    settings, log, run = _started(tmp_path, kafka_bootstrap)
    second_log = tmp_path / "consumers.log"
    second = start_sscard(["consumers", "run"], settings, second_log)
    try:
        _wait_for(second_log, "outlet_queue running")
        settings.views_sqlite_path.unlink()
        _wait_for(log, "every worker started again on the restored view store")
        _wait_for(second_log, "every worker started again on the restored view store")
        texts = log.read_text() + second_log.read_text()
        assert texts.count("restored as it was") == 1, texts[-4000:]
        assert texts.count("was restored by another process; going on with it") == 1
        assert not list(settings.data_dir.glob("views.sqlite.replaced-*"))

        _holders(settings, 10)
        wait_until_published(settings, timeout=60)
        _views_equal_their_rebuild(settings)
        time.sleep(3)  # no further restore follows
        texts = log.read_text() + second_log.read_text()
        assert texts.count("restored as it was") == 1, texts[-4000:]
        assert run.poll() is None
        assert second.poll() is None
    finally:
        codes = (_stop(second, second_log), _stop(run, log))
    assert codes == (0, 0), (log.read_text()[-2000:], second_log.read_text()[-2000:])
