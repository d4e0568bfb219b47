"""Several users of a brand-new SQLite data directory at once (``sscard run`` starting while a
clerk issues the first card) must all succeed. Switching a new file to WAL mode needs a moment
alone with it and SQLite does not wait for that, so without care one of them failed with
"database is locked" (about one try in twenty, four threads)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from service.bootstrap import open_back_office
from service.settings import Settings
from tests.conftest import make_settings
from tests.support import Clock, issue, resident_id


def first_command(settings: Settings, start: threading.Barrier, failures: list[str]) -> None:
    start.wait()
    try:
        with open_back_office(settings, clock=Clock()) as backoffice:
            backoffice.office.issue_card(issue(resident_id()))
    except Exception as exc:
        failures.append(f"{settings.data_dir}: {exc!r}")


def test_first_use_of_a_store_by_several_at_once(tmp_path: Path):
    failures: list[str] = []
    for attempt in range(50):
        settings = make_settings(tmp_path / f"attempt-{attempt}")
        start = threading.Barrier(4)
        threads = [
            # Daemons: a stuck one fails the test below and must not hang the run at exit.
            threading.Thread(target=first_command, args=(settings, start, failures), daemon=True)
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120  # one bound for all four, far above what they need
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        # A thread still running has neither succeeded nor failed: it is stuck (a lock never
        # released, say), which is a failure too.
        stuck = [t.name for t in threads if t.is_alive()]
        assert stuck == [], f"attempt {attempt}: {stuck} never finished"
    assert failures == []
