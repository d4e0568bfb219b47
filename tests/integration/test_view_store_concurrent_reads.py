"""The view store on PostgreSQL under concurrent requests: every query endpoint of the HTTP API
asks the view store to create its tables where missing before it reads, from as many threads
as the server runs requests at once. Found by ``sscard bench http``: with 8 queue reads at a
time the pool's 8 connections were all taken (one each, for the schema lock) while the holder
of the lock waited for a second one: every request stalled 30 s, then one failed (500)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from projections.outlet_queue import OutletQueue
from service.bootstrap import view_store
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

THREADS = 16  # more than the pool's 8 connections


def test_concurrent_creates_neither_stall_nor_fail(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    settings = make_settings(tmp_path, database_url=postgres_url, postgres_schema=postgres_schema)
    views = view_store(settings)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as pool:
            for _ in pool.map(lambda _: views.create(OutletQueue.tables), range(THREADS * 2)):
                pass
        assert time.monotonic() - started < 10
        with views.reading() as tx:
            assert tx.execute(OutletQueue.tables[0].select()).first() is None  # created
    finally:
        views.engine.dispose()
