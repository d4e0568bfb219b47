"""Progress of a long batch on stderr: a bar redrawn in place on a terminal; elsewhere (a log
file, a pipe) plain lines that read well when saved, and only when asked for."""

from __future__ import annotations

from typing import TextIO


class Progress:
    WIDTH = 30
    # Plain lines away from a terminal: one each tenth of the batch, and the last.
    PLAIN_LINES = 10

    def __init__(self, total: int, stream: TextIO, asked: bool) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._terminal = stream.isatty()
        self._enabled = self._terminal or asked
        self._shown = -1

    def update(self, done: int) -> None:
        if not self._enabled:
            return
        if self._terminal:
            self._redraw(done)
        else:
            self._line(done)

    def _redraw(self, done: int) -> None:
        percent = 100 * done // self._total
        if percent == self._shown and done != self._total:
            return
        self._shown = percent
        filled = self.WIDTH * done // self._total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {done}/{self._total} rows ({percent}%)")
        if done == self._total:
            self._stream.write("\n")
        self._stream.flush()

    def _line(self, done: int) -> None:
        step = max(self._total // self.PLAIN_LINES, 1)
        if done % step and done != self._total:
            return
        self._stream.write(f"{done}/{self._total} rows ({100 * done // self._total}%)\n")
        self._stream.flush()
