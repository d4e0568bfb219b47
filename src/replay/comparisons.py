"""Proving a view equal to its history: copy a view between stores, and compare two copies.

Rows are compared column by column in primary-key order, and each table gets a SHA-256 digest
of its rows in a canonical text form, so "equal" means equal byte for byte whatever the backend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Table

from tracking.envelopes import versions_table
from tracking.rows import Row, primary_key, table_rows
from tracking.store import Tx, ViewStore


def _where(table: Table, view: str) -> Any:
    """Tables shared by every view hold a ``view`` column: only this view's rows count."""
    return table.c.view == view if table is versions_table else None


def _canonical(row: Row) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


@dataclass
class TableComparison:
    table: str
    live_rows: int = 0
    rebuilt_rows: int = 0
    live_digest: str = ""
    rebuilt_digest: str = ""
    differences: list[str] = field(default_factory=list)
    difference_count: int = 0

    @property
    def equal(self) -> bool:
        return self.difference_count == 0 and self.live_digest == self.rebuilt_digest


def compare_tables(
    live: Tx, rebuilt: Tx, tables: Sequence[Table], view: str, show: int = 10
) -> list[TableComparison]:
    results = []
    for table in tables:
        result = TableComparison(table.name)
        _merge(
            table,
            table_rows(live, table, _where(table, view)),
            table_rows(rebuilt, table, _where(table, view)),
            result,
            show,
        )
        results.append(result)
    return results


def _merge(
    table: Table, live: Iterator[Row], rebuilt: Iterator[Row], out: TableComparison, show: int
) -> None:
    names = primary_key(table)
    live_hash, rebuilt_hash = hashlib.sha256(), hashlib.sha256()

    def note(text: str) -> None:
        out.difference_count += 1
        if len(out.differences) < show:
            out.differences.append(text)

    def take_live() -> Row | None:
        row = next(live, None)
        if row is not None:
            live_hash.update(_canonical(row))
            out.live_rows += 1
        return row

    def take_rebuilt() -> Row | None:
        row = next(rebuilt, None)
        if row is not None:
            rebuilt_hash.update(_canonical(row))
            out.rebuilt_rows += 1
        return row

    a, b = take_live(), take_rebuilt()
    while a is not None or b is not None:
        key_a = None if a is None else tuple(a[n] for n in names)
        key_b = None if b is None else tuple(b[n] for n in names)
        if b is None or (a is not None and key_b is not None and key_a < key_b):  # type: ignore[operator]
            note(f"{table.name} {_show_key(names, key_a)}: only in the live view: {_show(a)}")
            a = take_live()
        elif a is None or (key_a is not None and key_b < key_a):  # type: ignore[operator]
            note(f"{table.name} {_show_key(names, key_b)}: missing from the live view: {_show(b)}")
            b = take_rebuilt()
        else:
            if a != b:
                changed = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
                note(
                    f"{table.name} {_show_key(names, key_a)}: "
                    + ", ".join(
                        f"{k} live {lv!r}, rebuilt {rv!r}" for k, (lv, rv) in changed.items()
                    )
                )
            a, b = take_live(), take_rebuilt()
    out.live_digest = live_hash.hexdigest()
    out.rebuilt_digest = rebuilt_hash.hexdigest()


def _show_key(names: Sequence[str], key: Any) -> str:
    return "(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, key or (), strict=False)) + ")"


def _show(row: Row | None) -> str:
    return "" if row is None else str(row)[:300]


def copy_view(source: ViewStore, target: Tx, tables: Sequence[Table], view: str) -> int:
    """Replace the view's rows in ``target`` (an open transaction) by those of ``source``."""
    copied = 0
    with source.reading() as tx:
        for table in tables:
            where = _where(table, view)
            target.execute(table.delete() if where is None else table.delete().where(where))
            chunk: list[Row] = []
            for row in table_rows(tx, table, where):
                chunk.append(row)
                if len(chunk) == 1000:
                    target.conn.execute(table.insert(), chunk)
                    copied += len(chunk)
                    chunk = []
            if chunk:
                target.conn.execute(table.insert(), chunk)
                copied += len(chunk)
    return copied
