"""Which keys made this store: checked at every start, so another key is refused at once.

A wrong ``SSCARD_HOLDER_ID_KEY`` is not noticed by anything else: every holder reads as unknown,
and the same person gets a second stream and a second current card. A wrong
``SSCARD_MASTER_KEY`` fails only at the first data key it must unwrap. So each key's identifier
(a keyed hash of it, which confirms the key and gives nothing of it away) is recorded in
``sscard_key_ids`` when the store is made, and compared at every start: a mismatch is a
configuration error naming the variable (exit 2) before anything is read or written.

A store made before identifiers were recorded has none: its first start (or ``sscard db
migrate``) records them, but only once the keys are shown to fit what the store holds (a live
data key unwraps; a holder's stream id is the holder id key's hash of their ID number).
"""

from __future__ import annotations

import hashlib
import hmac

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.application import CardOffice
from domain.cardholder.events import CardIssued
from domain.erasure import ERASED
from domain.errors import ConfigurationError
from store.persistence import mapper_of, personal_data_of

MASTER_KEY = "SSCARD_MASTER_KEY"
HOLDER_ID_KEY = "SSCARD_HOLDER_ID_KEY"
_CARD_ISSUED = get_topic(CardIssued)


class WrongKey(ConfigurationError):
    """A configured key is not the one the store was made with (exit 2)."""


def holder_id_key_id(holder_id_key: str) -> str:
    """The holder id key's identifier: 64 bits of an HMAC under the key itself."""
    return hmac.new(holder_id_key.encode("utf-8"), b"sscard:key-id", hashlib.sha256).hexdigest()[
        :16
    ]


def key_ids(office: CardOffice, holder_id_key: str) -> dict[str, str]:
    return {
        MASTER_KEY: personal_data_of(office).kek_id,
        HOLDER_ID_KEY: holder_id_key_id(holder_id_key),
    }


def check_keys(office: CardOffice, holder_id_key: str) -> dict[str, str]:
    """Refuse keys the store was not made with; record the identifiers a store lacks (a new
    one, or one from before identifiers, once its records agree). Returns what is recorded."""
    table = personal_data_of(office).table
    mine = key_ids(office, holder_id_key)
    recorded = table.key_ids()
    _same(mine, recorded)
    missing = {variable: key_id for variable, key_id in mine.items() if variable not in recorded}
    if missing:
        if MASTER_KEY in missing:
            _master_key_unwraps(office)
        if HOLDER_ID_KEY in missing:
            _holder_id_key_fits(office)
        recorded = table.record_key_ids(missing)
        _same(mine, recorded)  # another process recorded other keys meanwhile
    return recorded


def _same(mine: dict[str, str], recorded: dict[str, str]) -> None:
    for variable, key_id in mine.items():
        theirs = recorded.get(variable)
        if theirs is not None and theirs != key_id:
            raise WrongKey(
                variable,
                f"does not match the key this store was made with (key id {theirs}; "
                f"this one is {key_id})",
            )


def _master_key_unwraps(office: CardOffice) -> None:
    personal_data = personal_data_of(office)
    owner = personal_data.table.live_owner()
    if owner is not None:
        personal_data.key_for_reading(owner, required=True)  # WrongMasterKey if it does not


def _holder_id_key_fits(office: CardOffice) -> None:
    """The first holder whose ID number can be read: their stream id must be this key's."""
    mapper = mapper_of(office)
    for record in personal_data_of(office).table.records():
        if record.topic != _CARD_ISSUED:
            continue
        stored = StoredEvent(
            originator_id=record.stream_id,
            originator_version=record.version,
            topic=record.topic,
            state=record.state,
        )
        issued = mapper.to_domain_event(stored)
        assert isinstance(issued, CardIssued)
        if issued.resident_id == ERASED:
            continue
        if office.holder_id(issued.resident_id) != record.stream_id:
            raise WrongKey(
                HOLDER_ID_KEY,
                "does not match the key this store was made with (the store's holder "
                f"{record.stream_id} is not this key's hash of their ID number)",
            )
        return
