"""A rebuild's rows written on PostgreSQL by a thread and a connection of their own, while the
pass goes on applying the next generation.

A rebuild writes its caches' rows each time they reach their bound (``tracking.rows``). Done in
the pass, the writing was a fifth to a quarter of it at a million events, and mostly Python:
each row's values picked, sorted and formatted for COPY. Here the rows go to the server as JSON
made in C (``orjson``), unsorted, and the server unpacks them (``json_populate_recordset``) on
its own core while the pass applies the next batches: the pass pays for taking the rows, not
for writing them.

Why that is safe: a generation's rows stay in memory as the old generation until the turn
after, and the pass asks the database only for rows in neither generation; ``submit`` waits for
the write before it, so every generation but the last two is in the database before its rows
leave memory. The pass's last rows are written in the pass itself (``Rows.flush``, COPY) after
``wait``. The scratch store has no other reader until the rebuild ends, and a failed write
fails the rebuild at the next turn or at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat
from operator import eq
from typing import Any

import orjson
from sqlalchemy import Table

from tracking.rows import Row, RowWrites, driver_statement
from tracking.store import Tx, ViewStore

# Rows per statement: one JSON value each, a few MiB at most.
_ROWS_PER_JSON = 10_000


class BackgroundWriter:
    """Writes a rebuild's taken rows (``Rows.take_writes``) one generation at a time, each in
    a transaction of its own, on a thread of its own."""

    def __init__(self, store: ViewStore) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild-writes")
        self._pending: Future[None] | None = None

    def submit(self, writes: Sequence[RowWrites]) -> None:
        """Write these rows once the rows submitted before are written (raises their error)."""
        self.wait()
        self._pending = self._pool.submit(self._write, list(writes))

    def wait(self) -> None:
        """Until every row submitted is written; raises the error of a write that failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Stop the thread (after its write, whose error a failing pass does not need)."""
        self._pool.shutdown(wait=True)

    def _write(self, writes: list[RowWrites]) -> None:
        with self._store.transaction() as tx:
            for table_writes in writes:
                write_as_json(tx, table_writes)


def write_as_json(tx: Tx, writes: RowWrites) -> None:
    """One table's taken rows: deleted, inserted and upserted, the rows as JSON."""
    table = writes.table
    _check_columns(table, writes.new)
    _check_columns(table, writes.held)
    raw: Any = tx.conn.connection.driver_connection
    with raw.cursor() as cursor:
        if writes.gone:
            cursor.executemany(driver_statement(tx, table, "delete"), writes.gone)
        for rows, upsert in ((writes.new, False), (writes.held, True)):
            statement = _json_insert(tx, table, upsert)
            for start in range(0, len(rows), _ROWS_PER_JSON):
                chunk: list[Row] = rows[start : start + _ROWS_PER_JSON]
                cursor.execute(statement, (orjson.dumps(chunk).decode(),))


def _check_columns(table: Table, rows: list[Row]) -> None:
    """Every row has every column and no other: the server would take a missing one for NULL
    and drop an unknown one (the values COPY writes are picked by name: a missing column fails
    there too)."""
    columns = {c.name for c in table.columns}
    # In C (this thread shares the interpreter with the pass): each row's keys against the set.
    if all(map(eq, map(dict.keys, rows), repeat(columns))):
        return
    row = next(r for r in rows if r.keys() != columns)
    missing = sorted(columns - set(row))
    extra = sorted(set(row) - columns)
    raise ValueError(f"{table.name}: row without {missing} or with unknown {extra}")


def _json_insert(tx: Tx, table: Table, upsert: bool) -> str:
    """INSERT of a JSON array of rows (objects named by column); an upsert's conflict clause is
    the row cache's own (``tracking.rows.driver_statement``)."""
    quote = tx.conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    columns = ", ".join(quote(c.name) for c in table.columns)
    text = (
        f"INSERT INTO {name} ({columns}) SELECT {columns} "
        f"FROM json_populate_recordset(NULL::{name}, %s::json)"
    )
    if upsert:
        statement = driver_statement(tx, table, "upsert")
        text += statement[statement.index(" ON CONFLICT") :]
    return text
