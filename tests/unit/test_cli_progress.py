"""Batch progress: redrawn in place on a terminal only; a log file gets plain lines."""

from __future__ import annotations

import io

from cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_bar_redrawn_in_place():
    stream = Terminal()
    bar = Progress(200, stream, asked=False)
    for done in range(1, 201):
        bar.update(done)
    text = stream.getvalue()
    assert text.count("\r") == 101  # once a percent, 0 to 100
    assert text.endswith("200/200 rows (100%)\n")
    assert text.count("\n") == 1


def test_a_file_gets_plain_lines_only_when_asked():
    quiet, asked = io.StringIO(), io.StringIO()
    for stream, wanted in ((quiet, False), (asked, True)):
        bar = Progress(25, stream, asked=wanted)
        for done in range(1, 26):
            bar.update(done)
    assert quiet.getvalue() == ""
    lines = asked.getvalue().splitlines()
    assert "\r" not in asked.getvalue()
    assert lines[0] == "2/25 rows (8%)"
    assert lines[-1] == "25/25 rows (100%)"
    assert len(lines) == 13  # every second row, and the last
