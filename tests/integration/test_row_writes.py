"""A rebuild's rows written on PostgreSQL by a thread of their own (``tracking.row_writes``): the
rows arrive as they were, a write that fails fails the rebuild, and the writes of one
generation wait for those of the one before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Table

from projections.outlet_queue import pre_reports_table
from service.bootstrap import view_store
from tests.conftest import make_settings
from tracking.envelopes import versions_table
from tracking.row_writes import BackgroundWriter
from tracking.rows import RowWrites
from tracking.store import ViewStore

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def store(tmp_path: Path, postgres_url: str, postgres_schema: str) -> Iterator[ViewStore]:
    views = view_store(
        make_settings(tmp_path, database_url=postgres_url, postgres_schema=postgres_schema)
    )
    views.create((versions_table, pre_reports_table))
    yield views
    views.close()


def _version(stream: str, version: int) -> dict[str, object]:
    return {"view": "v", "stream_id": stream, "version": version, "events": version}


def _pre_report(stream: str, outlet: str | None) -> dict[str, object]:
    return {
        "stream_id": stream,
        "version": 2,
        "outlet": outlet,
        "channel": "counter",
        "card_number": "C\t1\\2",
        "reported_at": "2026-12-08T01:00:00Z",
        "reported_on": "2026-12-08",
        "status": "open",
        "ended_at": None,
    }


def _all(store: ViewStore, table: Table) -> list[dict[str, object]]:
    with store.reading() as tx:
        rows = tx.execute(table.select()).mappings()
        return sorted((dict(r) for r in rows), key=repr)


def test_rows_written_by_the_thread_arrive_as_they_were(store: ViewStore) -> None:
    odd = ["a\tb", "line\nbreak", "back\\slash", "社会保障卡 东城", "quote\"'", "cr\rhere", None]
    rows = [_pre_report(f"s{i}", outlet) for i, outlet in enumerate(odd)]
    versions = [_version(f"s{i}", 2**62 + i) for i in range(3)]
    writer = BackgroundWriter(store)
    try:
        writer.submit([RowWrites(pre_reports_table, new=rows, held=[], gone=[])])
        writer.submit([RowWrites(versions_table, new=versions, held=[], gone=[])])
        writer.wait()
    finally:
        writer.close()
    assert _all(store, pre_reports_table) == sorted(rows, key=repr)
    assert _all(store, versions_table) == sorted(versions, key=repr)


def test_held_rows_are_replaced_and_gone_ones_deleted(store: ViewStore) -> None:
    writer = BackgroundWriter(store)
    try:
        writer.submit(
            [RowWrites(versions_table, new=[_version("a", 1), _version("b", 1)], held=[], gone=[])]
        )
        writer.submit(
            [
                RowWrites(
                    versions_table,
                    new=[],
                    held=[_version("a", 2), _version("c", 1)],
                    gone=[("v", "b")],
                )
            ]
        )
        writer.wait()
    finally:
        writer.close()
    assert _all(store, versions_table) == sorted([_version("a", 2), _version("c", 1)], key=repr)


def test_a_write_that_fails_is_raised_by_the_next_submit_and_nothing_of_it_is_kept(
    store: ViewStore,
) -> None:
    writer = BackgroundWriter(store)
    try:
        twice = [_version("a", 1), _version("b", 1), _version("a", 2)]  # "a" new twice: refused
        writer.submit([RowWrites(versions_table, new=twice, held=[], gone=[])])
        with pytest.raises(psycopg.errors.UniqueViolation):
            writer.submit([RowWrites(versions_table, new=[_version("c", 1)], held=[], gone=[])])
        writer.wait()  # the failed write was raised once, and the next one was not started
    finally:
        writer.close()
    assert _all(store, versions_table) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("rebuild-writes")]


def test_a_row_without_a_column_or_with_another_fails_the_write(store: ViewStore) -> None:
    writer = BackgroundWriter(store)
    try:
        for wrong in (
            _pre_report("a", None) | {"outcome": None},
            {k: v for k, v in _pre_report("a", None).items() if k != "ended_at"},
        ):
            writer.submit([RowWrites(pre_reports_table, new=[wrong], held=[], gone=[])])
            with pytest.raises(ValueError, match="sscard_oq_pre_reports: row without"):
                writer.wait()
    finally:
        writer.close()
    assert _all(store, pre_reports_table) == []
