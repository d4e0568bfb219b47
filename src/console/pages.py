"""THE console's page table: every page and form of the console that needs a signed-in person,
and the use case (``domain.authority.Action``) it is, as the API's endpoint table does for its
routes. The access dependency (``console.access``) reads it for the route a request matched; a
page missing from it is refused to everyone (403), never open.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.authority import Action

# (method, path inside /console as the route declares it) -> the action of the permission table.
PAGES: Mapping[tuple[str, str], Action] = MappingProxyType(
    {
        ("GET", "/queue"): Action.READ_QUEUE,
        ("POST", "/queue/collections"): Action.COLLECT,
        ("POST", "/queue/activations"): Action.ACTIVATE,
        ("GET", "/history"): Action.READ_HISTORY,
        ("POST", "/history"): Action.LOOKUP_HOLDER,
        ("GET", "/holders/{holder_ref}/history"): Action.READ_HISTORY,
        ("POST", "/holders/{holder_ref}/history/unmasked"): Action.READ_UNMASKED,
        ("GET", "/claims"): Action.READ_CLAIMS,
        ("GET", "/claims/{claim_id}"): Action.READ_CLAIMS,
        ("POST", "/claims/{claim_id}/approval"): Action.DECIDE_CLAIM,
        ("POST", "/claims/{claim_id}/rejection"): Action.DECIDE_CLAIM,
        ("POST", "/claims/{claim_id}/payment"): Action.PAY_CLAIM,
        # The auditor's checks, the production centre's batches, the lifecycle charts.
        ("GET", "/verify"): Action.VERIFY,
        ("POST", "/verify/views"): Action.VERIFY,
        ("POST", "/verify/chain"): Action.VERIFY_CHAIN,
        ("GET", "/production"): Action.PRODUCE,
        ("POST", "/production/batches"): Action.PRODUCE,
        ("GET", "/analytics"): Action.READ_ANALYTICS,
    }
)

# Pages anyone may open: signing in and out, the start page (it lists what the role may open).
PUBLIC_PAGES = frozenset(
    {("GET", "/sign-in"), ("POST", "/sign-in"), ("POST", "/sign-out"), ("GET", "/")}
)

# The start page's links: the page a role may open for each action, in this order.
MENU: tuple[tuple[str, Action, str], ...] = (
    ("/queue", Action.READ_QUEUE, "menu.queue"),
    ("/history", Action.READ_HISTORY, "menu.history"),
    ("/claims", Action.READ_CLAIMS, "menu.claims"),
    ("/production", Action.PRODUCE, "menu.production"),
    ("/verify", Action.VERIFY, "menu.verify"),
    ("/analytics", Action.READ_ANALYTICS, "menu.analytics"),
)
