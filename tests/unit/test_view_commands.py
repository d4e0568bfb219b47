"""The read models' and operating commands' parts that need no store: the names the command
line offers before anything heavy is loaded, progress on a terminal and elsewhere, verify's
verdict when a consumer lags, and what the command modules load at import."""

from __future__ import annotations

import io
import subprocess
import sys

from application.catalogue import QUEUE_STATUSES, VIEW_NAMES
from application.view_results import TableVerdict, ViewVerdict
from cli.progress import Progress
from cli.views import verdict_line
from projections import catalogue, outlet_queue


def test_the_names_offered_are_the_read_models_own():
    assert VIEW_NAMES == catalogue.VIEW_NAMES
    assert QUEUE_STATUSES == outlet_queue.QUEUE_STATUSES


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_in_place_on_a_terminal_only():
    terminal = Terminal()
    shown = Progress("cases", True, terminal)
    shown(0, 10)
    shown(10, 10)
    assert terminal.getvalue() == "\rcases: 0/10 (0%)\rcases: 10/10 (100%)\n"
    log = io.StringIO()
    logged = Progress("cases", True, log)
    logged(0, 10)
    logged(5, 10)  # within the interval: not a line of its own
    logged(10, 10)
    logged(10, 10)  # said already
    assert log.getvalue() == "cases: 0/10 (0%)\ncases: 10/10 (100%)\n"
    quiet = io.StringIO()
    Progress("cases", False, quiet)(10, 10)
    assert quiet.getvalue() == ""


def _verdict(equal: bool, lag: int | None) -> ViewVerdict:
    table = TableVerdict(
        table="sscard_blocklist",
        equal=equal,
        live_rows=1,
        live_digest="a",
        rebuilt_rows=2,
        rebuilt_digest="a" if equal else "b",
        differences=[],
        difference_count=0 if equal else 1,
    )
    return ViewVerdict(
        view="settlement_blocklist",
        equal=equal,
        position=7,
        consumer_lag=lag,
        notes=[],
        tables=[table],
    )


def test_a_difference_while_the_consumer_lags_says_so():
    lagging = verdict_line(_verdict(False, 3))
    assert lagging.startswith("settlement_blocklist: DIFFERENT (its consumer is 3 messages behind")
    assert verdict_line(_verdict(False, 1)).count("1 message behind") == 1
    assert verdict_line(_verdict(False, 0)) == (
        "settlement_blocklist: DIFFERENT to its rebuild at store position 7"
    )
    assert verdict_line(_verdict(True, 3)) == (
        "settlement_blocklist: equal to its rebuild at store position 7"
    )


HEAVY = ("kafka", "sqlalchemy", "pyarrow", "cryptography", "psycopg")
ROOMS = ("consumers", "projections", "relay", "tracking", "store")


def test_the_command_modules_load_nothing_heavy():
    """They parse: the application layer and the store are loaded by a handler, when it runs."""
    probe = (
        "import sys, cli.views, cli.operations; "
        "print(' '.join(sorted({m.partition('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert loaded.isdisjoint(ROOMS), sorted(loaded & set(ROOMS))
