"""The live view store keeps SQLite's write-ahead log and waits for the disk as far as WAL with
``synchronous=NORMAL`` needs; only a rebuild's scratch store (thrown away when a rebuild fails)
keeps no journal and never waits. A live store opened as a scratch one would lose committed
view changes in a crash, and nothing else would tell."""

from __future__ import annotations

from pathlib import Path

from replay.rebuilds import Place
from service.bootstrap import store_location, view_store
from tests.conftest import make_settings
from tracking.store import ViewStore


def _modes(store: ViewStore) -> tuple[str, int, int]:
    with store.reading() as tx:
        raw = tx.conn.connection.driver_connection
        assert raw is not None
        journal = raw.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = raw.execute("PRAGMA synchronous").fetchone()[0]
        secure = raw.execute("PRAGMA secure_delete").fetchone()[0]
    return str(journal).lower(), int(synchronous), int(secure)


def test_the_live_store_keeps_its_log_and_a_scratch_store_none(tmp_path: Path):
    settings = make_settings(tmp_path)
    live = view_store(settings)
    scratch = Place(sqlite=tmp_path / "rebuild" / "views.sqlite").open(store_location(settings))
    try:
        assert _modes(live) == ("wal", 1, 1)  # NORMAL
        assert _modes(scratch) == ("off", 0, 1)  # OFF, and erased rows still zeroed in place
    finally:
        live.close()
        scratch.close()
