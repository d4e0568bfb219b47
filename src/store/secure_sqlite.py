"""The event store on SQLite: the library's own recorders, on connections that zero what they
delete.

``secure_delete`` is a setting of each connection, not of the file, and SQLite's default depends
on how it was built. The key table's connection sets it (a destroyed data key is overwritten),
and so does every view store connection; this factory sets it on the connections the library's
recorders open, so no connection that writes ``sscard.sqlite`` leaves deleted or rewritten
bytes in a free page, whatever it deletes now or later.

Selected by ``PERSISTENCE_MODULE`` (``SQLITE_PERSISTENCE``), in place of ``eventsourcing.sqlite``.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, EnvType, get_topic


class _SecureDeletePool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete=ON")
        return connection


class SecureDeleteSQLiteFactory(SQLiteFactory):
    """``eventsourcing.sqlite``'s factory, its connections with ``secure_delete`` on."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        plain = self.datastore.pool
        # The library's pool opens no connection until asked: swapped before any is.
        self.datastore.pool = _SecureDeletePool(
            db_name=plain.db_name, lock_timeout=plain.lock_timeout
        )
        plain.close()


# The PERSISTENCE_MODULE of the card office on SQLite.
SQLITE_PERSISTENCE = get_topic(SecureDeleteSQLiteFactory)
# The library's own module name for it, which configurations and tests may still give.
LIBRARY_SQLITE = "eventsourcing.sqlite"
