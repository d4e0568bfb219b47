"""Where the per-holder data keys live, wrapped: a table in the event store's own database.

``sscard_data_keys`` sits beside the events (the SQLite file ``sscard.sqlite``, or the PostgreSQL
schema), so a backup of the store carries the keys it needs and nothing else does. One row per
holder: the data key wrapped by the master key, or, after an erasure, no key at all (a
tombstone that says the holder was erased, so their records read as erased rather than failing).

Beside it, ``sscard_key_ids`` names the keys that made the store (one identifier per key
variable, recorded when the store is made; ``store.key_check`` compares them at every start).

The same connection also reads stored records as raw bytes, for the hash chain (a predecessor's
digest, ``sscard audit verify-chain``) and for ``sscard db migrate``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql

from domain.claims.events import InvoiceNumberReserved
from domain.requests import RequestRecorded

KEYS_TABLE = "sscard_data_keys"
KEY_IDS_TABLE = "sscard_key_ids"
# Stored forms of the records that once kept a plain digest (``store.migrate``): a request
# record with a keyed fingerprint, an invoice reservation on a keyed stream id. Any other record
# of those types is in the old form. Matched in the stored JSON (orjson's compact form); a later
# version of either type must keep its pattern matching.
KEYED_FORMS = (
    (get_topic(RequestRecorded), '%"fingerprint_form":"hmac-sha256"%'),
    (get_topic(InvoiceNumberReserved), '%"schema_version":2,%'),
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A holder's row: the wrapped data key, or None once the holder is erased."""

    wrapped: bytes | None
    kek_id: str


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A stored event exactly as the table holds it."""

    position: int
    stream_id: UUID
    version: int
    topic: str
    state: bytes


def _now() -> str:
    return datetime.now(UTC).isoformat()


class KeyTable(Protocol):
    def create(self) -> None: ...

    def get(self, owner: str) -> KeyRow | None: ...

    def get_many(self, owners: Sequence[str]) -> dict[str, KeyRow]:
        """The rows of these holders that exist, in one query."""

    def add(self, owner: str, wrapped: bytes, kek_id: str) -> KeyRow:
        """Store ``wrapped`` unless the holder has a row already; returns the row that holds."""

    def erase(self, owner: str) -> bool:
        """Destroy the holder's key (a tombstone stays); True if a live key was destroyed."""

    def live_owner(self) -> str | None:
        """A holder whose data key is live, if any."""

    def key_ids(self) -> dict[str, str]:
        """The identifiers of the keys that made the store, by variable."""

    def record_key_ids(self, ids: Mapping[str, str]) -> dict[str, str]:
        """Record the identifiers of variables that have none yet (the first to record one
        wins); returns every recorded identifier."""

    def record(self, stream_id: UUID, version: int) -> RawRecord | None: ...

    def has_plain_digests(self) -> bool:
        """Whether a record keeps a digest in the old, unkeyed form (``KEYED_FORMS``)."""

    def records(self, by_stream: bool = False, after: int = 0) -> Iterator[RawRecord]:
        """Every stored record, in log order (or by stream and version)."""

    def rewrite(self, records: Sequence[RawRecord]) -> None:
        """Replace the state bytes of these records, in one transaction (``db migrate``)."""

    def move(self, old_stream: UUID, records: Sequence[RawRecord]) -> None:
        """Move a stream's records to the records' stream id, with their new state bytes, in
        one transaction, keeping their place in the log (``db migrate``)."""

    def purge(self) -> None:
        """Best effort to remove old bytes from disk after rewriting or erasing."""

    def compact(self) -> None:
        """Rewrite the store's files so that no old record's bytes stay in free space."""

    def close(self) -> None: ...


class MemoryKeyTable:
    """For the in-memory store (unit tests): keys in a dict; raw records read from the
    recorder it is attached to."""

    def __init__(self) -> None:
        self._rows: dict[str, KeyRow] = {}
        self._key_ids: dict[str, str] = {}
        self._select_events: Callable[..., Sequence[StoredEvent]] | None = None
        self._lock = threading.Lock()

    def create(self) -> None:
        return None

    def get(self, owner: str) -> KeyRow | None:
        return self._rows.get(owner)

    def get_many(self, owners: Sequence[str]) -> dict[str, KeyRow]:
        return {o: row for o in owners if (row := self._rows.get(o)) is not None}

    def add(self, owner: str, wrapped: bytes, kek_id: str) -> KeyRow:
        with self._lock:
            return self._rows.setdefault(owner, KeyRow(wrapped, kek_id))

    def erase(self, owner: str) -> bool:
        with self._lock:
            before = self._rows.get(owner)
            self._rows[owner] = KeyRow(None, before.kek_id if before else "")
            return before is not None and before.wrapped is not None

    def live_owner(self) -> str | None:
        return next((o for o, row in self._rows.items() if row.wrapped is not None), None)

    def key_ids(self) -> dict[str, str]:
        return dict(self._key_ids)

    def record_key_ids(self, ids: Mapping[str, str]) -> dict[str, str]:
        with self._lock:
            for variable, key_id in ids.items():
                self._key_ids.setdefault(variable, key_id)
            return dict(self._key_ids)

    def attach(self, select_events: Callable[..., Sequence[StoredEvent]]) -> None:
        """The in-memory recorder's ``select_events``, to read a predecessor from."""
        self._select_events = select_events

    def record(self, stream_id: UUID, version: int) -> RawRecord | None:
        if self._select_events is None:
            return None
        found = self._select_events(stream_id, gt=version - 1, lte=version)
        if not found:
            return None
        return RawRecord(0, stream_id, version, found[0].topic, found[0].state)

    def has_plain_digests(self) -> bool:
        return False  # nothing older than this release is ever in memory

    def records(
        self,
        by_stream: bool = False,  # noqa: ARG002
        after: int = 0,  # noqa: ARG002
    ) -> Iterator[RawRecord]:
        return iter(())

    def rewrite(self, records: Sequence[RawRecord]) -> None:
        raise NotImplementedError("the in-memory store is not migrated")

    def move(self, old_stream: UUID, records: Sequence[RawRecord]) -> None:
        raise NotImplementedError("the in-memory store is not migrated")

    def purge(self) -> None:
        return None

    def compact(self) -> None:
        return None

    def close(self) -> None:
        return None


class SQLiteKeyTable:
    """The key table in the SQLite store file, on a connection of its own."""

    EVENTS = "stored_events"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                str(self._path), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            # A destroyed key is overwritten with zeros, not left in a free page of the file.
            conn.execute("PRAGMA secure_delete=ON")
            self._conn = conn
        return self._conn

    def create(self) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (holder_id TEXT PRIMARY KEY, "
                "wrapped BLOB, kek_id TEXT NOT NULL, created_at TEXT NOT NULL, erased_at TEXT)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {KEY_IDS_TABLE} (variable TEXT PRIMARY KEY, "
                "key_id TEXT NOT NULL, recorded_at TEXT NOT NULL)"
            )

    def live_owner(self) -> str | None:
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT holder_id FROM {KEYS_TABLE} WHERE wrapped IS NOT NULL LIMIT 1")
                .fetchone()
            )
        return None if row is None else str(row[0])

    def key_ids(self) -> dict[str, str]:
        with self._lock:
            rows = self._connection().execute(f"SELECT variable, key_id FROM {KEY_IDS_TABLE}")
            return {str(v): str(k) for v, k in rows}

    def record_key_ids(self, ids: Mapping[str, str]) -> dict[str, str]:
        with self._lock:
            self._connection().executemany(
                f"INSERT OR IGNORE INTO {KEY_IDS_TABLE} (variable, key_id, recorded_at) "
                "VALUES (?, ?, ?)",
                [(variable, key_id, _now()) for variable, key_id in ids.items()],
            )
        return self.key_ids()

    def get(self, owner: str) -> KeyRow | None:
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT wrapped, kek_id FROM {KEYS_TABLE} WHERE holder_id = ?", (owner,))
                .fetchone()
            )
        return None if row is None else KeyRow(row[0], row[1])

    def get_many(self, owners: Sequence[str]) -> dict[str, KeyRow]:
        found: dict[str, KeyRow] = {}
        with self._lock:
            conn = self._connection()
            for start in range(0, len(owners), 500):
                chunk = owners[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for holder, wrapped, kek_id in conn.execute(
                    f"SELECT holder_id, wrapped, kek_id FROM {KEYS_TABLE} "
                    f"WHERE holder_id IN ({marks})",
                    chunk,
                ):
                    found[holder] = KeyRow(wrapped, kek_id)
        return found

    def add(self, owner: str, wrapped: bytes, kek_id: str) -> KeyRow:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    f"INSERT OR IGNORE INTO {KEYS_TABLE} (holder_id, wrapped, kek_id, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (owner, wrapped, kek_id, _now()),
                )
                row = conn.execute(
                    f"SELECT wrapped, kek_id FROM {KEYS_TABLE} WHERE holder_id = ?", (owner,)
                ).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return KeyRow(row[0], row[1])

    def erase(self, owner: str) -> bool:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.execute(
                    f"SELECT wrapped, kek_id, created_at FROM {KEYS_TABLE} WHERE holder_id = ?",
                    (owner,),
                ).fetchone()
                # DELETE, not UPDATE: with secure_delete the old cell is zeroed in its page.
                conn.execute(f"DELETE FROM {KEYS_TABLE} WHERE holder_id = ?", (owner,))
                conn.execute(
                    f"INSERT INTO {KEYS_TABLE} (holder_id, wrapped, kek_id, created_at, "
                    "erased_at) VALUES (?, NULL, ?, ?, ?)",
                    (owner, before[1] if before else "", before[2] if before else _now(), _now()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self.purge()
        return before is not None and before[0] is not None

    def purge(self) -> None:
        """Copy the WAL into the file and empty it, so the old page images (a destroyed key,
        plaintext a migration replaced) are gone from the WAL too. Best effort: a reader that
        holds an old snapshot keeps the WAL until it finishes."""
        with self._lock:
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def compact(self) -> None:
        """VACUUM (every page rewritten, free ones dropped) and an emptied WAL."""
        with self._lock:
            self._connection().execute("VACUUM")
        self.purge()

    def _raw(self, row: tuple[Any, ...]) -> RawRecord:
        return RawRecord(int(row[0]), UUID(row[1]), int(row[2]), row[3], bytes(row[4]))

    def record(self, stream_id: UUID, version: int) -> RawRecord | None:
        with self._lock:
            row = (
                self._connection()
                .execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                    f"{self.EVENTS} WHERE originator_id = ? AND originator_version = ?",
                    (stream_id.hex, version),
                )
                .fetchone()
            )
        return None if row is None else self._raw(row)

    def has_plain_digests(self) -> bool:
        where = " OR ".join("(topic = ? AND CAST(state AS TEXT) NOT LIKE ?)" for _ in KEYED_FORMS)
        with self._lock:
            row = (
                self._connection()
                .execute(
                    f"SELECT 1 FROM {self.EVENTS} WHERE {where} LIMIT 1",
                    [value for form in KEYED_FORMS for value in form],
                )
                .fetchone()
            )
        return row is not None

    def records(self, by_stream: bool = False, after: int = 0) -> Iterator[RawRecord]:
        order = "originator_id, originator_version" if by_stream else "rowid"
        query = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.EVENTS} "
            f"WHERE rowid > ? ORDER BY {order}"
        )
        # A connection of its own: the scan must not hold the key table's lock.
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=30.0)
        try:
            for row in conn.execute(query, (after,)):
                yield self._raw(row)
        finally:
            conn.close()

    def rewrite(self, records: Sequence[RawRecord]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"UPDATE {self.EVENTS} SET state = ? WHERE originator_id = ? "
                    "AND originator_version = ?",
                    [(r.state, r.stream_id.hex, r.version) for r in records],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def move(self, old_stream: UUID, records: Sequence[RawRecord]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"UPDATE {self.EVENTS} SET originator_id = ?, state = ? "
                    "WHERE originator_id = ? AND originator_version = ?",
                    [(r.stream_id.hex, r.state, old_stream.hex, r.version) for r in records],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresKeyTable:
    """The key table in the store's PostgreSQL schema, on a connection of its own (reopened
    after an outage)."""

    def __init__(self, dsn: str, schema: str, events_table: str, connect_timeout: int) -> None:
        self._dsn = dsn
        self._schema = schema
        self._events = events_table
        self._timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()

    def _keys(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self._schema), sql.Identifier(KEYS_TABLE))

    def _events_table(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self._schema), sql.Identifier(self._events))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        return self._conn

    def _run(self, query: sql.Composed, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                cursor = self._connection().execute(query, params)
            except psycopg.OperationalError:
                self._drop()  # a dead connection: the caller's retry gets a fresh one
                raise
            return cursor.fetchall() if cursor.description else []

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def create(self) -> None:
        self._run(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (holder_id text PRIMARY KEY, wrapped bytea, "
                "kek_id text NOT NULL, created_at text NOT NULL, erased_at text)"
            ).format(self._keys())
        )
        self._run(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (variable text PRIMARY KEY, key_id text NOT NULL, "
                "recorded_at text NOT NULL)"
            ).format(self._key_ids())
        )

    def _key_ids(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self._schema), sql.Identifier(KEY_IDS_TABLE))

    def live_owner(self) -> str | None:
        rows = self._run(
            sql.SQL("SELECT holder_id FROM {} WHERE wrapped IS NOT NULL LIMIT 1").format(
                self._keys()
            )
        )
        return str(rows[0][0]) if rows else None

    def key_ids(self) -> dict[str, str]:
        rows = self._run(sql.SQL("SELECT variable, key_id FROM {}").format(self._key_ids()))
        return {str(v): str(k) for v, k in rows}

    def record_key_ids(self, ids: Mapping[str, str]) -> dict[str, str]:
        for variable, key_id in ids.items():
            self._run(
                sql.SQL(
                    "INSERT INTO {} (variable, key_id, recorded_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (variable) DO NOTHING"
                ).format(self._key_ids()),
                (variable, key_id, _now()),
            )
        return self.key_ids()

    def get(self, owner: str) -> KeyRow | None:
        rows = self._run(
            sql.SQL("SELECT wrapped, kek_id FROM {} WHERE holder_id = %s").format(self._keys()),
            (owner,),
        )
        return (
            KeyRow(bytes(rows[0][0]) if rows[0][0] is not None else None, rows[0][1])
            if rows
            else None
        )

    def get_many(self, owners: Sequence[str]) -> dict[str, KeyRow]:
        """The owners go as one JSON array and the rows come back as one JSON text (the keys
        in hex): psycopg's pure-Python build parses each value of each row in Python, which
        was a quarter of a replay's opening of the records on PostgreSQL."""
        rows = self._run(
            sql.SQL(
                "SELECT json_agg(json_build_array(k.holder_id, encode(k.wrapped, 'hex'), "
                "k.kek_id))::text FROM json_array_elements_text(%s::json) AS o(holder_id) "
                "JOIN {} AS k ON k.holder_id = o.holder_id"
            ).format(self._keys()),
            (orjson.dumps(list(owners)).decode(),),
        )
        found = orjson.loads(rows[0][0]) if rows and rows[0][0] is not None else []
        return {
            str(h): KeyRow(bytes.fromhex(w) if w is not None else None, str(k)) for h, w, k in found
        }

    def add(self, owner: str, wrapped: bytes, kek_id: str) -> KeyRow:
        self._run(
            sql.SQL(
                "INSERT INTO {} (holder_id, wrapped, kek_id, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (holder_id) DO NOTHING"
            ).format(self._keys()),
            (owner, wrapped, kek_id, _now()),
        )
        row = self.get(owner)
        assert row is not None
        return row

    def erase(self, owner: str) -> bool:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                before = conn.execute(
                    sql.SQL(
                        "SELECT wrapped, kek_id, created_at FROM {} WHERE holder_id = %s FOR UPDATE"
                    ).format(self._keys()),
                    (owner,),
                ).fetchone()
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE holder_id = %s").format(self._keys()), (owner,)
                )
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (holder_id, wrapped, kek_id, created_at, erased_at) "
                        "VALUES (%s, NULL, %s, %s, %s)"
                    ).format(self._keys()),
                    (owner, before[1] if before else "", before[2] if before else _now(), _now()),
                )
        self.purge()
        return before is not None and before[0] is not None

    def purge(self) -> None:
        # Dead row versions stay in the table's pages until VACUUM reuses them (and in the WAL
        # and backups): the README's "Personal data" section says what follows.
        self._run(sql.SQL("VACUUM {}").format(self._keys()))

    def _raw(self, row: tuple[Any, ...]) -> RawRecord:
        stream = row[1] if isinstance(row[1], UUID) else UUID(str(row[1]))
        return RawRecord(int(row[0]), stream, int(row[2]), row[3], bytes(row[4]))

    def record(self, stream_id: UUID, version: int) -> RawRecord | None:
        rows = self._run(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {} WHERE originator_id = %s AND originator_version = %s"
            ).format(self._events_table()),
            (stream_id, version),
        )
        return self._raw(rows[0]) if rows else None

    def has_plain_digests(self) -> bool:
        where = " OR ".join(
            "(topic = %s AND convert_from(state, 'UTF8') NOT LIKE %s)" for _ in KEYED_FORMS
        )
        rows = self._run(
            sql.SQL("SELECT 1 FROM {} WHERE " + where + " LIMIT 1").format(self._events_table()),
            [value for form in KEYED_FORMS for value in form],
        )
        return bool(rows)

    def records(self, by_stream: bool = False, after: int = 0) -> Iterator[RawRecord]:
        order = "originator_id, originator_version" if by_stream else "notification_id"
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s ORDER BY " + order
        ).format(self._events_table())
        with (
            psycopg.connect(self._dsn, connect_timeout=self._timeout) as conn,
            conn.cursor(name="sscard_scan") as cursor,
        ):
            cursor.execute(query, (after,))
            for row in cursor:
                yield self._raw(row)

    def rewrite(self, records: Sequence[RawRecord]) -> None:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "UPDATE {} SET state = %s WHERE originator_id = %s "
                        "AND originator_version = %s"
                    ).format(self._events_table()),
                    [(r.state, r.stream_id, r.version) for r in records],
                )

    def move(self, old_stream: UUID, records: Sequence[RawRecord]) -> None:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "UPDATE {} SET originator_id = %s, state = %s WHERE originator_id = %s "
                        "AND originator_version = %s"
                    ).format(self._events_table()),
                    [(r.stream_id, r.state, old_stream, r.version) for r in records],
                )

    def compact(self) -> None:
        """VACUUM FULL: the tables are written afresh and their old files dropped (the old
        bytes may stay in the file system's free blocks, the WAL and backups: see README)."""
        for table in (self._events_table(), self._keys()):
            self._run(sql.SQL("VACUUM FULL {}").format(table))

    def close(self) -> None:
        with self._lock:
            self._drop()
