"""A rebuild's row cache past its bound on memory (``tracking.rows.Rows.forget``): the rows it
held become an old generation, looked at before the database; the one before is dropped.

The database is changed behind the cache's back to tell where an answer came from."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracking.envelopes import versions_table
from tracking.rows import Rows
from tracking.store import ViewStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ViewStore]:
    views = ViewStore.sqlite(tmp_path / "views.sqlite")
    views.create((versions_table,))
    yield views
    views.close()


def _row(stream: str, version: int) -> dict[str, object]:
    return {"view": "v", "stream_id": stream, "version": version, "events": version}


def _behind_the_back(store: ViewStore, stream: str) -> None:
    with store.transaction() as tx:
        tx.execute(versions_table.delete().where(versions_table.c.stream_id == stream))


def test_the_old_generation_answers_before_the_database_and_the_one_before_is_dropped(
    store: ViewStore,
):
    with store.transaction() as tx:
        rows = Rows(tx, complete=True, sole_writer=True, held=10)
        rows.put(versions_table, _row("a", 1))
        rows.flush()
    rows.forget()  # "a" now in the old generation, and in the database
    _behind_the_back(store, "a")
    with store.transaction() as tx:
        rows.begin(tx)
        found = rows.peek(versions_table, ("v", "a"))  # from the old generation: no query
        assert found is not None
        assert found["version"] == 1
        rows.put(versions_table, _row("b", 1))
        rows.flush()
    rows.forget()  # "a" moved to the new generation when found: it is old again, "b" too
    rows.forget()  # and now dropped: the database is asked
    with store.transaction() as tx:
        rows.begin(tx)
        assert rows.peek(versions_table, ("v", "a")) is None  # deleted behind the cache's back
        assert rows.peek(versions_table, ("v", "b")) is not None
        rows.load(versions_table, [("v", "b"), ("v", "c")])
        assert rows.peek(versions_table, ("v", "c")) is None


def test_a_load_takes_the_old_generation_before_the_database(store: ViewStore):
    # On PostgreSQL the old generation may still be on its way to the database (written by
    # another thread: ``tracking.row_writes``), so the database's answer could be missing it.
    rows = _a_written_and_old(store)
    _behind_the_back(store, "a")
    with store.transaction() as tx:
        rows.begin(tx)
        rows.load(versions_table, [("v", "a"), ("v", "b")])
        found = rows.peek(versions_table, ("v", "a"))
        assert found is not None  # from the old generation, moved to the new
        assert found["version"] == 1
        assert rows.peek(versions_table, ("v", "b")) is None  # asked of the database


def test_a_key_the_new_generation_changed_is_not_read_from_the_old_one(store: ViewStore):
    with store.transaction() as tx:
        rows = Rows(tx, complete=True, sole_writer=True, held=10)
        rows.put(versions_table, _row("a", 1))
        rows.flush()
    rows.forget()
    with store.transaction() as tx:
        rows.begin(tx)
        rows.put(versions_table, _row("a", 2))
        rows.load(versions_table, [("v", "a")])
        found = rows.peek(versions_table, ("v", "a"))
        assert found is not None
        assert found["version"] == 2
        rows.flush()
    assert store_version(store, "a") == 2


def store_version(store: ViewStore, stream: str) -> int:
    with store.reading() as tx:
        row = (
            tx.execute(versions_table.select().where(versions_table.c.stream_id == stream))
            .mappings()
            .one()
        )
    return int(row["version"])


# ---- past the first generation: what is asked of the database, and how rows are written ------


def _a_written_and_old(store: ViewStore) -> Rows:
    """A rebuild's cache that has written "a" and turned once: "a" is in the old generation."""
    with store.transaction() as tx:
        rows = Rows(tx, complete=True, sole_writer=True, held=10)
        rows.put(versions_table, _row("a", 1))
        rows.flush()
    rows.forget()
    return rows


def _past_the_first_generation(store: ViewStore) -> Rows:
    """A rebuild's cache that has written "a" and turned twice: it holds nothing, and a key it
    does not hold may be in the database."""
    rows = _a_written_and_old(store)
    rows.forget()
    return rows


def _behind_the_back_put(store: ViewStore, stream: str, version: int) -> None:
    with store.transaction() as tx:
        tx.execute(versions_table.insert().values(**_row(stream, version)))


def test_a_stream_that_begins_in_the_batch_is_not_asked_for(store: ViewStore):
    rows = _past_the_first_generation(store)
    for stream in ("n", "m", "k"):  # only the database could answer with these
        _behind_the_back_put(store, stream, 7)
    with store.transaction() as tx:
        rows.begin(tx)
        rows.new_streams({"n", "m"})
        rows.load(versions_table, [("v", "n"), ("v", "a")])
        assert rows.peek(versions_table, ("v", "n")) is None  # not asked: known absent
        assert rows.peek(versions_table, ("v", "a")) is not None  # asked, and found
        assert rows.peek(versions_table, ("v", "m")) is None  # a miss is not asked either
        rows.new_streams({"n"})  # the next batch: "k" was never new
        assert rows.peek(versions_table, ("v", "k")) is not None


def test_a_row_owned_by_a_stream_that_begins_in_the_batch_is_known_new(store: ViewStore):
    rows = _past_the_first_generation(store)
    for stream in ("n", "m"):
        _behind_the_back_put(store, stream, 7)  # only the database could answer with these
    with store.transaction() as tx:
        rows.begin(tx)
        rows.new_streams({"n"})
        # The keys' streams are not in them here: the owners say whose each row is.
        rows.owned_by_new_streams(versions_table, {("v", "n"): "n", ("v", "m"): "old"})
        assert rows.peek(versions_table, ("v", "n")) is None  # known absent, not asked
        assert rows.peek(versions_table, ("v", "m")) is not None  # not marked: asked, found
        rows.put(versions_table, _row("n", 1))
        with pytest.raises(sqlite3.IntegrityError):
            rows.flush()  # known new: a plain INSERT, which the row the store holds refuses


def test_a_row_written_unread_by_a_stream_that_is_not_new_is_upserted(store: ViewStore):
    rows = _past_the_first_generation(store)
    _behind_the_back_put(store, "m", 7)
    with store.transaction() as tx:
        rows.begin(tx)
        rows.new_streams({"n"})
        rows.owned_by_new_streams(versions_table, {("v", "m"): "old"})
        rows.put(versions_table, _row("m", 8))  # neither loaded nor known new: upserted
        rows.flush()
    assert store_version(store, "m") == 8


def test_a_row_known_absent_is_inserted_and_never_overwrites_one_the_store_holds(
    store: ViewStore,
):
    rows = _past_the_first_generation(store)
    with store.transaction() as tx:
        rows.begin(tx)
        rows.load(versions_table, [("v", "n")])  # asked: absent
        rows.put(versions_table, _row("n", 1))
    _behind_the_back_put(store, "n", 5)
    with store.transaction() as tx:
        rows.begin(tx)
        with pytest.raises(sqlite3.IntegrityError):
            rows.flush()  # a plain INSERT: the row the store holds is not silently replaced
    assert store_version(store, "n") == 5


def test_a_created_row_is_inserted(store: ViewStore):
    rows = _past_the_first_generation(store)
    _behind_the_back_put(store, "n", 5)
    with store.transaction() as tx:
        rows.begin(tx)
        rows.create(versions_table, _row("n", 1))  # "its key names this event": INSERT
        with pytest.raises(sqlite3.IntegrityError):
            rows.flush()


def test_rows_the_store_holds_or_may_hold_are_upserted_and_deleted(store: ViewStore):
    rows = _past_the_first_generation(store)
    for stream in ("b", "c", "d"):
        _behind_the_back_put(store, stream, 5)
    with store.transaction() as tx:
        rows.begin(tx)
        rows.put(versions_table, _row("b", 6))  # never looked at: the store may hold it
        found = rows.peek(versions_table, ("v", "c"))  # loaded
        assert found is not None
        rows.put(versions_table, found | {"version": 6})
        rows.delete(versions_table, ("v", "d"))  # never looked at either
        rows.put(versions_table, _row("a", 2))  # written by the first generation
        rows.flush()
    assert [store_version(store, s) for s in ("a", "b", "c")] == [2, 6, 6]
    with store.reading() as tx:
        left = tx.execute(versions_table.select().where(versions_table.c.stream_id == "d"))
        assert left.first() is None


def test_a_row_written_twice_in_one_generation_is_upserted_the_second_time(store: ViewStore):
    with store.transaction() as tx:
        rows = Rows(tx, complete=True, sole_writer=True, held=10)
        rows.put(versions_table, _row("a", 1))
        rows.flush()  # inserted
        rows.put(versions_table, _row("a", 2))
        rows.flush()  # the same generation: the store holds it now
    assert store_version(store, "a") == 2


def test_a_row_found_in_the_old_generation_is_upserted(store: ViewStore):
    rows = _a_written_and_old(store)
    with store.transaction() as tx:
        rows.begin(tx)
        found = rows.peek(versions_table, ("v", "a"))  # the old generation's: written
        assert found is not None
        rows.put(versions_table, found | {"version": 2})
        rows.flush()
    assert store_version(store, "a") == 2
