"""THE endpoint table: every route of the HTTP API that needs a token, and the use case
(``domain.authority.Action``) it is. The one access dependency (``api.access``) reads it for the
route a request matched; the role test (tests/e2e/test_api_roles.py) tries every role on every
row. A route missing from it is refused to everyone (403), never open.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.authority import Action

# (method, path as the route declares it) -> the action the permission table knows.
ENDPOINTS: Mapping[tuple[str, str], Action] = MappingProxyType(
    {
        ("POST", "/holders/{holder_ref}/claims"): Action.SUBMIT_CLAIM,
        ("POST", "/claims/{claim_id}/approval"): Action.DECIDE_CLAIM,
        ("POST", "/claims/{claim_id}/rejection"): Action.DECIDE_CLAIM,
        ("POST", "/claims/{claim_id}/payment"): Action.PAY_CLAIM,
        ("POST", "/claims/{claim_id}/withdrawal"): Action.WITHDRAW_CLAIM,
        ("GET", "/claims/{claim_id}"): Action.READ_CLAIMS,
        ("GET", "/claims"): Action.READ_CLAIMS,
        ("GET", "/outlets/{outlet}/queue"): Action.READ_QUEUE,
        ("GET", "/settlement/cards/{card}"): Action.SETTLEMENT_LOOKUP,
        ("GET", "/audit/chain"): Action.VERIFY_CHAIN,
        ("GET", "/audit/unmasked-reads"): Action.READ_DISCLOSURES,
        ("GET", "/status"): Action.READ_STATUS,
        ("POST", "/lapses/runs"): Action.RUN_LAPSES,
        ("GET", "/dead-letters"): Action.MANAGE_DEAD_LETTERS,
        ("POST", "/views/replays"): Action.REBUILD_VIEW,
        ("GET", "/views/verification"): Action.VERIFY,
        ("GET", "/analytics/{table}"): Action.READ_ANALYTICS,
        ("POST", "/holders/{holder_ref}/pre-reports"): Action.PRE_REPORT,
        ("POST", "/outlets/{outlet}/collections"): Action.COLLECT,
        ("POST", "/outlets/{outlet}/activations"): Action.ACTIVATE,
        ("POST", "/production/batches"): Action.PRODUCE,
        ("POST", "/holders/lookup"): Action.LOOKUP_HOLDER,
        ("GET", "/holders/{holder_ref}"): Action.READ_STATE,
        ("GET", "/holders/{holder_ref}/history"): Action.READ_HISTORY,
        ("GET", "/cards/{card}/owner"): Action.WHOSE_CARD,
        ("POST", "/outlets/{outlet}/cards"): Action.ISSUE_CARD,
        ("POST", "/outlets/{outlet}/pre-report-cancellations"): Action.CANCEL_PRE_REPORT,
        ("POST", "/outlets/{outlet}/loss-reports"): Action.REPORT_LOSS,
        ("POST", "/outlets/{outlet}/proxy-authorizations"): Action.AUTHORIZE_PROXY,
        ("POST", "/outlets/{outlet}/damaged-card-replacements"): Action.REPLACE_DAMAGED,
        ("POST", "/holders/{holder_ref}/erasure"): Action.ERASE_HOLDER,
        ("GET", "/holders/{holder_ref}/unmasked"): Action.READ_UNMASKED,
        ("GET", "/holders/{holder_ref}/history/unmasked"): Action.READ_UNMASKED,
    }
)

# Answer without a token: whether the process lives, whether it can serve, what it offers.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect"})
