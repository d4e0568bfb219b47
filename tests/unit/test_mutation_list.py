"""The list of equivalent mutants names only mutants that mutmut still generates.

A listed name that is no longer generated means the code it excused has changed: its reason may
no longer hold, and the name may now excuse a different mutant. Generation alone takes seconds
(no test runs), so the unit suite keeps the list honest between runs of ``make mutation``.
"""

from __future__ import annotations

from pathlib import Path

from tests.mutation_score import stale_names

ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_equivalent_mutant_is_still_generated():
    assert stale_names(ROOT) == []
