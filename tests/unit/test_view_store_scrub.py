"""A view store's scrub after an erasure: the WAL emptied, or, while a reader holds an old
snapshot, a warning after a short wait (never an error, never a long stall of the writers)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tracking import store as store_module
from tracking.store import ViewStore, positions_table


def _write(store: ViewStore, prefix: str) -> None:
    with store.transaction() as tx:
        for n in range(200):
            tx.insert_new(positions_table, name=f"{prefix}-{n}", position=n)


def test_a_scrub_empties_the_wal(tmp_path: Path):
    store = ViewStore.sqlite(tmp_path / "views.sqlite")
    try:
        store.create()
        _write(store, "a")
        wal = tmp_path / "views.sqlite-wal"
        assert wal.stat().st_size > 0
        store.scrub()
        assert wal.stat().st_size == 0
    finally:
        store.close()


def test_a_reader_holding_an_old_snapshot_delays_the_scrub_only_briefly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(store_module, "SCRUB_WAIT_MS", 300)
    store = ViewStore.sqlite(tmp_path / "views.sqlite")
    reader = sqlite3.connect(tmp_path / "views.sqlite", isolation_level=None)
    try:
        store.create()
        _write(store, "a")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sscard_positions").fetchall()  # a snapshot, held
        _write(store, "b")
        started = time.monotonic()
        store.scrub()
        assert time.monotonic() - started < 5
        assert any("WAL could not be emptied" in r.message for r in caplog.records)
        reader.execute("COMMIT")
        store.scrub()
        assert (tmp_path / "views.sqlite-wal").stat().st_size == 0
    finally:
        reader.close()
        store.close()
