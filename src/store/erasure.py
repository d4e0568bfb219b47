"""``sscard holder erase``: crypto-shredding of one holder.

First the erasure is recorded (``HolderErased``, on the holder's stream, by an auditor), then
the holder's data key is destroyed. In that order: if the key could not be destroyed, the event
says what was decided and running the command again finishes the job (it destroys the key even
when the event is already there). From then on every personal field of the holder's records
(and of their claims) reads as erased, everywhere; every other fact stays.
"""

from __future__ import annotations

from domain.application import Outcome
from domain.cardholder.commands import EraseHolder
from domain.errors import RuleViolation
from domain.event import DomainEvent
from store.chain import CHAIN_FIELD
from store.opened import OpenedStore


class MigrationNeeded(RuleViolation):
    """The holder has records from before encryption: their plaintext would outlive the key."""

    code = "migration_needed"


def erase_holder(backoffice: OpenedStore, command: EraseHolder) -> Outcome[DomainEvent]:
    office = backoffice.office
    holder = office.holder(command.resident_id)  # HolderNotFound for an unknown ID
    refuse_plaintext_records(backoffice, command, holder.version)
    refuse_plain_digests(backoffice)
    outcome = office.erase_holder(command)
    backoffice.personal_data.erase(str(holder.id))
    return outcome


def refuse_plain_digests(backoffice: OpenedStore) -> None:
    """An unkeyed fingerprint or invoice stream id (a release before keyed digests) gives the
    holder's ID number back after the key is gone: such records must be re-keyed first. The
    holder's own are not told apart from others' (request records name no holder), so any
    stops the erasure."""
    if backoffice.personal_data.table.has_plain_digests():
        raise MigrationNeeded(
            "the store keeps request fingerprints or invoice stream ids in the old unkeyed form, "
            "from which an erased holder's ID number can be recovered: run `sscard db migrate` "
            "first, then erase"
        )


def refuse_plaintext_records(backoffice: OpenedStore, command: EraseHolder, versions: int) -> None:
    """Destroying a key erases nothing that was stored in plain text (by a release before
    encryption): such records must be sealed first, by ``sscard db migrate``."""
    table = backoffice.personal_data.table
    holder_id = backoffice.office.holder_id(command.resident_id)
    marker = f'"{CHAIN_FIELD}":'.encode()
    for version in range(1, versions + 1):
        record = table.record(holder_id, version)
        if record is not None and marker not in record.state:
            raise MigrationNeeded(
                f"the holder's record (version {version}) was stored before personal data was "
                "encrypted: run `sscard db migrate` first, then erase"
            )
