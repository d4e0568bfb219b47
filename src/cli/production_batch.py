"""``sscard card produce --batch FILE.csv``: the production centre's batch (制卡批次).

One row per card: ``certificate,new_card_number,produced_at``. Each row is one production
command through the card office, so every rule holds row by row; the file as a whole is not a
transaction (a bad row does not undo the good ones), and sending it again is safe: a row already
recorded says so and writes nothing. One result line per row, a summary, and exit 0 only when
every row is recorded (now or before).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import stat
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from domain.cardholder.commands import RecordProduction
from domain.errors import DomainError, InvalidInput
from domain.event import Actor
from domain.values import parse_instant, quote
from service.bootstrap import open_back_office
from service.metrics import count_refusal
from service.settings import Settings

HEADER = ("certificate", "new_card_number", "produced_at")
MAX_ROWS = 100_000
# A row is under a hundred bytes: these leave room for padding and quoting, and nothing more.
MAX_LINE_BYTES = 4_096
MAX_BATCH_BYTES = 32 * 2**20


@dataclass(frozen=True)
class RowResult:
    line: int
    certificate: str
    status: str  # recorded | already_recorded | refused
    reason: str = ""

    def text(self) -> str:
        where = f"line {self.line}: {quote(self.certificate, 24)}"
        if self.status == "refused":
            return f"{where}: refused: {self.reason}"
        return f"{where}: {self.status.replace('_', ' ')}"

    def data(self) -> dict[str, object]:
        out: dict[str, object] = {
            "line": self.line,
            "certificate": self.certificate,
            "status": self.status,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


class Progress:
    """A bar on stderr, redrawn in place; only on a terminal (or when asked for)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._enabled = enabled
        self._shown = -1

    def update(self, done: int) -> None:
        if not self._enabled:
            return
        filled = self.WIDTH * done // self._total
        percent = 100 * done // self._total
        if percent == self._shown and done != self._total:
            return
        self._shown = percent
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {done}/{self._total} rows ({percent}%)")
        if done == self._total:
            self._stream.write("\n")
        self._stream.flush()


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of the file with their line numbers; a file that is not a batch is bad input.

    Read as a stream, every bound checked as it goes (never a whole file in memory first): a
    regular file only (``/dev/zero`` or a FIFO is refused at once), at most ``MAX_BATCH_BYTES``
    (refused before reading when the file says so), ``MAX_LINE_BYTES`` a line and ``MAX_ROWS``
    rows. All of it is read before any row is recorded: a refused file writes nothing."""
    name = quote(str(path))
    reader = csv.DictReader(_lines(path, name))
    try:
        header = tuple((field or "").strip() for field in (reader.fieldnames or ()))
        if header != HEADER:
            raise InvalidInput(f"batch file {name} must start with the header {','.join(HEADER)}")
        rows: list[tuple[int, dict[str, str]]] = []
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise InvalidInput(f"a batch holds at most {MAX_ROWS} rows; split the file")
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InvalidInput(f"batch file {name} is not valid CSV: {exc}") from None
    return rows


def _lines(path: Path, name: str) -> Iterator[str]:
    """The file's lines, decoded, each bound checked before it is kept."""
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to must not hang; a regular file reads the same.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"batch file {name} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"batch file {name} cannot be read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a directory opens too, and fails only on reading
        os.close(fd)
        raise InvalidInput(f"batch file {name} is not a regular file")
    with os.fdopen(fd, "rb") as file:
        if info.st_size > MAX_BATCH_BYTES:
            raise _too_large(name)
        read = 0
        for number in itertools.count(1):
            try:
                raw = file.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise InvalidInput(f"batch file {name} cannot be read: {exc.strerror}") from None
            if not raw:
                return
            read += len(raw)
            if len(raw.rstrip(b"\n")) > MAX_LINE_BYTES:
                raise InvalidInput(
                    f"batch file {name}: line {number} is longer than {MAX_LINE_BYTES} bytes"
                )
            if read > MAX_BATCH_BYTES:  # it grew while being read
                raise _too_large(name)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    f"batch file {name}: line {number} is not UTF-8 text ({exc.reason})"
                ) from None
            # Split as before streaming was: a lone CR ends a line too.
            yield from text.splitlines()


def _too_large(name: str) -> InvalidInput:
    return InvalidInput(
        f"batch file {name} is larger than {MAX_BATCH_BYTES // 2**20} MiB; split the file"
    )


def _command(row: Mapping[str, str | None], actor: Actor, batch_id: str | None) -> RecordProduction:
    if None in row or any(row.get(name) is None for name in HEADER):
        raise InvalidInput("the row must have exactly 3 fields")
    return RecordProduction(
        actor=actor,
        certificate_number=str(row["certificate"]),
        new_card_number=str(row["new_card_number"]),
        produced_at=parse_instant(str(row["produced_at"]), "produced_at"),
        batch_id=batch_id,
    )


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        return f"invalid {where}: {first['msg']}"
    if isinstance(error, DomainError):
        return f"({error.code}) {error}"
    return str(error)


def run_batch(
    path: Path,
    actor: Actor,
    batch_id: str | None,
    settings: Settings,
    as_json: bool,
    progress: bool,
) -> int:
    rows = read_rows(path)
    bar = Progress(len(rows), sys.stderr, enabled=progress or sys.stderr.isatty())
    results: list[RowResult] = []
    refusals: Counter[str] = Counter()  # each refused row is a refused command
    with open_back_office(settings) as backoffice:
        for done, (line, row) in enumerate(rows, start=1):
            certificate = str(row.get("certificate") or "")
            try:
                command = _command(row, actor, batch_id)
                outcome = backoffice.office.record_production_outcome(command)
                status = "already_recorded" if outcome.status == "already_recorded" else "recorded"
                result = RowResult(line, certificate, status)
            except (DomainError, ValidationError) as exc:
                result = RowResult(line, certificate, "refused", _reason(exc))
                refusals[exc.code if isinstance(exc, DomainError) else InvalidInput.code] += 1
            results.append(result)
            print(json.dumps(result.data()) if as_json else result.text(), flush=True)
            bar.update(done)
    for reason, count in sorted(refusals.items()):
        count_refusal(settings, reason, count)
    counts = {
        s: sum(1 for r in results if r.status == s)
        for s in ("recorded", "already_recorded", "refused")
    }
    if as_json:
        print(json.dumps({"summary": {"rows": len(results), **counts}}))
    else:
        print(
            f"batch {path.name}: {len(results)} rows, {counts['recorded']} recorded, "
            f"{counts['already_recorded']} already recorded, {counts['refused']} refused"
        )
    return 0 if counts["refused"] == 0 else 1
