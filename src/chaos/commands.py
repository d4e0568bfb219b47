"""``sscard chaos``: the back office under a seeded fault schedule, its invariants checked.

Loaded by the CLI only when ``sscard chaos`` is asked for (see ``cli.main``).
"""

from __future__ import annotations

import argparse
import math

from chaos.harness import ChaosOptions, run_chaos
from service.settings import Settings

# Exit codes: 0 every invariant held, 1 at least one violated (as a refusal: the run said no).
EXIT_VIOLATED = 1


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the seed must be 0 or more")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of minutes") from None
    if not math.isfinite(value) or not 0.5 <= value <= 24 * 60:
        raise argparse.ArgumentTypeError("--minutes must be between 0.5 and 1440")
    return value


def add_actions(chaos: argparse.ArgumentParser) -> None:
    chaos.add_argument(
        "--seed", type=_seed, required=True, help="draws the fault schedule (same seed: same one)"
    )
    chaos.add_argument(
        "--minutes", type=_minutes, default=2.0, help="how long the faults go on (default 2)"
    )
    chaos.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the event store: a temporary SQLite file (default), or a PostgreSQL cluster of "
        "the run's own (Debian's pg_createcluster, as root), restarted and stopped among the "
        "faults and dropped at the end",
    )
    chaos.add_argument(
        "--pace",
        type=float,
        default=0.05,
        help="seconds between two commands of the workload (default 0.05)",
    )
    chaos.add_argument(
        "--keep",
        action="store_true",
        help="keep the run's folder (store, journal, logs) even when every invariant held",
    )
    chaos.set_defaults(handler=_chaos)


def _chaos(args: argparse.Namespace, settings: Settings) -> int:
    options = ChaosOptions(
        seed=args.seed,
        minutes=args.minutes,
        store=args.store,
        pace=max(args.pace, 0.0),
        keep=args.keep,
    )
    outcome = run_chaos(settings, options, say=lambda line: print(line, flush=True))
    return EXIT_VIOLATED if outcome.violations else 0
