"""A save the store refuses for a reason other than a lost race reaches the caller.

The write path retries a failed save only when retrying can succeed: another command moved the
holder's stream on, or a random certificate number or the same request id was taken meanwhile.
Any other failure (on PostgreSQL an ``OperationalError``: a dropped connection, a full disk) is
the store's to report: retrying it blind could record a command whose first attempt the caller
was already told had failed, and the caller's retry with its request id is the safe path.
"""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from tests.support import Clock, head, issue, memory_office, pre_report, resident_id


def test_a_save_that_fails_for_another_reason_is_not_retried(monkeypatch: pytest.MonkeyPatch):
    office = memory_office(Clock())
    rid = resident_id()
    office.issue_card(issue(rid))
    before = head(office)
    real_insert = office.recorder.insert_events
    failures: list[int] = []

    def insert_failing_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(office.recorder, "insert_events", insert_failing_once)
    with pytest.raises(OperationalError):
        office.pre_report_loss(pre_report(rid))
    assert failures == [1]
    assert head(office) == before, "a save the store refused was retried and recorded"
