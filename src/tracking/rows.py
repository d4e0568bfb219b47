"""The rows a batch of events touches, held in memory while the batch is applied.

Read models apply events as pure functions over rows (``get`` / ``put`` / ``delete``); the rows
a batch needs are loaded with one query per table (``load``), and every change is written back
with one statement per table and kind (``flush``), inside the transaction that also records the
batch's position. A statement per event would cost more than reading the event itself.

``mark`` / ``undo`` take back the changes of one event whose apply failed half-way, so that the
consumer can park that event and go on with the rest of the batch.

A rebuild into an empty store (``complete=True``) is the only writer of its tables, so its
cache holds every row there is: it is carried from batch to batch (``begin``), and a key it
does not hold is known to be absent without asking the database.

Past its bound on rows held, a rebuild's cache keeps two generations: the rows it holds become
the old generation (written already), and it starts a new one. A row found in the old one moves
to the new; the old one is dropped at the next turn. Memory stays within twice the bound, and
the rows a province's recent events touch (holders active this month) are still at hand: only
a key in neither generation is asked of the database. Dropping everything at once made each
later batch ask the database for nearly every row it touched (a third of the speed).

Past its first generation, a rebuild still asks the database only for what may be there:
- a stream whose first event is in the batch (``new_streams``) has no row yet in any table
  keyed by its ``stream_id`` (such a row holds that stream's state and is written only by its
  events, which a rebuild reads once each, in order), nor a row owned by it
  (``owned_by_new_streams``). The bench's rebuild of a million events asked the database for
  two million keys and found none; these rules, with no load of rows the views write without
  reading (the blocklist's cards) and none for the parts a rebuild copies from their twins,
  leave none of them;
- a row known absent when it was put is new to the store: it is written with a plain INSERT
  (COPY on PostgreSQL). A row the store holds or may hold (loaded, written in an earlier
  generation, or put without being looked at) is written with an upsert, which costs twice
  as much on PostgreSQL. A row thought new that the store held fails the INSERT and the
  rebuild: it is never silently overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import Table, Text, and_, select

from tracking.store import Tx

Row = dict[str, Any]
Key = tuple[Any, ...]

_CHUNK = 500
_UNSET = object()


@dataclass(frozen=True)
class _Shape:
    """What ``put`` checks and ``flush`` writes, worked out once per table (asking SQLAlchemy's
    column collections for it on every row cost more than applying the event)."""

    key: tuple[str, ...]
    names: tuple[str, ...]  # every column, in table order
    columns: frozenset[str]
    required: tuple[str, ...]
    # A row's NOT NULL values and its key, picked in C (put runs for every event and view).
    required_values: Callable[[Row], tuple[Any, ...]]
    key_of: Callable[[Row], Key]
    values_of: Callable[[Row], tuple[Any, ...]]  # every column, in table order
    stream_at: int | None  # where ``stream_id`` is in the key (a stream's own rows), if it is


_shapes: dict[Table, _Shape] = {}
_sql: dict[tuple[Table, str, str], str] = {}


def _shape(table: Table) -> _Shape:
    shape = _shapes.get(table)
    if shape is None:
        key = tuple(c.name for c in table.primary_key.columns)
        required = tuple(c.name for c in table.columns if not c.nullable)
        names = tuple(c.name for c in table.columns)
        shape = _shapes[table] = _Shape(
            key=key,
            names=names,
            columns=frozenset(c.name for c in table.columns),
            required=required,
            required_values=_picker(required),
            key_of=_picker(key),
            values_of=_picker(names),
            stream_at=key.index("stream_id") if "stream_id" in key else None,
        )
    return shape


def _picker(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """The values of ``names`` in a row, as a tuple (itemgetter of one name gives no tuple)."""
    if not names:
        return lambda _row: ()
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return cast(Callable[[Row], tuple[Any, ...]], itemgetter(*names))


@dataclass(frozen=True)
class RowWrites:
    """A rebuild's changed rows of one table, taken from its cache (``Rows.take_writes``)."""

    table: Table
    new: list[Row]  # new to the store: inserted
    held: list[Row]  # the store holds or may hold them: upserted
    gone: list[Key]  # deleted


def primary_key(table: Table) -> tuple[str, ...]:
    return _shape(table).key


def driver_statement(tx: Tx, table: Table, kind: str) -> str:
    """The driver-level ``delete`` or ``upsert`` of one row of ``table``."""
    return _statement(tx, table, kind)


def _statement(tx: Tx, table: Table, kind: str, rows: int = 1) -> str:
    """The driver-level upsert or delete of one row of ``table`` (positional parameters),
    written from the table's one definition; an insert or upsert of ``rows`` rows at once.
    Executed for many rows at once, it goes straight to the driver's ``executemany``:
    SQLAlchemy's per-row parameter handling was a third of a replay's time."""
    cached = _sql.get((table, f"{kind}*{rows}", tx.dialect))
    if cached is not None:
        return cached
    quote = tx.conn.dialect.identifier_preparer.quote
    mark = "%s" if tx.dialect == "postgres" else "?"
    shape = _shape(table)
    name = quote(table.name)
    key = ", ".join(quote(n) for n in shape.key)
    one = "(" + ", ".join(mark for _ in shape.names) + ")"
    values = ", ".join(one for _ in range(rows))
    if kind == "delete":
        where = " AND ".join(f"{quote(n)} = {mark}" for n in shape.key)
        text = f"DELETE FROM {name} WHERE {where}"
    elif kind == "insert":
        columns = ", ".join(quote(n) for n in shape.names)
        text = f"INSERT INTO {name} ({columns}) VALUES {values}"
    else:
        columns = ", ".join(quote(n) for n in shape.names)
        others = [n for n in shape.names if n not in shape.key]
        change = (
            "DO UPDATE SET " + ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in others)
            if others
            else "DO NOTHING"
        )
        text = f"INSERT INTO {name} ({columns}) VALUES {values} ON CONFLICT ({key}) {change}"
    _sql[(table, f"{kind}*{rows}", tx.dialect)] = text
    return text


def keyed_select(tx: Tx, table: Table, keys: int) -> str:
    """The driver-level select of ``keys`` rows of ``table`` by primary key (every column, in
    table order). A rebuild past its first generation asks for each batch's missing rows:
    through SQLAlchemy's expanding ``IN`` the statement was compiled again for every chunk,
    which cost more than the query."""
    kind = f"select:{keys}"
    cached = _sql.get((table, kind, tx.dialect))
    if cached is not None:
        return cached
    quote = tx.conn.dialect.identifier_preparer.quote
    mark = "%s" if tx.dialect == "postgres" else "?"
    shape = _shape(table)
    columns = ", ".join(quote(n) for n in shape.names)
    name = quote(table.name)
    if len(shape.key) == 1:
        marks = ", ".join(mark for _ in range(keys))
        text = f"SELECT {columns} FROM {name} WHERE {quote(shape.key[0])} IN ({marks})"
    else:
        # A join with the keys, not ``(a, b) IN (VALUES ...)``: SQLite (3.40) answers that
        # with a scan of the whole table, whatever its primary key.
        one = "(" + ", ".join(mark for _ in shape.key) + ")"
        on = " AND ".join(f"t.{quote(n)} = k.column{i}" for i, n in enumerate(shape.key, start=1))
        picked = ", ".join(f"t.{quote(n)}" for n in shape.names)
        values = ", ".join(one for _ in range(keys))
        text = f"SELECT {picked} FROM (VALUES {values}) AS k JOIN {name} AS t ON {on}"
    _sql[(table, kind, tx.dialect)] = text
    return text


def _keyed_rows(tx: Tx, cursor: Any, table: Table, keys: list[Key]) -> Sequence[Sequence[Any]]:
    """The rows of ``table`` with these primary keys, each its values in table order. On
    PostgreSQL the keys go as one JSON value and the rows come back as one: psycopg's
    pure-Python build formats each parameter and parses each value of each row in Python,
    about as long as the query itself."""
    if tx.dialect == "postgres":
        cursor.execute(_json_keyed_select(tx, table), (orjson.dumps(keys).decode(),))
        found = cursor.fetchone()[0]
        return [] if found is None else cast(list[list[Any]], orjson.loads(found))
    cursor.execute(keyed_select(tx, table, len(keys)), _flat(keys))
    return cast(list[tuple[Any, ...]], cursor.fetchall())


def _json_keyed_select(tx: Tx, table: Table) -> str:
    """PostgreSQL's ``keyed_select``: the keys a JSON array of arrays, the rows one JSON text."""
    kind = "select:json"
    cached = _sql.get((table, kind, tx.dialect))
    if cached is not None:
        return cached
    quote = tx.conn.dialect.identifier_preparer.quote
    shape = _shape(table)
    on = " AND ".join(
        f"t.{quote(n)} = (k.e->>{i})::{table.c[n].type.compile(dialect=tx.conn.dialect)}"
        for i, n in enumerate(shape.key)
    )
    picked = ", ".join(f"t.{quote(n)}" for n in shape.names)
    text = (
        f"SELECT json_agg(json_build_array({picked}))::text "
        f"FROM json_array_elements(%s::json) AS k(e) JOIN {quote(table.name)} AS t ON {on}"
    )
    _sql[(table, kind, tx.dialect)] = text
    return text


def _flat(keys: list[Key]) -> list[Any]:
    return [value for key in keys for value in key]


class Rows:
    """A write-back cache of view rows over one transaction (or, ``complete``, over a rebuild's
    transactions one after another)."""

    # A complete cache holds at most this many rows between batches: past it, they become the
    # old generation and the one before is dropped (``forget``), so a rebuild's memory stays
    # flat however long the history (a rebuild sets its own, smaller bound).
    HELD_ROWS = 2_000_000

    def __init__(
        self, tx: Tx, complete: bool = False, sole_writer: bool = False, held: int = HELD_ROWS
    ) -> None:
        self._tx = tx
        self._complete = complete
        # A rebuild into a scratch store: an event that fails fails the whole rebuild, so
        # nothing is ever undone, and no other writer waits on our locks (writes go unsorted).
        self._sole_writer = sole_writer
        self._held = held
        # table name -> key -> row (None: known not to exist, or deleted in this batch)
        self._rows: dict[str, dict[Key, Row | None]] = {}
        # The generation before (a rebuild past its bound): written, looked at before asking the
        # database, and dropped at the next turn.
        self._old: dict[str, dict[Key, Row | None]] = {}
        self._dirty: dict[str, set[Key]] = {}
        self._tables: dict[str, Table] = {}
        # A rebuild's put, per table: the cache, the keys to write and the key's picker (a
        # put runs for nearly every event and view: two lookups instead of four and two calls).
        self._writes: dict[Table, tuple[dict[Key, Row | None], set[Key], Callable[[Row], Key]]] = {}
        self._undo: list[tuple[str, Key, Any, bool]] = []
        # A rebuild's: per table, the keys of this generation's rows the store holds or may
        # hold (loaded, moved from the old generation, written, or put without being looked
        # at): written with an upsert; a row known absent before it was put is new to the
        # store, written with a plain INSERT.
        self._stored: dict[str, set[Key]] = {}
        self._flushed: set[str] = set()  # tables written in this generation (a rebuild's)
        # A rebuild's: the streams whose first event is in this batch (``new_streams``).
        self._new_streams: frozenset[str] = frozenset()

    @property
    def tx(self) -> Tx:
        """The transaction the rows are written in (this batch's)."""
        return self._tx

    def begin(self, tx: Tx) -> Rows:
        """Go on in the next transaction with what is cached (a complete cache only)."""
        assert self._complete or self._sole_writer, (
            "only a rebuild's cache outlives its transaction"
        )
        self._tx = tx
        if self.held_rows() > self._held:  # memory's bound
            self.forget()
        return self

    @property
    def complete(self) -> bool:
        return self._complete

    def held_rows(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def forget(self) -> None:
        """Start a new generation (flushed first: nothing dirty may be lost): the rows held
        become the old one, and the old one is dropped. From now on a key held in neither is
        asked of the database."""
        assert not any(self._dirty.values()), "flush before forgetting"
        self._old = self._rows
        self._rows = {name: {} for name in self._rows}
        self._writes.clear()
        self._stored.clear()
        self._flushed.clear()
        self._complete = False

    def new_streams(self, streams: Iterable[str]) -> None:
        """A rebuild's: the streams whose first event is in the batch about to be applied. Until
        then they have no row in a table keyed by ``stream_id``, so such a key of theirs is
        known absent without asking the database (module docstring)."""
        assert self._sole_writer, "only a rebuild reads each event once, in order"
        self._new_streams = frozenset(streams)

    @property
    def streams_beginning(self) -> frozenset[str]:
        """A rebuild's: the streams whose first event is in this batch (``new_streams``)."""
        return self._new_streams

    def _absent(self, shape: _Shape, keys: list[Key]) -> list[Key]:
        """The keys of streams that have no row yet (``new_streams``)."""
        at, new = shape.stream_at, self._new_streams
        if at is None or not new:
            return []
        return [k for k in keys if k[at] in new]

    def _from_old(self, name: str, cache: dict[Key, Row | None], key: Key) -> bool:
        """Move ``key``'s entry from the old generation to ``cache`` (the new); False if the
        old one has none."""
        old = self._old.get(name)
        if not old or key not in old:
            return False
        row = cache[key] = old.pop(key)
        if row is not None:  # written when its generation ended
            self._stored_keys(name).add(key)
        return True

    def _moved_from_old(
        self, name: str, cache: dict[Key, Row | None], keys: list[Key]
    ) -> list[Key]:
        """``_from_old`` for many keys at once: the keys the old generation did not hold."""
        old = self._old.get(name)
        if not old:
            return keys
        moved = [k for k in keys if k in old]
        if not moved:
            return keys
        for key in moved:
            self._from_old(name, cache, key)
        return [k for k in keys if k not in cache]

    def _stored_keys(self, name: str) -> set[Key]:
        stored = self._stored.get(name)
        if stored is None:
            stored = self._stored[name] = set()
        return stored

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
        if wanted and self._old:
            wanted = self._moved_from_old(table.name, cache, wanted)
        if wanted and self._new_streams:
            absent = self._absent(_shape(table), wanted)
            if absent:
                cache.update(dict.fromkeys(absent))
                wanted = [k for k in wanted if k not in cache]
        if not wanted:
            return
        if self._complete:
            for key in wanted:
                cache[key] = None
            return
        shape = _shape(table)
        names, key_of = shape.names, shape.key_of
        stored = self._stored_keys(table.name) if self._sole_writer else None
        raw: Any = self._tx.conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            if self._tx.dialect == "sqlite":
                cursor.row_factory = None  # tuples
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                for values in _keyed_rows(self._tx, cursor, table, chunk):
                    row = dict(zip(names, values, strict=True))
                    cache[key_of(row)] = row
                    if stored is not None:
                        stored.add(key_of(row))
                for key in chunk:
                    cache.setdefault(key, None)
        finally:
            cursor.close()

    def owned_by_new_streams(self, table: Table, owners: Mapping[Key, str]) -> None:
        """A rebuild's, for a table whose rows the views write without reading them (the
        blocklist's cards): ``owners`` maps each key the batch will write to the stream its
        row belongs to. The rows of streams that begin in this batch are known absent, so
        they are inserted; nothing is asked of the database for the others, which are
        upserted as rows put without being looked at (module docstring)."""
        new = self._new_streams
        if not new:
            return
        cache = self._cache(table)
        for key, owner in owners.items():
            if owner in new and key not in cache:
                cache[key] = None

    def get(self, table: Table, key: Key) -> Row | None:
        """The row with this primary key (a copy: change it and ``put`` it back), or None."""
        row = self.peek(table, key)
        return None if row is None else dict(row)

    def find(self, table: Table, **equal: Any) -> list[Row]:
        """Rows whose columns equal the given values, as this batch sees them (its own changes
        included), in primary-key order."""
        cache = self._cache(table)
        names = primary_key(table)
        if not self._complete:
            condition = and_(*(table.c[k] == v for k, v in equal.items()))
            for found in self._tx.execute(select(table).where(condition)).mappings():
                row = {str(k): v for k, v in found.items()}
                key = tuple(row[n] for n in names)
                if key not in cache:
                    cache[key] = row
                    if self._sole_writer:
                        self._stored_keys(table.name).add(key)
        matching = [
            dict(row)
            for row in cache.values()
            if row is not None and all(row.get(k) == v for k, v in equal.items())
        ]
        return sorted(matching, key=lambda r: tuple(r[n] for n in names))

    # ---- changing --------------------------------------------------------------------------

    def peek(self, table: Table, key: Key) -> Row | None:
        """``get`` without the copy, for a caller that only reads the row."""
        cache = self._rows.get(table.name)
        if cache is not None:
            row = cache.get(key)
            if row is not None or key in cache:  # held (None: known not to exist)
                return row
        return self._miss(table, key)

    def _miss(self, table: Table, key: Key) -> Row | None:
        """A key the cache does not hold."""
        cache = self._cache(table)
        if self._complete:  # held nowhere else: it does not exist
            cache[key] = None
            return None
        if self._from_old(table.name, cache, key):
            return cache[key]
        if self._new_streams and self._absent(_shape(table), [key]):
            cache[key] = None
            return None
        self.load(table, [key])
        return cache[key]

    def put(self, table: Table, row: Row) -> None:
        """Insert or replace a whole row (every column given; NOT NULL ones not None). The
        row is the cache's from then on: the caller builds a new one for its next change (as
        ``row | {...}`` does) rather than changing this one."""
        writes = self._writes.get(table)
        if writes is not None:
            # A rebuild's (the sole writer's): it runs the very applies the consumers run,
            # which check every row; and the flush still fails on a missing column or a NULL
            # where none may be.
            cache, dirty, key_of = writes
            key = key_of(row)
            if key not in cache and not self._complete:
                self._stored_keys(table.name).add(key)  # it may hold it: upserted
            cache[key] = row
            dirty.add(key)
            return
        if self._sole_writer:
            cache = self._cache(table)
            self._writes[table] = (cache, self._dirty[table.name], _shape(table).key_of)
            self.put(table, row)
            return
        shape = _shape(table)
        if row.keys() != shape.columns:
            missing = sorted(shape.columns - set(row))
            extra = sorted(set(row) - shape.columns)
            raise ValueError(f"{table.name}: row without {missing} or with unknown {extra}")
        if None in shape.required_values(row):
            missing = [n for n in shape.required if row[n] is None]
            raise ValueError(f"{table.name}: no value for {missing[0]}")
        self._change(table, shape.key_of(row), row)

    def create(self, table: Table, row: Row) -> None:
        """``put`` of a row whose key names the event being applied (its stream and version):
        no row had that key before it, so a rebuild writes the row with a plain INSERT rather
        than an upsert (module docstring)."""
        if self._sole_writer and not self._complete:
            cache = self._cache(table)
            key = _shape(table).key_of(row)
            if key not in cache:
                cache[key] = None  # known absent: not taken for a row the store may hold
        self.put(table, row)

    def put_known(self, table: Table, key: Key, row: Row) -> None:
        """``put`` of a row whose shape the caller guarantees (tracking's own tables, written
        for every event: their check would cost more than the write)."""
        self._change(table, key, row)

    def delete(self, table: Table, key: Key) -> None:
        self._change(table, key, None)

    def _change(self, table: Table, key: Key, row: Row | None) -> None:
        cache = self._rows.get(table.name)
        if cache is None:
            cache = self._cache(table)
        dirty = self._dirty[table.name]
        if not self._sole_writer:
            self._undo.append((table.name, key, cache.get(key, _UNSET), key in dirty))
        elif key not in cache and not self._complete:
            self._stored_keys(table.name).add(key)  # it may hold it: upserted or deleted
        cache[key] = row
        dirty.add(key)

    def mark(self) -> int:
        return len(self._undo)

    def undo(self, mark: int) -> None:
        """Take back every change made since ``mark``."""
        if self._sole_writer:  # nothing was logged: the failure ends the rebuild
            return
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
            if self._sole_writer:
                self._write_all(table, cache, keys)
                keys.clear()
                continue
            shape = _shape(table)
            # A stable order: fewer lock waits between writers.
            ordered = sorted(keys, key=repr)
            gone = [k for k in ordered if cache[k] is None]
            kept = [row for k in ordered if (row := cache[k]) is not None]
            if gone:
                self._tx.conn.exec_driver_sql(_statement(self._tx, table, "delete"), gone)
            if kept:
                values = [shape.values_of(row) for row in kept]
                upsert = _statement(self._tx, table, "upsert")
                for start in range(0, len(values), _CHUNK):
                    self._tx.conn.exec_driver_sql(upsert, values[start : start + _CHUNK])
            keys.clear()
        self._undo.clear()

    def take_writes(self) -> list[RowWrites]:
        """A rebuild's changed rows, taken to be written by another connection
        (``tracking.row_writes``), as ``flush`` would write them; nothing is left to flush."""
        assert self._sole_writer, "only a rebuild's rows are written elsewhere"
        taken = []
        for name, keys in self._dirty.items():
            if not keys:
                continue
            cache = self._rows[name]
            fresh, maybe = self._parts(self._tables[name], keys)
            taken.append(
                RowWrites(
                    self._tables[name],
                    new=[row for k in fresh if (row := cache[k]) is not None],
                    held=[row for k in maybe if (row := cache[k]) is not None],
                    gone=[k for k in maybe if cache[k] is None],
                )
            )
            keys.clear()
        return taken

    def _parts(self, table: Table, keys: set[Key]) -> tuple[set[Key], set[Key]]:
        """A rebuild's changed keys of ``table``: those new to the store, and those it holds or
        may hold (module docstring). Cut as sets, in C: no test per row. (``keys`` itself may
        come back: the callers are done with both before they clear it.)"""
        if table.name in self._flushed:  # written already in this generation: may be held
            return set(), keys
        self._flushed.add(table.name)
        maybe = keys & self._stored_keys(table.name)
        return (keys - maybe if maybe else keys), maybe

    def _write_all(self, table: Table, cache: dict[Key, Row | None], keys: set[Key]) -> None:
        """A rebuild's rows of ``table``, straight to the driver: in key order (a B-tree filled
        in order splits fewer pages: a fifth less time on SQLite), and as one stream of values
        (SQLAlchemy's handling and the lists of each chunk were a third of the flush). Rows new
        to the store are inserted, the others upserted (module docstring)."""
        tx = self._tx
        unsorted, maybe = self._parts(table, keys)
        values_of = _shape(table).values_of
        fresh = sorted(unsorted)
        new = [values_of(row) for k in fresh if (row := cache[k]) is not None]
        held_keys = sorted(maybe)
        # A row deleted that the store never held: nothing to delete.
        gone = [k for k in held_keys if cache[k] is None]
        held = [values_of(row) for k in held_keys if (row := cache[k]) is not None]
        raw: Any = tx.conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            if gone:
                cursor.executemany(_statement(tx, table, "delete"), gone)
            for kind, values in (("insert", new), ("upsert", held)):
                if not values:
                    continue
                if tx.dialect == "sqlite":
                    _insert_many(cursor, tx, table, kind, values)
                elif len(values) > _COPY_FROM[kind]:
                    _copy_upsert(tx, table, values, fresh=kind == "insert")
                else:
                    cursor.executemany(_statement(tx, table, kind), values)
        finally:
            cursor.close()


# On PostgreSQL, rows a rebuild writes go by COPY past these many (an upsert's COPY goes through
# a temporary table, worth its two statements for more rows): ``executemany`` formats and
# sends each row's statement in Python, a tenth of a million-event rebuild's writing.
_COPY_FROM = {"insert": 10, "upsert": 100}


# Rows per SQLite statement of a rebuild's writes: one statement of many rows costs a quarter
# less than ``executemany`` of one-row statements (SQLite binds and steps once per statement).
# Its parameters stay far below SQLite's limit (32,766 since 3.32) for tables of 20 columns.
_ROWS_PER_STATEMENT = 100


def _insert_many(
    cursor: Any, tx: Tx, table: Table, kind: str, values: list[tuple[Any, ...]]
) -> None:
    """``values`` into a SQLite table, ``_ROWS_PER_STATEMENT`` rows a statement, the rest
    through ``executemany``."""
    whole = len(values) - len(values) % _ROWS_PER_STATEMENT
    if whole:
        many = _statement(tx, table, kind, _ROWS_PER_STATEMENT)
        for start in range(0, whole, _ROWS_PER_STATEMENT):
            chunk = values[start : start + _ROWS_PER_STATEMENT]
            cursor.execute(many, list(chain.from_iterable(chunk)))
    if whole < len(values):
        cursor.executemany(_statement(tx, table, kind), values[whole:])


def _copy_upsert(tx: Tx, table: Table, values: list[tuple[Any, ...]], fresh: bool) -> None:
    """Many rows into a PostgreSQL table at once: COPY into a temporary table, then one upsert
    from it. ``executemany`` sends the rows one statement each (a rebuild's flush of a million
    rows spent most of its time there). ``fresh``: the table holds none of them, so they are
    copied into it directly."""
    raw: Any = tx.conn.connection.driver_connection  # the psycopg connection of ``tx``
    quote = tx.conn.dialect.identifier_preparer.quote
    shape = _shape(table)
    loading = quote(f"sscard_load_{table.name}")
    columns = ", ".join(quote(n) for n in shape.names)
    upsert = _statement(tx, table, "upsert")
    conflict = upsert[upsert.index(" ON CONFLICT") :]
    with raw.cursor() as cursor:
        if fresh:
            with cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
                _copy_rows(copy, values, len(shape.names))
            return
        cursor.execute(f"DROP TABLE IF EXISTS {loading}")
        cursor.execute(f"CREATE TEMPORARY TABLE {loading} (LIKE {quote(table.name)})")
        with cursor.copy(f"COPY {loading} ({columns}) FROM STDIN") as copy:
            _copy_rows(copy, values, len(shape.names))
        cursor.execute(
            f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} FROM {loading}{conflict}"
        )
        cursor.execute(f"DROP TABLE {loading}")


def _copy_rows(copy: Any, values: list[tuple[Any, ...]], columns: int) -> None:
    """Rows into a COPY, a chunk at a time. psycopg's pure-Python build formats each value of
    each row in Python (half a rebuild's flush on PostgreSQL); rows of text, whole numbers and
    NULLs are written here as COPY's text format in a few joins, and a chunk whose values hold
    a character that format escapes goes to ``write_row`` after all."""
    for start in range(0, len(values), _COPY_CHUNK):
        chunk = values[start : start + _COPY_CHUNK]
        text = copy_text(chunk, columns)
        if text is None:
            for row in chunk:
                copy.write_row(row)
        else:
            copy.write(text)


def copy_text(rows: list[tuple[Any, ...]], columns: int) -> str | None:
    """``rows`` in COPY's text format (a tab between values, a line each, NULL as ``\\N``), or
    None if a value is neither text, a whole number nor NULL, or would need escaping (a tab, a
    line break or a backslash in it): then the caller formats them the careful way.

    Only C loops touch the values (``map``, ``join``, ``count``): the types are collected in one
    set, and the separators and backslashes counted in the result must be exactly those the
    joins and the NULLs put there."""
    if not set(map(type, chain.from_iterable(rows))) <= _PLAIN:
        return None
    nulls = 0
    lines = []
    for row in rows:
        if None in row:
            nulls += row.count(None)
            # None -> \\N, any other value itself
            lines.append(_TAB.join(map(str, map(_NULL.get, row, row))))
        else:
            lines.append(_TAB.join(map(str, row)))
    text = "\n".join(lines) + "\n"
    if (
        text.count(_TAB) != len(rows) * (columns - 1)
        or text.count("\n") != len(rows)
        or text.count("\\") != nulls
        or "\r" in text
    ):
        return None
    return text


_TAB = "\t"
_NULL: dict[Any, str] = {None: "\\N"}
_COPY_CHUNK = 2_000
_PLAIN = frozenset({str, int, type(None)})


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
