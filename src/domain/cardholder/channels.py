"""How each channel takes a loss pre-report: who acts, and which identity the holder shows.

At an outlet the clerk records the report after checking the holder's resident ID card; by the
12333 hotline or online the holder reports themselves, identified by the channel's own check.
"""

from __future__ import annotations

from domain.cardholder.events import IdentityDocument
from domain.errors import InvalidInput
from domain.event import Actor, Channel, Role


def pre_report_actor(channel: Channel, staff_id: str | None) -> Actor:
    """The clerk at an outlet (who must be named); the holder themselves through a remote
    channel (no staff involved)."""
    if channel is Channel.OUTLET:
        if not staff_id:
            raise InvalidInput("a pre-report at an outlet names the clerk's staff id and outlet")
        return Actor.staff(Role.OUTLET_CLERK, staff_id)
    if staff_id:
        raise InvalidInput(f"a pre-report by {channel.value} is the holder's own: no staff id")
    return Actor(role=Role.CARDHOLDER, channel=channel)


def default_identity_document(channel: Channel) -> IdentityDocument:
    """What identifies the holder when nobody says: the ID card shown at an outlet, the
    channel's own verification otherwise."""
    if channel is Channel.OUTLET:
        return IdentityDocument.RESIDENT_ID_CARD
    return IdentityDocument.ONLINE_IDENTITY
