"""The production centre's batch (制卡批次): one production command per row.

Each row goes through the card office on its own, so every rule holds row by row; the batch as
a whole is no transaction (a refused row does not undo the others), and sending it again is
safe: a row on record answers ``already_recorded`` and writes nothing, whatever became of the
card since. The result says whether the batch is complete (every row on record): that is the
exit policy, as data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from application.batch_file import HEADER, read_rows
from application.card_results import BatchResult, BatchRowResult
from application.store_positions import store_position
from domain.cardholder.commands import RecordProduction
from domain.errors import DomainError, InvalidInput, first_problem
from domain.event import Actor
from domain.values import parse_instant

if TYPE_CHECKING:  # the office is passed in; its module loads the event store library
    from domain.application import CardOffice

# A batch is a day's output of a production line; a larger file is split (a file this size
# still reads in seconds and its results fit in memory).
MAX_ROWS = 100_000

Row = tuple[int, Mapping[str, str | None]]
RowDone = Callable[[BatchRowResult, int, int], None]


def read_batch(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of a batch file, or bad input (nothing recorded) for a file that is no batch."""
    return read_rows(path, MAX_ROWS)


def row_command(
    row: Mapping[str, str | None], actor: Actor, batch_id: str | None
) -> RecordProduction:
    """One row as the production command it stands for; a malformed row is bad input."""
    if None in row or any(row.get(name) is None for name in HEADER):
        raise InvalidInput(f"the row must have exactly {len(HEADER)} fields")
    return RecordProduction(
        actor=actor,
        certificate_number=str(row["certificate"]),
        new_card_number=str(row["new_card_number"]),
        produced_at=parse_instant(str(row["produced_at"]), "produced_at"),
        batch_id=batch_id,
    )


def record_row(
    office: CardOffice, line: int, row: Mapping[str, str | None], actor: Actor, batch_id: str | None
) -> BatchRowResult:
    certificate = str(row.get("certificate") or "")
    try:
        outcome = office.record_production_outcome(row_command(row, actor, batch_id))
    except ValidationError as exc:
        where, what = first_problem(exc, "row")
        message = f"invalid {where}: {what}"
        return BatchRowResult(
            line=line,
            certificate=certificate,
            status="refused",
            code=InvalidInput.code,
            message=message,
        )
    except DomainError as exc:
        return BatchRowResult(
            line=line, certificate=certificate, status="refused", code=exc.code, message=str(exc)
        )
    status = "already_recorded" if outcome.status == "already_recorded" else "recorded"
    position = outcome.position or store_position(office, outcome.event)
    return BatchRowResult(
        line=line, certificate=certificate, status=status, store_position=position
    )


def record_batch(
    office: CardOffice,
    rows: Sequence[Row],
    actor: Actor,
    batch_id: str | None = None,
    on_row: RowDone | None = None,
) -> BatchResult:
    """Record every row, in file order; ``on_row(result, done, total)`` hears of each as it is
    done (an entry point shows progress with it)."""
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"a batch holds at most {MAX_ROWS} rows; split the file")
    results: list[BatchRowResult] = []
    for done, (line, row) in enumerate(rows, start=1):
        result = record_row(office, line, row, actor, batch_id)
        results.append(result)
        if on_row is not None:
            on_row(result, done, len(rows))
    return BatchResult.of(results, batch_id)
