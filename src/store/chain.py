"""The hash chain: each stored record carries the digest of its predecessor in its stream.

The digest covers the record as stored (stream id, version, topic and the state bytes, personal
fields encrypted), so destroying a data key, which changes no stored byte, leaves every chain
intact, while any edit of a record's bytes, a removed record, an inserted one or two swapped
ones breaks the chain at a place ``sscard audit verify-chain`` names.

The link lives inside the stored JSON as ``_chain`` (hex SHA-256; empty for version 1). A record
without it was written before the chain existed (``sscard db migrate`` links old stores).
"""

from __future__ import annotations

import threading
from hashlib import sha256
from uuid import UUID

CHAIN_FIELD = "_chain"


def record_digest(stream_id: UUID, version: int, topic: str, state: bytes) -> str:
    """SHA-256 over the stored form. The header fields contain no newline, so the framing is
    unambiguous; the state comes last, its length implied."""
    digest = sha256(f"{stream_id}\n{version}\n{topic}\n".encode())
    digest.update(state)
    return digest.hexdigest()


class StreamHeads:
    """The newest record this process wrote or read, per stream: the next record's link comes
    from here without a read (the write path has just loaded the stream). Kept as the stored
    bytes; the digest is computed when a successor is written. Bounded.

    A record is remembered when it is built, before the store has taken it, and its insert may
    then fail (another command recorded that version first). So a version written twice in this
    process keeps both candidates, and a successor is linked from here only when there is one:
    otherwise the mapper reads the predecessor the store holds. A record read from the store
    (``confirm``) is the truth and replaces every candidate."""

    SIZE = 20_000

    def __init__(self) -> None:
        self._heads: dict[UUID, tuple[int, tuple[tuple[str, bytes], ...]]] = {}
        self._lock = threading.Lock()

    def remember(self, stream_id: UUID, version: int, topic: str, state: bytes) -> None:
        """A record about to be inserted."""
        with self._lock:
            head = self._bounded(stream_id)
            if head is not None and head[0] == version and (topic, state) not in head[1]:
                self._heads[stream_id] = (version, (*head[1], (topic, state)))
            else:
                self._heads[stream_id] = (version, ((topic, state),))

    def confirm(self, stream_id: UUID, version: int, topic: str, state: bytes) -> None:
        """A record read from the store."""
        with self._lock:
            self._bounded(stream_id)
            self._heads[stream_id] = (version, ((topic, state),))

    def _bounded(self, stream_id: UUID) -> tuple[int, tuple[tuple[str, bytes], ...]] | None:
        if len(self._heads) >= self.SIZE and stream_id not in self._heads:
            self._heads.clear()  # a crude bound: a miss costs one read of the predecessor
        return self._heads.get(stream_id)

    def digest_of(self, stream_id: UUID, version: int) -> str | None:
        head = self._heads.get(stream_id)
        if head is None or head[0] != version or len(head[1]) != 1:
            return None
        [(topic, state)] = head[1]
        return record_digest(stream_id, version, topic, state)
