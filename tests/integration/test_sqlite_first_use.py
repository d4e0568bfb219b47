"""Several users of a brand-new SQLite data directory at once (``sscard run`` starting while a
clerk issues the first card) must all succeed. Switching a new file to WAL mode needs a moment
alone with it and SQLite does not wait for that, so without care one of them failed with
"database is locked" (about one try in twenty, four threads)."""

from __future__ import annotations

import threading
from pathlib import Path

from service.bootstrap import build
from service.settings import Settings
from tests.conftest import make_settings
from tests.support import Clock, issue, resident_id


def first_command(settings: Settings, start: threading.Barrier, failures: list[str]) -> None:
    start.wait()
    try:
        with build(settings, clock=Clock()) as backoffice:
            backoffice.office.issue_card(issue(resident_id()))
    except Exception as exc:
        failures.append(f"{settings.data_dir}: {exc!r}")


def test_first_use_of_a_store_by_several_at_once(tmp_path: Path):
    failures: list[str] = []
    for attempt in range(50):
        settings = make_settings(tmp_path / f"attempt-{attempt}")
        start = threading.Barrier(4)
        threads = [
            threading.Thread(target=first_command, args=(settings, start, failures))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
