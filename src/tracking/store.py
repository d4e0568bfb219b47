"""Where read models and follower positions live: SQLite (default) or PostgreSQL, through
SQLAlchemy Core, so every view declares its tables once for both databases.

A view writes its change and its tracking position in the same transaction (``Tx``), so a crash
can neither apply an event twice nor skip one. Positions move by compare-and-set: two runners of
the same follower cannot both record a batch.

Connections come from SQLAlchemy's pool with ``pool_pre_ping``: a connection that died with a
database restart is replaced on its next checkout, so nothing here needs a manual restart.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import CursorResult
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import Executable

log = logging.getLogger(__name__)

SQLITE_TIMEOUT_MS = 30_000  # how long a SQLite statement waits for a lock
SCRUB_WAIT_MS = 5_000  # how long a scrub waits for readers of an old snapshot

Dialect = Literal["sqlite", "postgres"]

# Every table a view store holds: tracking's own and each read model's.
metadata = MetaData()

positions_table = Table(
    "sscard_positions",
    metadata,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Where workers say what they are doing (tracking.board), for ``sscard status``.
workers_table = Table(
    "sscard_workers",
    metadata,
    Column("worker", Text, primary_key=True),  # name@host:pid
    Column("name", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("since", Text, nullable=False),  # UTC, when the state began
    Column("updated_at", Text, nullable=False),  # UTC, the last heartbeat
)

# Which store this is: one row, written when the store is made. A file that holds another
# store's row (or none) at the same path is another store (tracking.store_identity).
IDENTITY_TABLE = "sscard_store_identity"
STORE_IDENTITY = "store"
identity_table = Table(
    IDENTITY_TABLE,
    metadata,
    Column("name", Text, primary_key=True),
    Column("id", Text, nullable=False),
    Column("created_at", Text, nullable=False),  # UTC
)


# What a follower waits out: the database gone, restarting or busy, rather than a bug.
STORE_ERRORS: tuple[type[Exception], ...] = (
    StoreOperationalError,
    StoreInterfaceError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def is_store_error(exc: BaseException) -> bool:
    if isinstance(exc, STORE_ERRORS):
        return True
    # SQLAlchemy marks any error on a connection it found dead as such, whatever its class.
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


class PositionConflict(RuntimeError):
    """Another runner moved this follower's position first; the batch was rolled back."""


class Tx:
    """One open transaction on a view store."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.scrub_requested = False

    def scrub_after_commit(self) -> None:
        """Once this transaction commits, leave no earlier image of the rows it changed in the
        store's files (``ViewStore.scrub``): it blanked personal data (an erasure)."""
        self.scrub_requested = True

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        return self.conn.execute(statement, params)

    def insert_new(self, table: Table, **values: Any) -> None:
        """Insert a row unless one with the same primary key exists (idempotent replays)."""
        insert = pg_dialect.insert if self.dialect == "postgres" else sqlite_dialect.insert
        self.conn.execute(insert(table).values(**values).on_conflict_do_nothing())

    def upsert(self, table: Table, keys: Sequence[str], **values: Any) -> None:
        insert = pg_dialect.insert if self.dialect == "postgres" else sqlite_dialect.insert
        statement = insert(table).values(**values)
        changes = {k: statement.excluded[k] for k in values if k not in keys}
        self.conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))

    def lock_view(self, name: str, exclusive: bool = False) -> None:
        """Held until this transaction ends. Writers of a view (its consumers, a dead-letter
        retry) take it shared; a rebuild swapping the view's rows takes it exclusive, so that no
        writer's transaction interleaves with the swap (on PostgreSQL a writer that read a row
        before the swap must not write it back after). SQLite serialises every writer anyway."""
        if self.dialect != "postgres":
            return
        lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
        self.conn.execute(select(lock(func.hashtext(_key(f"view:{name}")))))

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists, asked without writing (for readers that create nothing)."""
        return bool(inspect(self.conn).has_table(name))

    def position(self, name: str) -> int:
        row = self.conn.execute(
            select(positions_table.c.position).where(positions_table.c.name == name)
        ).first()
        return int(row[0]) if row else 0

    def move_position(self, name: str, expected: int, new: int) -> None:
        """Compare-and-set: refuse to move a position another runner already moved."""
        changed = self.conn.execute(
            update(positions_table)
            .where(positions_table.c.name == name, positions_table.c.position == expected)
            .values(position=new)
        ).rowcount
        if changed != 1:
            raise PositionConflict(f"position of {name} is no longer {expected}")


class ExclusiveLock(Protocol):
    """Makes one runner of a name the active one; the others stand by."""

    def acquire(self) -> bool:
        """Try to become the holder; False if another holds it."""

    def check(self) -> None:
        """Raise a store error if the lock may have been lost (its session died)."""

    def release(self) -> None: ...


class ViewStore:
    """A database of views and positions, with the transactional API followers use."""

    def __init__(
        self,
        engine: Engine,
        dialect: Dialect,
        lock_prefix: Path | None = None,
        scrubs: bool = True,
    ) -> None:
        self.engine = engine
        self.dialect = dialect
        self._lock_prefix = lock_prefix
        self._locks: list[ExclusiveLock] = []
        self._scrubs = scrubs
        self._created: set[Table] = set()  # made or found by this store: not asked again

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def sqlite(cls, path: Path, scratch: bool = False) -> ViewStore:
        """The view store in the SQLite file ``path``. A ``scratch`` store (a rebuild's, removed
        after use, and thrown away if the rebuild fails) keeps no journal and never waits for
        the disk: a crash leaves only a file no later rebuild opens. It is never scrubbed after
        an erasure either: with no WAL, ``secure_delete`` zeroes a blanked row in place."""
        if scratch:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            ensure_wal(path)
        engine = create_engine(
            f"sqlite+pysqlite:///{path}",
            connect_args={"timeout": SQLITE_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        # pysqlite's own transaction handling is off; we say BEGIN ourselves. IMMEDIATE takes
        # the write lock up front (no upgrade deadlock between two writers); reads need none.
        @event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            if scratch:
                dbapi_connection.execute("PRAGMA journal_mode=OFF")
                dbapi_connection.execute("PRAGMA synchronous=OFF")
            else:
                # In WAL mode NORMAL never corrupts the file; a power cut may take back the
                # last commits, each view change with its position, so they are simply applied
                # again. FULL cost one fsync per batch: most of a replay's commit time.
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            # A deleted or rewritten row is overwritten with zeros, not left in a free page or a
            # cell's free space (an erased holder's masked name, the row before the erasure).
            # SQLite's own default depends on how it was built.
            dbapi_connection.execute("PRAGMA secure_delete=ON")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(
                conn.get_execution_options().get("sqlite_begin", "BEGIN IMMEDIATE")
            )

        return cls(engine, "sqlite", lock_prefix=path, scrubs=not scratch)

    @classmethod
    def postgres(
        cls, *, host: str, port: int, dbname: str, user: str, password: str, schema: str | None
    ) -> ViewStore:
        connect_args: dict[str, Any] = {
            "host": host,
            "port": port,
            "dbname": dbname,
            "user": user,
            "password": password,
            # A server that is down answers at once; one that is unreachable must not hold a
            # worker (or a SIGTERM) for long.
            "connect_timeout": 3,
        }
        if schema:
            connect_args["options"] = f"-c search_path={schema}"
        engine = create_engine(
            "postgresql+psycopg://",
            connect_args=connect_args,
            # A connection that died with a restart is found and replaced on checkout.
            pool_pre_ping=True,
            pool_size=3,
            max_overflow=5,
        )
        return cls(engine, "postgres")

    # ---- transactions ----------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[Tx]:
        """Everything done on the Tx commits together, or not at all."""
        return self._transaction(write=True)

    def reading(self) -> AbstractContextManager[Tx]:
        """A read-only transaction (on SQLite it takes no write lock)."""
        return self._transaction(write=False)

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Tx]:
        conn = self.engine.connect()
        if self.dialect == "sqlite" and not write:
            conn = conn.execution_options(sqlite_begin="BEGIN")
        try:
            tx = Tx(conn, self.dialect)
            with conn.begin():
                yield tx
        finally:
            conn.close()
        if tx.scrub_requested:
            self.scrub()

    def scrub(self) -> None:
        """Leave no image of a row from before the last commit in the store's files.

        With ``secure_delete`` a rewritten row's old bytes are zeroed in its page, but the WAL
        still holds earlier images of that page (each commit appends the pages it changed) until
        a checkpoint, and a running back office never closes the file. So the WAL is copied into
        the file and truncated to nothing. Best effort: a reader holding an old snapshot keeps
        the WAL until it ends (waited for up to ``SCRUB_WAIT_MS``); then it is
        said in the log and the next scrub, or SQLite's own next checkpoint, finishes the job.
        PostgreSQL keeps dead row versions until VACUUM (README, "Personal data")."""
        if self.dialect != "sqlite" or not self._scrubs:
            return
        raw = self.engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            # While it waits for readers it holds writers back: not for long.
            driver.execute(f"PRAGMA busy_timeout={SCRUB_WAIT_MS}")
            busy, wal_pages, copied = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            driver.execute(f"PRAGMA busy_timeout={SQLITE_TIMEOUT_MS}")
            raw.close()
        if busy:
            log.warning(
                "the view store's WAL could not be emptied (a reader holds it: %s of %s pages "
                "copied); earlier images of erased rows stay in it until the next checkpoint",
                copied,
                wal_pages,
            )

    # ---- schema ----------------------------------------------------------------------------

    def schema_lock(self) -> AbstractContextManager[object]:
        """Held while tables and functions are created: several processes starting at once
        against a fresh PostgreSQL schema would otherwise collide ("tuple concurrently
        updated"). SQLite serialises writers by itself."""
        if self.dialect != "postgres":
            return nullcontext()
        return self._postgres_schema_lock()

    @contextmanager
    def _postgres_schema_lock(self) -> Iterator[object]:
        with self.engine.connect() as conn, conn.begin():
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(_key("schema")))))
            yield conn

    def create(self, tables: Sequence[Table] = (), indexes: bool = True) -> None:
        """Create tracking's own tables and ``tables`` where missing, once, serialised.
        ``indexes`` False: ``tables`` without their secondary indexes (a rebuild fills them
        first, then makes the indexes with ``create_indexes``, in one sorted pass each).

        Queries call it before each read, from as many threads as requests run at once: tables
        this store already made (or found) are not asked about again, and on PostgreSQL the
        schema lock and the creation share one connection. With a connection for each, requests
        as many as the pool's connections each took one and waited for the lock, while its
        holder waited for a second one: every request stalled until the pool's timeout."""
        wanted = [
            t
            for t in (positions_table, workers_table, identity_table, *tables)
            if t not in self._created
        ]
        if not wanted:
            return
        with self._creating() as conn:
            if indexes:
                metadata.create_all(conn, tables=wanted, checkfirst=True)
            else:
                for table in wanted:
                    conn.execute(CreateTable(table, if_not_exists=True))
        if identity_table in wanted:
            self._ensure_identity()
        self._created.update(wanted)

    def create_indexes(self, tables: Sequence[Table]) -> None:
        """The secondary indexes of ``tables`` (made by ``create(..., indexes=False)``)."""
        with self._creating() as conn:
            for table in tables:
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    index.create(conn, checkfirst=True)

    @contextmanager
    def _creating(self) -> Iterator[Connection]:
        """One transaction on one connection that holds the schema lock (PostgreSQL)."""
        with self.engine.begin() as conn:
            if self.dialect == "postgres":
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(_key("schema")))))
            yield conn

    def _ensure_identity(self) -> None:
        """The store's identity row, written once, when the store is made (read first: most
        starts find it, and need not write)."""
        with self.reading() as tx:
            if tx.execute(select(identity_table.c.id)).first() is not None:
                return
        with self.transaction() as tx:
            tx.insert_new(
                identity_table,
                name=STORE_IDENTITY,
                id=uuid.uuid4().hex,
                created_at=datetime.now(UTC).isoformat(),
            )

    # ---- positions -------------------------------------------------------------------------

    def ensure_position(self, name: str) -> None:
        with self.transaction() as tx:
            tx.insert_new(positions_table, name=name, position=0)

    def position(self, name: str) -> int:
        with self.reading() as tx:
            return tx.position(name)

    def reset(self, name: str, tables: Sequence[Table]) -> None:
        """Forget a projection's view and position so it can be rebuilt from position 0."""
        with self.transaction() as tx:
            for table in tables:
                tx.execute(table.delete())
            tx.execute(
                update(positions_table).where(positions_table.c.name == name).values(position=0)
            )

    # ---- single-active runners -------------------------------------------------------------

    def exclusive(self, name: str) -> ExclusiveLock:
        """The lock that makes one runner of ``name`` (e.g. the relay) the active one."""
        lock: ExclusiveLock
        if self.dialect == "postgres":
            lock = _AdvisoryLock(self.engine, name)
        else:
            assert self._lock_prefix is not None
            lock = _FileLock(Path(f"{self._lock_prefix}.{name}.lock"))
        self._locks.append(lock)
        return lock

    def try_exclusive(self, name: str) -> bool:
        """Become the only runner of ``name`` until this store is closed."""
        return self.exclusive(name).acquire()

    def close(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks.clear()
        self.engine.dispose()


def _key(name: str) -> Any:
    """An advisory lock's name, per schema (the one the search_path puts first, where this
    store's tables are): stores in other schemas of the same database never wait for ours."""
    return func.concat("sscard:", func.current_schema(), ":", name)


class _FileLock:
    """An OS file lock beside the SQLite database: released by the kernel if the process dies,
    and never lost while it lives."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def check(self) -> None:
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _AdvisoryLock:
    """A session-level PostgreSQL advisory lock on a connection of its own.

    The server releases it when the session ends, including when the server restarts: so
    ``check`` asks the session whether it is still alive before every batch, and a dead one
    means the lock is gone and must be taken again (or another runner has it).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._name = name
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(
                select(func.pg_try_advisory_lock(func.hashtext(_key(self._name))))
            ).scalar()
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def check(self) -> None:
        if self._conn is None:
            raise sa_exc.DisconnectionError(f"the {self._name} lock is not held")
        try:
            self._conn.execute(text("SELECT 1"))
        except BaseException:
            self._drop()
            raise

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(select(func.pg_advisory_unlock(func.hashtext(_key(self._name)))))
            self._conn.close()
        except Exception:
            self._drop()  # the session is gone, and the lock with it
        self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # already dead; nothing to save
                pass
            self._conn = None


def ensure_wal(path: Path) -> None:
    """Put a SQLite file in WAL mode once, before anything else connects.

    WAL is a property of the file, but switching to it needs a moment alone with the file, and
    SQLite does not wait for that: two processes opening a new file at once (``sscard run`` and a
    first command) could fail with "database is locked". A lock file serialises the switch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(f"{path}.init.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+") as guard:
        fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
        conn = sqlite3.connect(str(path), timeout=30.0)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
