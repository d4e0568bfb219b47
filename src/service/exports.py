"""Analysts' exports of the lifecycle figures, CSV or Parquet, typed for the tools that read
them: booleans as ``true``/``false`` in CSV; in Parquet instants as timestamps (UTC) and dates as
dates, not text. Working days come from the configured working calendar.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy import func, select

from projections.analytics import (
    CASE_COLUMNS,
    OUTLET_MONTH_COLUMNS,
    CaseCalculator,
    case_figures,
    outlet_months,
)
from projections.lifecycle import LifecycleAnalytics, cases_table
from service.bootstrap import open_back_office, working_calendar
from service.settings import Settings

Table = Literal["cases", "outlet-months"]
Format = Literal["csv", "parquet"]
Progress = Callable[[int, int], None]
Rows = Generator[dict[str, Any], None, None]


def _rows(settings: Settings, table: Table, progress: Progress) -> tuple[list[str], Rows]:
    calculator = CaseCalculator(working_calendar(settings))
    backoffice = open_back_office(settings)

    def generate() -> Rows:
        try:
            backoffice.views.create(LifecycleAnalytics.tables)
            with backoffice.views.reading() as tx:
                total = int(tx.execute(select(func.count()).select_from(cases_table)).scalar_one())
                progress(0, total)
                counted = 0

                def counting() -> Iterator[Any]:
                    nonlocal counted
                    for figures in case_figures(tx, calculator):
                        counted += 1
                        if counted % 1000 == 0:
                            progress(counted, total)
                        yield figures

                if table == "cases":
                    for figures in counting():
                        yield figures.as_row()
                else:
                    for summary in outlet_months(counting()):
                        yield summary.as_row()
                progress(counted, total)
        finally:
            backoffice.close()

    columns = list(CASE_COLUMNS if table == "cases" else OUTLET_MONTH_COLUMNS)
    return columns, generate()


def table_rows(settings: Settings, table: Table) -> tuple[list[str], Rows]:
    """The table's columns and its rows, read lazily from the view (the HTTP API streams them):
    the back office is opened at the first row and closed after the last (or when the
    iterator is closed)."""
    return _rows(settings, table, lambda *_: None)


def export(
    settings: Settings,
    table: Table,
    fmt: Format,
    output: Path | None,
    progress: Progress,
) -> int:
    """Write the table to ``output`` (CSV may go to stdout); returns the rows written."""
    columns, rows = _rows(settings, table, progress)
    if fmt == "csv":
        if output is None:
            return _write_csv(sys.stdout, columns, rows)
        with output.open("w", newline="", encoding="utf-8") as file:
            return _write_csv(file, columns, rows)
    if output is None:
        raise ValueError("Parquet needs --output FILE")
    return _write_parquet(output, columns, rows)


def csv_cell(value: object) -> object:
    """A value as CSV readers expect it: empty for none, ``true``/``false`` for a boolean (not
    Python's ``True``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_csv(file: TextIO, columns: list[str], rows: Iterator[dict[str, Any]]) -> int:
    writer = csv.DictWriter(file, fieldnames=columns)
    writer.writeheader()
    written = 0
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
        written += 1
    return written


def _write_parquet(path: Path, columns: list[str], rows: Iterator[dict[str, Any]]) -> int:
    # Loaded only for a Parquet export: it costs every other command a tenth of a second.
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    schema = pa.schema([(name, _arrow_type(name)) for name in columns])
    written = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(_typed(row))
            if len(chunk) == 10_000:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                written += len(chunk)
                chunk = []
        if chunk or written == 0:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            written += len(chunk)
    return written


_INTEGERS = frozenset(
    {
        "case_version",
        "cases",
        "collected",
        "produced",
        "sla_working_days",
        "application_to_production_working_days",
    }
)


def _is_instant(column: str) -> bool:
    return column.endswith("_at")


def _is_date(column: str) -> bool:
    return column.endswith("_on")


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """The view's texts as the values Parquet types them: instants (UTC) and dates."""
    typed = dict(row)
    for column, value in row.items():
        if value is None or not isinstance(value, str):
            continue
        if _is_instant(column):
            typed[column] = datetime.fromisoformat(value).astimezone(UTC)
        elif _is_date(column):
            typed[column] = date.fromisoformat(value)
    return typed


def _arrow_type(column: str) -> Any:
    import pyarrow as pa  # noqa: PLC0415 (see _write_parquet)

    if _is_instant(column):
        return pa.timestamp("us", tz="UTC")
    if _is_date(column):
        return pa.date32()
    if column in _INTEGERS:
        return pa.int64()
    if column == "sla_met":
        return pa.bool_()
    if column.endswith(("_days", "_rate")):
        return pa.float64()
    return pa.string()
