"""A rebuild's row cache past its bound on memory (``tracking.rows.Rows.forget``): the rows it
held become an old generation, looked at before the database; the one before is dropped.

The database is changed behind the cache's back to tell where an answer came from."""

from __future__ import annotations

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
