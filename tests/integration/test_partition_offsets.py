"""Kafka partition offsets kept in the view store: the first record of a partition, a move,
and a consumer that recorded a stretch another one recorded first, on SQLite and PostgreSQL.

(On PostgreSQL, SQLAlchemy 2.1 reports rowcount -1 for a Core INSERT: a first record read as
a conflict, and every view consumer re-read its topic from offset 0 for ever.)"""

from __future__ import annotations

import pytest

from service.bootstrap import BackOffice
from tracking.partition_offsets import KafkaPositions
from tracking.store import PositionConflict


def test_offsets_are_recorded_moved_and_never_recorded_twice(backoffice: BackOffice):
    positions = KafkaPositions(backoffice.views, "t.card-events")
    positions.ensure("view")
    with backoffice.views.transaction() as tx:
        positions.record(tx, "view", {}, {0: 5, 1: 7})
    assert positions.load("view") == {0: 5, 1: 7}
    with backoffice.views.transaction() as tx:
        positions.record(tx, "view", {0: 5, 1: 7}, {0: 9, 1: 7, 2: 1})
    assert positions.load("view") == {0: 9, 1: 7, 2: 1}

    # A zombie that still believes partition 0 is at 5, or that partition 2 is new: refused,
    # and its whole transaction rolled back.
    for start, end in (({0: 5}, {0: 12}), ({}, {2: 4})):
        with pytest.raises(PositionConflict), backoffice.views.transaction() as tx:
            positions.record(tx, "view", start, end)
    assert positions.load("view") == {0: 9, 1: 7, 2: 1}
    assert KafkaPositions(backoffice.views, "t.other").load("view") == {}
