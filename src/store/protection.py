"""Personal fields encrypted at rest with per-holder data keys (AES-256-GCM, ``cryptography``).

Each holder has a random 256-bit data key, stored wrapped (AES-GCM) by a key derived from the
master key (``SSCARD_MASTER_KEY``) in ``sscard_data_keys`` beside the events. The store's mapper
seals each personal field of a record with its holder's key (field-level: ids, topics, versions
and every non-personal fact stay readable and queryable) and opens it on load. Destroying a
holder's key (``sscard holder erase``) makes their personal fields unreadable for ever: they read
as the erasure marker, while every other fact of their records stays.

Built by the library from the application's environment (``CIPHER_TOPIC``), like its own
whole-state cipher; ``encrypt``/``decrypt`` of whole states are not offered (the mapper uses
``seal``/``open`` per field).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections import OrderedDict
from hashlib import sha256
from pathlib import Path
from typing import Final
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment, get_topic

from domain.errors import ConfigurationError
from store.keystore import KeyRow, KeyTable, MemoryKeyTable, PostgresKeyTable, SQLiteKeyTable
from store.secure_sqlite import LIBRARY_SQLITE, SQLITE_PERSISTENCE

_NONCE = 12


class DataKeyMissing(RuntimeError):
    """A record is encrypted but its holder's key row is gone (the key table was damaged, or
    a backup of the events was restored without the keys)."""


class WrongMasterKey(ConfigurationError):
    """The master key does not unwrap the store's data keys (bad configuration, exit 2)."""


class HolderKeyErased(RuntimeError):
    """A personal field was to be written for a holder whose key is destroyed."""


_ERASED: Final = object()  # a cache entry: the holder's key is destroyed
_ABSENT: Final = object()  # a cache entry: the holder has no key yet (only old plaintext)


def key_encryption_key(master_key: str) -> bytes:
    """The wrapping key, derived from the configured master key (any length of text)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"sscard data-key wrapping v1"
    ).derive(master_key.encode("utf-8"))


def key_table_from(environment: Environment) -> KeyTable:
    """The key table in the database the application's recorder uses."""
    module = environment.get("PERSISTENCE_MODULE", "")
    if module in (SQLITE_PERSISTENCE, LIBRARY_SQLITE):
        return SQLiteKeyTable(Path(environment.get("SQLITE_DBNAME", "")))
    if module == "eventsourcing.postgres":
        schema = environment.get("POSTGRES_SCHEMA") or "public"
        dsn = (
            f"host={environment.get('POSTGRES_HOST')} port={environment.get('POSTGRES_PORT')} "
            f"dbname={environment.get('POSTGRES_DBNAME')} "
            f"user={environment.get('POSTGRES_USER')} "
            f"password={environment.get('POSTGRES_PASSWORD', '')}"
        )
        timeout = int(environment.get("POSTGRES_CONNECT_TIMEOUT") or 5)
        return PostgresKeyTable(dsn, schema, f"{environment.name.lower()}_events", timeout)
    return MemoryKeyTable()


class PersonalData(Cipher):
    """Data keys (wrapped, cached unwrapped) and the sealing of personal field values."""

    MASTER_KEY = "MASTER_KEY"
    # Unwrapped keys kept in memory, and for how long: a key destroyed by another process is
    # still used here for at most this long (or until this process reads the erasure event).
    CACHE_SIZE = 50_000
    CACHE_SECONDS = 300.0

    def __init__(self, environment: Environment) -> None:
        master = environment.get(self.MASTER_KEY)
        if not master:
            raise ValueError(f"{environment.name} needs {self.MASTER_KEY} to protect personal data")
        kek = key_encryption_key(master)
        self._wrapping = AESGCM(kek)
        self.kek_id = sha256(b"sscard-kek-id:" + kek).hexdigest()[:16]
        self.table: KeyTable = key_table_from(environment)
        self._cache: OrderedDict[str, tuple[object, float]] = OrderedDict()
        self._cache_size = self.CACHE_SIZE
        self._lock = threading.Lock()

    # ---- the library's whole-state cipher interface: not what this one does ----------------

    def encrypt(self, plaintext: bytes) -> bytes:  # noqa: ARG002
        raise TypeError("PersonalData seals personal fields one by one (seal), not whole states")

    def decrypt(self, ciphertext: bytes) -> bytes:  # noqa: ARG002
        raise TypeError("PersonalData opens personal fields one by one (open), not whole states")

    # ---- data keys -------------------------------------------------------------------------

    def key_for_writing(self, owner: str) -> AESGCM:
        """The holder's data key, created (and stored wrapped) on first need."""
        key = self._cached(owner)
        if isinstance(key, AESGCM):
            return key
        if key is _ERASED:
            raise HolderKeyErased(f"holder {owner} was erased: nothing personal can be recorded")
        row = self.table.get(owner)
        if row is None:
            row = self.table.add(owner, self._wrap(owner, AESGCM.generate_key(256)), self.kek_id)
        opened = self._remember(owner, row)
        if not isinstance(opened, AESGCM):
            raise HolderKeyErased(f"holder {owner} was erased: nothing personal can be recorded")
        return opened

    def key_for_reading(self, owner: str, required: bool) -> AESGCM | None:
        """The holder's data key; None when the holder was erased (or, for a record written
        before encryption, ``required`` False, when the holder has no key yet)."""
        key = self._cached(owner)
        if key is None or (key is _ABSENT and required):
            row = self.table.get(owner)
            key = _ABSENT if row is None else self._remember(owner, row)
            if row is None:
                self._put(owner, _ABSENT)
        if isinstance(key, AESGCM):
            return key
        if key is _ABSENT and required:
            raise DataKeyMissing(
                f"no data key for holder {owner}: the key table was damaged or restored without it"
            )
        return None

    def prefetch(self, owners: set[str]) -> None:
        """Load the keys of many holders in one query (the relay, per batch)."""
        missing = [o for o in owners if self._cached(o) is None]
        if not missing:
            return
        for owner, row in self._fetch(missing).items():
            self._remember(owner, row)

    def _fetch(self, missing: list[str]) -> dict[str, KeyRow]:
        """The key rows of ``missing`` holders, in one query; one with none is held absent."""
        rows = self.table.get_many(missing)
        for owner in missing:
            if owner not in rows:
                self._put(owner, _ABSENT)
        return rows

    def keys_for_reading(self, owners: set[str]) -> dict[str, AESGCM | KeyRow | None]:
        """``key_for_reading`` of many holders at once (a replay's batch): each one's key held
        (None for an erased holder), or, for those not held, their key rows, fetched in one
        query and unwrapped by ``key_of`` when a record first needs one (a record that turns
        out to have nothing to open costs no unwrapping). A holder with no key row is left
        out: reading a sealed record of theirs is ``key_for_reading``'s error."""
        found: dict[str, AESGCM | KeyRow | None] = {}
        missing = []
        with self._lock:
            now = time.monotonic()
            for owner in owners:
                entry = self._cache.get(owner)
                if entry is None or now - entry[1] > self.CACHE_SECONDS:
                    missing.append(owner)
                elif entry[0] is not _ABSENT:
                    self._cache.move_to_end(owner)
                    found[owner] = entry[0] if isinstance(entry[0], AESGCM) else None
        if missing:
            found.update(self._fetch(missing))
        return found

    def key_of(self, owner: str, row: KeyRow) -> AESGCM | None:
        """The holder's key from its row (``keys_for_reading``), unwrapped and held; None for
        an erased holder."""
        key = self._remember(owner, row)
        return key if isinstance(key, AESGCM) else None

    def is_erased(self, owner: str) -> bool:
        if self._cached(owner) is _ERASED:
            return True
        row = self.table.get(owner)
        return row is not None and row.wrapped is None

    def erase(self, owner: str) -> bool:
        """Destroy the holder's data key; True if a live key was destroyed just now."""
        destroyed = self.table.erase(owner)
        self._put(owner, _ERASED)
        return destroyed

    def forget(self, owner: str) -> None:
        """Drop a cached key (this process read the holder's erasure)."""
        with self._lock:
            self._cache.pop(owner, None)

    def _wrap(self, owner: str, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._wrapping.encrypt(nonce, key, b"sscard-data-key:" + owner.encode())

    def _remember(self, owner: str, row: KeyRow) -> object:
        opened = self._unwrap(owner, row)
        self._put(owner, opened)
        return opened

    def _unwrap(self, owner: str, row: KeyRow) -> object:
        """The holder's data key ready to use, or ``_ERASED``."""
        if row.wrapped is None:
            return _ERASED
        try:
            key = self._wrapping.decrypt(
                row.wrapped[:_NONCE], row.wrapped[_NONCE:], b"sscard-data-key:" + owner.encode()
            )
        except InvalidTag:
            raise WrongMasterKey(
                "SSCARD_MASTER_KEY",
                "does not unwrap the store's data keys (a different master key wrapped them: "
                f"key id {row.kek_id}, this one is {self.kek_id})",
            ) from None
        return AESGCM(key)

    def _cached(self, owner: str) -> object | None:
        with self._lock:
            entry = self._cache.get(owner)
            if entry is None:
                return None
            if time.monotonic() - entry[1] > self.CACHE_SECONDS:
                del self._cache[owner]
                return None
            self._cache.move_to_end(owner)
            return entry[0]

    def _put(self, owner: str, value: object) -> None:
        with self._lock:
            self._cache[owner] = (value, time.monotonic())
            self._cache.move_to_end(owner)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def hold_at_most(self, keys: int) -> None:
        """Keep at most ``keys`` unwrapped keys in memory (a replay fetches each batch's keys
        in one query and reads a holder's records far apart: a large cache only costs memory,
        some 2.5 KiB a key)."""
        with self._lock:
            self._cache_size = keys
            while len(self._cache) > keys:
                self._cache.popitem(last=False)

    # ---- field values ----------------------------------------------------------------------

    @staticmethod
    def seal(key: AESGCM, plaintext: bytes, context: bytes) -> str:
        """One field value, encrypted and bound to where it is stored (``context``: stream,
        version and field), as base64 text inside the stored JSON."""
        nonce = os.urandom(_NONCE)
        return base64.b64encode(nonce + key.encrypt(nonce, plaintext, context)).decode("ascii")

    @staticmethod
    def open(key: AESGCM, token: str, context: bytes) -> bytes:
        # ``base64.b64decode`` without its Python prelude (the same non-strict decoding).
        raw = binascii.a2b_base64(token)
        return key.decrypt(raw[:_NONCE], raw[_NONCE:], context)

    def create_tables(self) -> None:
        self.table.create()

    def close(self) -> None:
        self.table.close()


def field_context(stream: UUID | str, version: int, name: str) -> bytes:
    """What a sealed value is bound to: moved to another record or field, it fails to open.
    (A stream id as text is ``str`` of its UUID: the same bytes either way.)"""
    return f"{stream}:{version}:{name}".encode()


PERSONAL_DATA_TOPIC = get_topic(PersonalData)
