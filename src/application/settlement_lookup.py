"""A card's settlement status from the settlement blocklist view: the point lookup for systems
that cannot run a Kafka consumer (the HTTP API's ``GET /settlement/cards/{card}``).

The view is kept by the consumers of ``sscard run`` (or rebuilt by ``sscard replay``); the answer
says how far the view has read, so that a caller can tell a lagging view from a settled truth.
"""

from __future__ import annotations

from datetime import UTC, datetime

from application.results import local_instant
from application.view_results import CardSettlementStatus, SettlementLookup
from contract.envelope import CARD_EVENTS
from domain.errors import NotFound
from projections import settlement_blocklist as blocklist
from projections.public_fields import stored_instant
from service.bootstrap import BackOffice
from service.views import feed_topic
from tracking.partition_offsets import KafkaPositions, offsets_table

VIEW = "settlement_blocklist"


def settlement_lookup(
    backoffice: BackOffice, card_number: str, now: datetime | None = None
) -> SettlementLookup:
    """The card's row of the blocklist view; a card the view has never seen is not found."""
    at = now or datetime.now(UTC)
    views = backoffice.views
    topic = feed_topic(backoffice.settings, CARD_EVENTS)
    views.create(blocklist.SettlementBlocklist.tables)
    with views.reading() as tx:
        row = blocklist.card_status(tx, card_number)
        offsets = (
            KafkaPositions(views, topic).read(tx, VIEW) if tx.has_table(offsets_table.name) else {}
        )
    if row is None:
        raise NotFound(f"card {card_number} is not in the settlement blocklist view")
    since = stored_instant(row["since"])
    return SettlementLookup(
        card=CardSettlementStatus(
            card_number=row["card_number"],
            blocked=blocklist.is_blocked(row["status"]),
            card_status=row["status"],
            since=local_instant(since),
            reason=row["reason"],
        ),
        view_position=sum(offset + 1 for offset in offsets.values()),
        status_age_seconds=round(max((at - since).total_seconds(), 0.0), 1),
    )
