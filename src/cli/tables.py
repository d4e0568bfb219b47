"""Tables for people: a header row, columns as wide as their widest cell measured as a terminal
draws it (a Chinese character takes two columns), and a count with its plural under them.

Rendered by ``rich``; on a pipe or in a file no colour and no wrapping, so that a saved listing
reads the same as the screen did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from application.results import plural

# Wide enough that a pipe never folds a row: rich would otherwise assume 80 columns.
_UNFOLDED = 10_000


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    what: tuple[str, str] | None = None,
    right: Sequence[str] = (),
) -> None:
    """Print ``rows`` under ``headers``; ``what`` (singular, plural) adds a count line, so
    ``("entry", "entries")`` gives ``3 entries``. Columns named in ``right`` are right-aligned
    (numbers)."""
    from rich.console import Console  # loaded for a listing only: --help stays light
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for header in headers:
        table.add_column(header, justify="right" if header in right else "left", no_wrap=True)
    count = 0
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
        count += 1
    terminal = sys.stdout.isatty()
    console = Console(
        highlight=False,
        no_color=not terminal,
        width=None if terminal else _UNFOLDED,
        soft_wrap=not terminal,
    )
    if count:
        console.print(table)
    if what is not None:
        print(plural(count, *what))
