"""``sscard bench``: benchmarks, each measured against a baseline in the same run.

Loaded by the CLI only when ``sscard bench`` is asked for (see ``cli.main``).
"""

from __future__ import annotations

import argparse

from bench.relay import run_relay_bench
from domain.errors import InvalidInput
from service.settings import Settings


def add_actions(bench: argparse.ArgumentParser) -> None:
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="NAME")
    bench_relay = bench_commands.add_parser(
        "relay",
        help="relay vs a bare kafka-python producer on the same bytes; command-to-consumer latency",
    )
    bench_relay.add_argument(
        "--events", type=int, default=20_000, help="card events to publish (default 20000)"
    )
    bench_relay.add_argument(
        "--commands", type=int, default=1_000, help="pre-reports timed for latency (default 1000)"
    )
    bench_relay.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pre-reports per second in the latency run (default 0: back to back, each "
        "command as soon as the previous one returns)",
    )
    bench_relay.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the event store to publish from: a temporary SQLite file (default), or a scratch "
        "schema of its own, dropped at the end, in the database DATABASE_URL names",
    )
    bench_relay.set_defaults(handler=_bench_relay)


def _bench_relay(args: argparse.Namespace, settings: Settings) -> int:
    if args.events < 1 or args.commands < 1 or args.rate < 0:
        raise InvalidInput("--events and --commands must be at least 1, --rate not negative")
    run_relay_bench(
        settings,
        events=args.events,
        latency_commands=args.commands,
        command_rate=args.rate or None,
        store=args.store,
        say=lambda line: print(line, flush=True),
    )
    return 0
