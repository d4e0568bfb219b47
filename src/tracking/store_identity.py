"""Whether ``views.sqlite`` is still the file the back office opened, and how it is put back.

The view store holds more than views: the relay's position, the consumers' Kafka offsets, the
log chain, the workers' board. Deleted or replaced under a running ``sscard run``, the workers
would go on writing to the unlinked file through their open connections while every other
process (``sscard status``) saw an empty new one, and the log chain would be gone.

``ViewStoreWatch`` keeps a connection of its own open on the file, remembers the file's
(device, inode) and the store's identity (a row written when the store was made, ``ViewStore
.create``), and checks both about once a second for the supervisor. Then, with every worker
stopped, ``restore`` copies the store as it was (read through that open connection: an unlinked
file stays readable while it is open) to the file's path, with all its rows, positions, offsets
and log chain, and the workers start again from where they were. A store put in its place is
set aside, never deleted (its own -wal is not told apart from the unlinked one's, and goes);
an empty file (made by a process that found the path empty) is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from tracking.store import IDENTITY_TABLE, STORE_IDENTITY, ensure_wal

log = logging.getLogger(__name__)

_IDENTITY = f"SELECT id FROM {IDENTITY_TABLE} WHERE name = ?"
_SIDE_FILES = ("-wal", "-shm")


class ViewStoreWatch:
    """The supervisor's guard of a SQLite view store (``service.supervisor.Guard``)."""

    def __init__(self, path: Path, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] = (0, 0)
        self._identity = ""
        self._next = 0.0

    def open(self) -> None:
        """Hold the store open and remember what it is (the store is made if missing)."""
        ensure_wal(self.path)
        conn = sqlite3.connect(
            str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            rows = conn.execute(_IDENTITY, (STORE_IDENTITY,)).fetchall()
        except sqlite3.OperationalError:  # no such table: a store older than its identity
            rows = []
        if not rows:
            conn.close()
            raise RuntimeError(f"{self.path} has no identity row: create the view store first")
        info = os.stat(self.path)
        self._conn, self._file, self._identity = conn, (info.st_dev, info.st_ino), str(rows[0][0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---- checking --------------------------------------------------------------------------

    def fault(self) -> str | None:
        """What is wrong with the store's file, if anything (checked at most every ``every``
        seconds; None between checks)."""
        now = time.monotonic()
        if now < self._next or self._conn is None:
            return None
        self._next = now + self.every
        # Never open the file itself here: closing any descriptor of it would drop every POSIX
        # lock this process holds on it (SQLite's), and another process closing its last
        # connection would then take the WAL for its own and remove it.
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted under the running back office"
        if (info.st_dev, info.st_ino) != self._file:
            return f"{self.path} was replaced by another file under the running back office"
        try:
            rows = self._conn.execute(_IDENTITY, (STORE_IDENTITY,)).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None  # a writer holds it a moment: checked again next time
            return f"{self.path} was overwritten in place ({exc})"
        except sqlite3.DatabaseError as exc:
            return f"{self.path} was overwritten in place ({exc})"
        if not rows or str(rows[0][0]) != self._identity:
            return f"{self.path} was overwritten in place by another store"
        return None

    # ---- putting it back -------------------------------------------------------------------

    def restore(self) -> bool:
        """Put the store as it was back at its path (every worker must be stopped: nothing
        may write to it meanwhile). False when it cannot be: the caller says so and stops.

        Several processes may run workers on one store (``sscard run`` and ``sscard consumers
        run``): each finds the fault, one at a time restores, and the others find their store
        already back at its path (its identity row) and take it as it is, rather than setting
        it aside for their own copy, over and over."""
        if self._conn is None:
            return False
        lock = os.open(f"{self.path}.restore.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._holds_this_store():
                log.warning("%s was restored by another process; going on with it", self.path)
                return self._reopened()
            restored = self._restored()
        finally:
            os.close(lock)
        return restored and self._reopened()

    def _restored(self) -> bool:
        copy = self.path.with_name(f"{self.path.name}.restoring")
        try:
            _remove(copy)
            copied = self._copy_to(copy)
        except (sqlite3.Error, OSError) as exc:
            log.error("%s cannot be restored from the open copy: %s", self.path, exc)
            with contextlib.suppress(OSError):
                _remove(copy)
            return False
        self.close()
        aside = self._set_aside()
        os.replace(copy, self.path)
        if aside is not None:
            log.warning("the file found at %s was set aside as %s", self.path, aside)
        log.warning(
            "%s restored as it was (%d pages): every view, position, offset and the log chain",
            self.path,
            copied,
        )
        return True

    def _reopened(self) -> bool:
        self.close()
        self._next = 0.0
        try:
            self.open()
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            log.error("%s was restored but cannot be opened: %s", self.path, exc)
            return False
        return True

    def _holds_this_store(self) -> bool:
        """Whether the file at the path now is this store (restored by another process)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
        except sqlite3.Error:
            return False
        try:
            rows = conn.execute(_IDENTITY, (STORE_IDENTITY,)).fetchall()
        except sqlite3.Error:
            return False
        finally:
            conn.close()
        return bool(rows) and str(rows[0][0]) == self._identity

    def _copy_to(self, copy: Path) -> int:
        assert self._conn is not None
        os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        target = sqlite3.connect(str(copy), isolation_level=None)
        try:
            self._conn.backup(target)
            checked = target.execute("PRAGMA quick_check").fetchone()[0]
            if checked != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its check: {checked}")
            target.execute("PRAGMA journal_mode=WAL")
            pages = int(target.execute("PRAGMA page_count").fetchone()[0])
        finally:
            target.close()  # the only connection: its WAL is folded in and removed
        return pages

    def _set_aside(self) -> Path | None:
        """Clear the path for the restored file. Another store put there is renamed; an empty
        file is removed, and so are the -wal and -shm at the path: they are the unlinked
        store's (its content is in the copy), and SQLite would take a stray -wal for the
        restored file's own."""
        for suffix in _SIDE_FILES:
            _remove(Path(f"{self.path}{suffix}"))
        if not self.path.exists():
            return None
        if self.path.stat().st_size == 0:
            _remove(self.path)
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        os.replace(self.path, aside)
        return aside


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
