"""A rebuild's and a consumer's driver-level reads and writes of view rows (``tracking.rows``), on
SQLite and on PostgreSQL.

``Rows.load`` reads a batch's keys in one query per chunk, and on a composite primary key
through that key: SQLite (3.40) answers ``(a, b) IN (VALUES ...)`` with a scan of the whole
table, so every batch of a consumer, and every batch of a rebuild past its first generation,
read all the stream versions there were. A rebuild's rows go to PostgreSQL through COPY, in
its text format made here; a value that format would escape must arrive as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.outlet_queue import pre_reports_table
from service.bootstrap import view_store
from service.settings import Settings
from tracking.envelopes import versions_table
from tracking.rows import Rows, copy_text, keyed_select
from tracking.store import ViewStore


@pytest.fixture
def store(settings: Settings) -> Iterator[ViewStore]:
    views = view_store(settings)
    views.create((versions_table, pre_reports_table))
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


def test_the_keyed_select_of_a_composite_key_searches_the_key_and_scans_no_table(tmp_path: Path):
    store = ViewStore.sqlite(tmp_path / "views.sqlite")
    store.create((versions_table,))
    with store.transaction() as tx:
        statement = keyed_select(tx, versions_table, 3)
        raw = tx.conn.connection.driver_connection
        assert raw is not None
        plan = raw.execute(f"EXPLAIN QUERY PLAN {statement}", ("v", "s1") * 3).fetchall()
    store.close()
    details = [str(step[3]) for step in plan]
    assert any(d.startswith("SEARCH t USING") for d in details), details
    assert not any(d.startswith("SCAN t") for d in details), details


def _pre_report(stream: str, outlet: str | None, channel: str) -> dict[str, object]:
    return {
        "stream_id": stream,
        "version": 2,
        "outlet": outlet,
        "channel": channel,
        "card_number": "A1234567",
        "reported_at": "2026-03-02T02:00:00+00:00",
        "reported_on": "2026-03-02",
        "status": "open",
        "ended_at": None,
    }


def test_a_rebuilds_rows_arrive_as_they_were_whatever_their_characters(store: ViewStore):
    awkward = ["tab\there", "line\nbreak", "back\\slash \\N", "cr\rhere", "", "柜台 一"]
    plain = [_pre_report(f"p{i:04d}", f"OUT-{i}", "counter") for i in range(2_500)]
    # Each odd value in a write of its own, past the rows a write sends through COPY (one value
    # to escape sends its whole chunk the careful way): new, then changed, which goes through
    # a loading table and an upsert.
    groups = [
        [_pre_report(f"q{i}-{j:03d}", None if j % 2 else text, text) for j in range(600)]
        for i, text in enumerate(awkward)
    ]
    changed = [[row | {"status": "cancelled", "ended_at": text} for row in group]
               for group, text in zip(groups, awkward, strict=True)]  # fmt: skip
    with store.transaction() as tx:
        rows = Rows(tx, complete=True, sole_writer=True)
        for group in (plain, *groups, *changed):
            for row in group:
                rows.put(pre_reports_table, row)
            rows.flush()  # the first: COPY straight into the table on PostgreSQL
    written = [row for group in (plain, *changed) for row in group]
    with store.transaction() as tx:
        reader = Rows(tx)
        reader.load(pre_reports_table, [(str(row["stream_id"]), 2) for row in written])
        for row in written:
            assert reader.peek(pre_reports_table, (row["stream_id"], 2)) == row


def test_copy_text_writes_only_what_needs_no_escaping():
    assert copy_text([("a", 1, None), ("b", 2, "x")], 3) == "a\t1\t\\N\nb\t2\tx\n"
    for value in ("a\tb", "a\nb", "a\rb", "a\\b", "\\N", 1.5, True, b"x", {"a": 1}):
        assert copy_text([("a", 1, None), ("b", value, None)], 3) is None, value
