"""``Rows.load``: the rows of a batch's keys in one query per chunk, on a composite primary key
answered through that key.

SQLite (3.40) answers ``(a, b) IN (VALUES ...)`` with a scan of the whole table: every batch of
a consumer, and every batch of a rebuild past its first generation, read all the stream
versions there were (a rebuild of 100,000 events spent a fifth of its time there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tracking.envelopes import versions_table
from tracking.rows import Rows, keyed_select
from tracking.store import ViewStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ViewStore]:
    views = ViewStore.sqlite(tmp_path / "views.sqlite")
    views.create((versions_table,))
    yield views
    views.close()


def _row(view: str, stream: str, version: int) -> dict[str, object]:
    return {"view": view, "stream_id": stream, "version": version, "events": version}


def test_a_load_of_many_keys_finds_each_stored_row_and_knows_the_others_absent(store: ViewStore):
    stored = [_row(view, f"s{i:04d}", i + 1) for i in range(700) for view in ("a", "b")]
    with store.transaction() as tx:
        writer = Rows(tx)
        for row in stored:
            writer.put(versions_table, row)
        writer.flush()
    # Past one chunk (500 keys), with keys of the other view and keys no row has.
    wanted = [("a", f"s{i:04d}") for i in range(0, 1200, 2)]
    with store.transaction() as tx:
        rows = Rows(tx)
        rows.load(versions_table, wanted)
        for view, stream in wanted:
            index = int(stream[1:])
            found = rows.peek(versions_table, (view, stream))
            if index < 700:
                assert found == _row("a", stream, index + 1)
            else:
                assert found is None
        assert rows.peek(versions_table, ("b", "s0001")) is not None  # never loaded: asked now


def test_the_keyed_select_of_a_composite_key_searches_the_key_and_scans_no_table(
    store: ViewStore,
):
    with store.transaction() as tx:
        statement = keyed_select(tx, versions_table, 3)
        raw = tx.conn.connection.driver_connection
        assert raw is not None
        plan = raw.execute(f"EXPLAIN QUERY PLAN {statement}", ("v", "s1") * 3).fetchall()
    details = [str(step[3]) for step in plan]
    assert any(d.startswith("SEARCH t USING") for d in details), details
    assert not any(d.startswith("SCAN t") for d in details), details
