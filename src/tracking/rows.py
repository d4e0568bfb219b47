"""The rows a batch of events touches, held in memory while the batch is applied.

Read models apply events as pure functions over rows (``get`` / ``put`` / ``delete``); the rows
a batch needs are loaded with one query per table (``load``), and every change is written back
with one statement per table and kind (``flush``), inside the transaction that also records the
batch's position. A statement per event would cost more than reading the event itself; this way
a replay stays within a small factor of a raw scan of the store.

``mark`` / ``undo`` take back the changes of one event whose apply failed half-way, so that the
consumer can park that event and go on with the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, Text, and_, bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tracking.store import Tx

Row = dict[str, Any]
Key = tuple[Any, ...]

_CHUNK = 500
_UNSET = object()


def primary_key(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


class Rows:
    """A write-back cache of view rows over one transaction."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        # table name -> key -> row (None: known not to exist, or deleted in this batch)
        self._rows: dict[str, dict[Key, Row | None]] = {}
        self._dirty: dict[str, set[Key]] = {}
        self._tables: dict[str, Table] = {}
        self._undo: list[tuple[str, Key, Any, bool]] = []

    # ---- reading ---------------------------------------------------------------------------

    def _cache(self, table: Table) -> dict[Key, Row | None]:
        cache = self._rows.get(table.name)
        if cache is None:
            cache = self._rows[table.name] = {}
            self._dirty[table.name] = set()
            self._tables[table.name] = table
        return cache

    def load(self, table: Table, keys: Iterable[Key]) -> None:
        """Bring the rows with these primary keys into memory: one query per 500 keys."""
        cache = self._cache(table)
        wanted = [k for k in dict.fromkeys(keys) if k not in cache]
        if not wanted:
            return
        names = primary_key(table)
        columns = [table.c[n] for n in names]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            if len(columns) == 1:
                condition = columns[0].in_([k[0] for k in chunk])
            else:
                condition = tuple_(*columns).in_(chunk)
            for found in self._tx.execute(select(table).where(condition)).mappings():
                row = dict(found)
                cache[tuple(row[n] for n in names)] = row
            for key in chunk:
                cache.setdefault(key, None)

    def get(self, table: Table, key: Key) -> Row | None:
        """The row with this primary key (a copy: change it and ``put`` it back), or None."""
        cache = self._cache(table)
        if key not in cache:
            self.load(table, [key])
        row = cache[key]
        return None if row is None else dict(row)

    def find(self, table: Table, **equal: Any) -> list[Row]:
        """Rows whose columns equal the given values, as this batch sees them (its own changes
        included), in primary-key order."""
        cache = self._cache(table)
        names = primary_key(table)
        condition = and_(*(table.c[k] == v for k, v in equal.items()))
        for found in self._tx.execute(select(table).where(condition)).mappings():
            row = dict(found)
            cache.setdefault(tuple(row[n] for n in names), row)
        matching = [
            dict(row)
            for row in cache.values()
            if row is not None and all(row.get(k) == v for k, v in equal.items())
        ]
        return sorted(matching, key=lambda r: tuple(r[n] for n in names))

    # ---- changing --------------------------------------------------------------------------

    def put(self, table: Table, row: Row) -> None:
        """Insert or replace a whole row (every column given; NOT NULL ones not None)."""
        missing = [c.name for c in table.columns if c.name not in row]
        extra = [k for k in row if k not in table.c]
        if missing or extra:
            raise ValueError(f"{table.name}: row without {missing} or with unknown {extra}")
        empty = [c.name for c in table.columns if not c.nullable and row[c.name] is None]
        if empty:
            raise ValueError(f"{table.name}: no value for {', '.join(empty)}")
        key = tuple(row[n] for n in primary_key(table))
        self._change(table, key, dict(row))

    def delete(self, table: Table, key: Key) -> None:
        self._change(table, key, None)

    def _change(self, table: Table, key: Key, row: Row | None) -> None:
        cache = self._cache(table)
        dirty = self._dirty[table.name]
        self._undo.append((table.name, key, cache.get(key, _UNSET), key in dirty))
        cache[key] = row
        dirty.add(key)

    def mark(self) -> int:
        return len(self._undo)

    def undo(self, mark: int) -> None:
        """Take back every change made since ``mark``."""
        while len(self._undo) > mark:
            name, key, before, was_dirty = self._undo.pop()
            cache = self._rows[name]
            if before is _UNSET:
                cache.pop(key, None)
            else:
                cache[key] = before
            if not was_dirty:
                self._dirty[name].discard(key)

    # ---- writing back ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write every changed row: one DELETE and one upsert statement per table."""
        for name, keys in self._dirty.items():
            if not keys:
                continue
            table = self._tables[name]
            cache = self._rows[name]
            ordered = sorted(keys, key=repr)  # a stable order: fewer lock waits between writers
            gone = [k for k in ordered if cache[k] is None]
            kept = [cache[k] for k in ordered if cache[k] is not None]
            if gone:
                self._delete(table, gone)
            if kept:
                self._upsert(table, [r for r in kept if r is not None])
            keys.clear()
        self._undo.clear()

    def _delete(self, table: Table, keys: Sequence[Key]) -> None:
        names = primary_key(table)
        statement = delete(table).where(*(table.c[n] == _bind(n) for n in names))
        self._tx.conn.execute(
            statement, [{f"k_{n}": v for n, v in zip(names, k, strict=True)} for k in keys]
        )

    def _upsert(self, table: Table, rows: list[Row]) -> None:
        names = primary_key(table)
        insert = pg_dialect.insert if self._tx.dialect == "postgres" else sqlite_dialect.insert
        statement = insert(table)
        others = [c.name for c in table.columns if c.name not in names]
        if others:
            upsert = statement.on_conflict_do_update(
                index_elements=list(names), set_={n: statement.excluded[n] for n in others}
            )
        else:
            upsert = statement.on_conflict_do_nothing(index_elements=list(names))
        for start in range(0, len(rows), _CHUNK):
            self._tx.conn.execute(upsert, rows[start : start + _CHUNK])


def _bind(name: str) -> Any:
    return bindparam(f"k_{name}")


def table_rows(tx: Tx, table: Table, where: Any = None, chunk: int = 5_000) -> Iterator[Row]:
    """Every row of ``table`` (optionally filtered) in primary-key order, streamed."""
    # Byte order on both backends (PostgreSQL's default collation follows the locale), so two
    # stores list the same rows in the same order, and Python compares keys the same way.
    order = [
        c.collate("C") if tx.dialect == "postgres" and isinstance(c.type, Text) else c
        for c in table.primary_key.columns
    ]
    statement = select(table).order_by(*order)
    if where is not None:
        statement = statement.where(where)
    result = tx.conn.execution_options(yield_per=chunk).execute(statement)
    for row in result.mappings():
        yield {str(k): v for k, v in row.items()}  # plain str keys (not quoted_name)
