"""Where read models live: SQLite (default) or PostgreSQL, behind one small transactional API.

A view writes its change and its tracking position in the same transaction (``Tx``), so a crash
can neither apply an event twice nor skip one. Positions move by compare-and-set: two runners of
the same projection cannot both apply a batch.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import psycopg
from eventsourcing.persistence import PersistenceError

Params = Sequence[Any]


# What a follower may wait out: the database (SQLite busy, PostgreSQL gone) rather than a bug.
STORE_ERRORS: tuple[type[Exception], ...] = (
    PersistenceError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
)


class PositionConflict(RuntimeError):
    """Another runner moved this projection's position first; the batch was rolled back."""


class Tx(ABC):
    """One open transaction. SQL uses ``?`` placeholders on every backend."""

    dialect: Literal["sqlite", "postgres"]

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows it changed."""

    @abstractmethod
    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def position(self, name: str) -> int:
        row = self.fetchone("SELECT position FROM sscard_positions WHERE name = ?", (name,))
        return int(row[0]) if row else 0

    def move_position(self, name: str, expected: int, new: int) -> None:
        """Compare-and-set: refuse to move a position another runner already moved."""
        changed = self.execute(
            "UPDATE sscard_positions SET position = ? WHERE name = ? AND position = ?",
            (new, name, expected),
        )
        if changed != 1:
            raise PositionConflict(f"position of {name} is no longer {expected}")


class ViewStore(ABC):
    dialect: Literal["sqlite", "postgres"]

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """Everything done on the Tx commits together, or not at all."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def try_exclusive(self, name: str) -> bool:
        """Become the only runner of ``name`` (e.g. the relay) until this store is closed."""

    def ensure_position(self, name: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS sscard_positions "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )
            tx.execute(
                "INSERT INTO sscard_positions (name, position) VALUES (?, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )

    def position(self, name: str) -> int:
        with self.transaction() as tx:
            return tx.position(name)

    def reset(self, name: str, tables: Sequence[str]) -> None:
        """Forget a projection's view and position so it can be rebuilt from position 0."""
        with self.transaction() as tx:
            for table in tables:
                tx.execute(f"DELETE FROM {table}")
            tx.execute("UPDATE sscard_positions SET position = 0 WHERE name = ?", (name,))


class _SQLiteTx(Tx):
    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._conn.execute(sql, tuple(params)).fetchall()]


def ensure_wal(path: Path) -> None:
    """Put a SQLite file in WAL mode once, before anything else connects.

    WAL is a property of the file, but switching to it needs a moment alone with the file, and
    SQLite does not wait for that: two processes opening a new file at once (``sscard run`` and a
    first command) could fail with "database is locked". A lock file serialises the switch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.init.lock", "a+") as guard:
        fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
        conn = sqlite3.connect(str(path), timeout=30.0)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()


class SQLiteViewStore(ViewStore):
    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._locks: list[int] = []
        ensure_wal(path)
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, timeout=30.0, check_same_thread=False
        )
        self._lock = threading.Lock()

    def transaction(self) -> AbstractContextManager[Tx]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        with self._lock:
            # IMMEDIATE takes the write lock up front: no upgrade deadlock between writers.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def try_exclusive(self, name: str) -> bool:
        # An OS file lock beside the database: released by the kernel if the process dies.
        fd = os.open(f"{self._path}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._locks.append(fd)
        return True

    def close(self) -> None:
        for fd in self._locks:
            os.close(fd)
        self._locks.clear()
        self._conn.close()


class _PostgresTx(Tx):
    dialect: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = ()) -> int:
        self._cursor.execute(sql.replace("?", "%s"), tuple(params))
        return self._cursor.rowcount

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql.replace("?", "%s"), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]


class PostgresViewStore(ViewStore):
    dialect: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._lock = threading.Lock()

    def transaction(self) -> AbstractContextManager[Tx]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cursor:
            yield _PostgresTx(cursor)

    def try_exclusive(self, name: str) -> bool:
        # A session-level advisory lock: released by the server if this connection dies.
        with self._lock:
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (f"sscard:{name}",)
            ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._conn.close()
