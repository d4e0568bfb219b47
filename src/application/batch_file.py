"""A production batch file (制卡批次) as it is read: a CSV with the header
``certificate,new_card_number,produced_at``, every bound checked while reading.

The rows are recorded by ``application.production_batch``; this module only turns a file into
rows, or refuses it as bad input before any row is recorded.
"""

from __future__ import annotations

import csv
import itertools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from domain.errors import InvalidInput
from domain.values import quote

HEADER = ("certificate", "new_card_number", "produced_at")
# A row is under a hundred bytes: these leave room for padding and quoting, and nothing more.
MAX_LINE_BYTES = 4_096
MAX_BATCH_BYTES = 32 * 2**20


def read_rows(path: Path, max_rows: int) -> list[tuple[int, dict[str, str]]]:
    """The rows of the file with their line numbers; a file that is not a batch is bad input.

    Read as a stream, every bound checked as it goes (never a whole file in memory first): a
    regular file only (``/dev/zero`` or a FIFO is refused at once), at most ``MAX_BATCH_BYTES``
    (refused before reading when the file says so), ``MAX_LINE_BYTES`` a line and ``max_rows``
    rows. All of it is read before any row is recorded: a refused file writes nothing."""
    name = quote(str(path))
    reader = csv.DictReader(_lines(path, name))
    try:
        header = tuple((field or "").strip() for field in (reader.fieldnames or ()))
        if header != HEADER:
            raise InvalidInput(f"batch file {name} must start with the header {','.join(HEADER)}")
        rows: list[tuple[int, dict[str, str]]] = []
        for row in reader:
            if len(rows) >= max_rows:
                raise InvalidInput(f"a batch holds at most {max_rows} rows; split the file")
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
