"""Progress of a long command on stderr: redrawn in place on a terminal, and on a pipe or in a
log file a plain line now and then (a ``\\r`` redraw there would pile every count on one line)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# How often a count is redrawn on a terminal, and written as a line of its own elsewhere.
_REDRAW_SECONDS = 0.2
_LINE_SECONDS = 10.0


class Progress:
    """``progress(done, total)``: counts of ``what``, shown when ``shown`` (asked for, or on a
    terminal). The last count always ends its line."""

    def __init__(self, what: str, shown: bool, stream: TextIO | None = None) -> None:
        self._what = what
        self._shown = shown
        self._stream = stream
        self._last: float | None = None
        self._said: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self._shown:
            return
        stream = self._stream or sys.stderr
        terminal = stream.isatty()
        now = time.monotonic()
        every = _REDRAW_SECONDS if terminal else _LINE_SECONDS
        finished = done >= total
        if (done, total) == self._said:
            return
        if not finished and self._last is not None and now - self._last < every:
            return
        self._last, self._said = now, (done, total)
        share = f" ({100 * done // total}%)" if total else ""
        line = f"{self._what}: {done:,}/{total:,}{share}"
        if terminal:
            print(f"\r{line}", end="\n" if finished else "", file=stream, flush=True)
        else:
            print(line, file=stream, flush=True)


def wanted(asked: bool) -> bool:
    """Shown when asked for (``--progress``) or when stderr is a terminal."""
    return asked or sys.stderr.isatty()
