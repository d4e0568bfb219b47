"""What ``sscard claims list`` reads: the claims view (its queue), never the store.

The view holds status and amounts only (the public form); the medical details of one claim are
read from the store by ``sscard claims show``. A holder named by ID number is looked up in the
store (the view knows holders by stream id only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections import claims as view
from projections.claims import ClaimsView
from projections.public_fields import zones_of
from service.bootstrap import open_back_office
from service.settings import Settings
from tracking.envelopes import view_tables


def claims_listing(
    settings: Settings,
    status: str | None = None,
    resident_id: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The claims of the view, oldest filing first, optionally of one status or one holder; each
    with its age in days (to today in its region's zone, or to its decision)."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    with open_back_office(settings) as backoffice:
        office = backoffice.office
        holder = str(office.holder_id(resident_id)) if resident_id is not None else None
        backoffice.views.create(view_tables(ClaimsView(zones_of(office.policies))))
        with backoffice.views.reading() as tx:
            rows = view.claims(tx, status, holder)
        zone = office.policies.policy_for
    return [
        row
        | {"age_days": view.age_in_days(row, at.astimezone(zone(row["region_code"]).zone).date())}
        for row in rows
    ]
