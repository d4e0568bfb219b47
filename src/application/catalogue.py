"""What an entry point may name before anything heavy is loaded: the read models, the outlet
queue's statuses, the cores a rebuild may share out.

The command line offers these as choices while it builds its parser (``--help`` included), so
this module imports nothing but the standard library. ``tests/unit/test_application_catalogue``
holds the names equal to the read models' own (``projections.catalogue``,
``projections.outlet_queue``).
"""

from __future__ import annotations

import os

VIEW_NAMES = ("outlet_queue", "settlement_blocklist", "lifecycle_analytics", "claims")

QUEUE_STATUSES = (
    "pre-reported-today",
    "open",
    "awaiting-production",
    "ready",
    "overdue",
    "collected",
    "activated",
)


def cores_available() -> int:
    """The cores this process may run on: the default share of a rebuild."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
