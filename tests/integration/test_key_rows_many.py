"""The data keys of a replay's batch are read in one query (``KeyTable.get_many``): the rows it
returns are those read one holder at a time, on both stores, an erased holder's included."""

from __future__ import annotations

import uuid

from service.bootstrap import BackOffice


def test_many_key_rows_read_at_once_are_those_read_one_by_one(backoffice: BackOffice) -> None:
    table = backoffice.personal_data.table
    live, erased, unknown = (str(uuid.uuid4()) for _ in range(3))
    table.add(live, bytes(range(60)), "kek-1")
    table.add(erased, bytes(range(60, 120)), "kek-1")
    table.erase(erased)
    many = table.get_many([live, erased, unknown])
    assert many == {live: table.get(live), erased: table.get(erased)}
    assert many[live].wrapped == bytes(range(60))
    assert many[erased].wrapped is None
    assert table.get_many([unknown]) == {}
