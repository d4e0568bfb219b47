"""Digests over personal content that the store keeps in the clear, keyed.

A plain digest of something derived from a resident ID number (a request's content, an invoice
number) is an oracle: the space of valid ID numbers of one region and birth date is a thousand,
so anyone holding the store file confirms a guess with one hash. Each such digest is therefore a
MAC under a key derived from the holder id key (``SSCARD_HOLDER_ID_KEY``), which never lives in
the store. Each use gets its own derived key, so no digest of one kind can be matched against
another.

Every keyed value here is a keyed function of the plain digest the store kept before, so
``sscard db migrate`` can re-key old records without the personal content itself (which, for an
erased holder, nobody can read any more).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

_FINGERPRINTS = b"sscard:request-fingerprint"
_INVOICE_STREAMS = b"sscard:invoice-stream"


def derived_key(root: bytes, purpose: bytes) -> bytes:
    """A key for one purpose. ``holder_stream_id`` MACs ``holder:...`` under the root key
    itself; no purpose label starts so, so no derived key equals a holder id's digest."""
    return hmac.new(root, purpose, hashlib.sha256).digest()


@dataclass(frozen=True)
class DigestKeys:
    """The derived keys of the office's keyed digests (the domain does no I/O: the composition
    root's holder id key comes in through the application's environment)."""

    fingerprints: bytes
    invoice_streams: bytes

    @classmethod
    def from_holder_id_key(cls, holder_id_key: bytes) -> DigestKeys:
        return cls(
            fingerprints=derived_key(holder_id_key, _FINGERPRINTS),
            invoice_streams=derived_key(holder_id_key, _INVOICE_STREAMS),
        )


def keyed_hex(key: bytes, digest: str) -> str:
    """HMAC-SHA256 of a plain digest given in hex: 64 hex digits."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def keyed_uuid(key: bytes, plain: uuid.UUID) -> uuid.UUID:
    """A stream id keyed from the plain (uuid5) id it replaces."""
    digest = hmac.new(key, plain.bytes, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=5)
