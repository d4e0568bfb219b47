"""The read models, by name (``sscard replay NAME``...), each with the public feeds it reads."""

from __future__ import annotations

from projections.claims import ClaimsView
from projections.lifecycle import LifecycleAnalytics
from projections.outlet_queue import OutletQueue
from projections.public_fields import Zones
from projections.settlement_blocklist import SettlementBlocklist
from tracking.envelopes import ReadModel

VIEW_NAMES = (
    OutletQueue.name,
    SettlementBlocklist.name,
    LifecycleAnalytics.name,
    ClaimsView.name,
)


def read_models(zones: Zones) -> dict[str, ReadModel]:
    """Every read model, each with the region time zones its business dates are taken in."""
    models: list[ReadModel] = [
        OutletQueue(zones),
        SettlementBlocklist(zones),
        LifecycleAnalytics(zones),
        ClaimsView(zones),
    ]
    return {model.name: model for model in models}
