"""``sscard bench``: benchmarks, each measured against a baseline in the same run.

Loaded by the CLI only when ``sscard bench`` is asked for (see ``cli.main``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.command_throughput import run_commands_bench
from bench.http_load import BenchFailed, run_http_bench
from bench.kept_stores import populate_only, refuse_unless_new
from bench.relay import run_relay_bench
from bench.scale import run_scale_bench
from bench.subscriber import run_subscriber_bench
from bench.views import run_lookup_bench, run_replay_bench, run_replay_memory_bench
from domain.errors import InvalidInput
from domain.values import parse_number
from replay.rebuilds import default_workers
from service.settings import Settings


def _count(text: str) -> int:
    value = parse_number(text, "a count")
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number")
    return int(value)


def _rate(text: str) -> float:
    """A rate: 0 (as fast as possible) or a finite positive number; NaN and infinity refused."""
    if text.strip() in ("0", "0.0"):
        return 0.0
    try:
        return parse_number(text, "--rate")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    """A duration in seconds: finite and positive, at most an hour (the bench stops itself)."""
    try:
        value = parse_number(text, "seconds")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: between 0 and 3600 seconds")
    return value


def _positive_count(text: str) -> int:
    try:
        return _count(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_actions(bench: argparse.ArgumentParser) -> None:
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="NAME")
    bench_relay = bench_commands.add_parser(
        "relay",
        help="relay vs a bare kafka-python producer on the same bytes; command-to-consumer latency",
    )
    bench_relay.add_argument(
        "--events",
        type=_positive_count,
        default=20_000,
        help="card events to publish (default 20000)",
    )
    bench_relay.add_argument(
        "--commands",
        type=_positive_count,
        default=1_000,
        help="pre-reports timed for latency (default 1000)",
    )
    bench_relay.add_argument(
        "--rate",
        type=_rate,
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

    bench_commands_parser = bench_commands.add_parser(
        "commands",
        help="commands/s through the card office vs a bare eventsourcing application, on SQLite "
        "and PostgreSQL (needs DATABASE_URL)",
    )
    bench_commands_parser.add_argument(
        "--commands",
        type=_positive_count,
        default=4_000,
        help="commands timed on each store and side (default 4000)",
    )
    bench_commands_parser.add_argument(
        "--holders",
        type=_positive_count,
        default=200,
        help="holders the commands go round (default 200)",
    )
    bench_commands_parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the card office spends its time (cProfile, top 15)",
    )
    bench_commands_parser.set_defaults(handler=_bench_commands)

    bench_replay = bench_commands.add_parser(
        "replay", help="events/s through each read model's replay vs a raw scan of the store"
    )
    bench_replay.add_argument(
        "--events", type=_positive_count, default=20_000, help="card events (default 20000)"
    )
    bench_replay.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a temporary SQLite store (default), or a scratch schema in DATABASE_URL's database",
    )
    bench_replay.add_argument(
        "--workers",
        type=_positive_count,
        default=default_workers(),
        help="processes of the split replay (default: the cores available)",
    )
    _add_store_options(bench_replay, "the store")
    bench_replay.add_argument(
        "--skip-per-view",
        action="store_true",
        help="skip the old per-view rebuilds (each view alone, one after another: about 12 "
        "minutes at a million events); the one pass and its check still run",
    )
    bench_replay.set_defaults(handler=_bench_replay)

    bench_memory = bench_commands.add_parser(
        "replay-memory",
        help="peak memory of a rebuild of every view at N events and at N x T events "
        "(exit 1 if the second is over 1.2 times the first)",
    )
    bench_memory.add_argument(
        "--events", type=_positive_count, default=100_000, help="the shorter history (100000)"
    )
    bench_memory.add_argument(
        "--times", type=_positive_count, default=10, help="the longer one, in times the shorter"
    )
    bench_memory.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a temporary SQLite store (default), or a scratch schema in DATABASE_URL's database",
    )
    bench_memory.add_argument(
        "--workers",
        type=_positive_count,
        default=1,
        help="also measure a split rebuild's worker processes (default 1: the one process only)",
    )
    _add_store_options(bench_memory, "the two stores, in DIR/<events> each,")
    bench_memory.set_defaults(handler=_bench_replay_memory)

    bench_lookup = bench_commands.add_parser(
        "lookup", help="in-process blocklist lookups: subscriber memory and the view's query"
    )
    bench_lookup.add_argument(
        "--cards", type=_positive_count, default=100_000, help="cards held (default 100000)"
    )
    bench_lookup.add_argument(
        "--lookups", type=_positive_count, default=20_000, help="lookups timed (default 20000)"
    )
    bench_lookup.set_defaults(handler=_bench_lookup)

    bench_subscriber = bench_commands.add_parser(
        "subscriber",
        help="a new settlement subscriber's bootstrap time and memory; command-to-blocklist "
        "latency",
    )
    bench_subscriber.add_argument(
        "--cards", type=_positive_count, default=100_000, help="cards on the topic (default 100000)"
    )
    bench_subscriber.add_argument(
        "--commands",
        type=_positive_count,
        default=300,
        help="pre-reports timed for latency (default 300)",
    )
    bench_subscriber.set_defaults(handler=_bench_subscriber)

    bench_views = bench_commands.add_parser(
        "views",
        help="N events through store, relay, Kafka and the read models; verify every view "
        "against its rebuild and a new subscriber against the blocklist (exit 1 if any differs)",
    )
    bench_views.add_argument(
        "--events", type=_positive_count, default=100_000, help="card events (default 100000)"
    )
    bench_views.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a temporary SQLite store (default), or a scratch schema in DATABASE_URL's database",
    )
    bench_views.set_defaults(handler=_bench_views)

    bench_http = bench_commands.add_parser(
        "http",
        help="pre-reports and queue reads over HTTP against real sscard serve processes, from a "
        "client process of its own, vs the same calls in process",
        description="A bounded load test on loopback: 1 and 2 sscard serve processes (or the "
        "count --servers names), a client process with N concurrent workers, each phase timed "
        "for --seconds after a warm-up. Exit 1 if a call is not answered as expected or the "
        "store does not hold exactly the writes the client saw acknowledged.",
    )
    bench_http.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a temporary SQLite store (default), or a scratch schema in DATABASE_URL's database",
    )
    bench_http.add_argument(
        "--servers",
        type=int,
        choices=(1, 2),
        default=None,
        help="sscard serve processes (default: 1, then 2)",
    )
    bench_http.add_argument(
        "--seconds",
        type=_seconds,
        default=5.0,
        help="timed seconds of each phase, commands then queries (default 5)",
    )
    bench_http.add_argument(
        "--warmup",
        type=_seconds,
        default=1.0,
        help="seconds of each phase before timing starts (default 1)",
    )
    bench_http.add_argument(
        "--workers",
        type=_positive_count,
        default=8,
        help="concurrent requests of the client (default 8)",
    )
    bench_http.set_defaults(handler=_bench_http)


def _add_store_options(parser: argparse.ArgumentParser, what: str) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--keep-store",
        metavar="DIR",
        type=Path,
        help=f"keep {what} populated in DIR (a new or empty folder; on PostgreSQL its schema is "
        "left in the database) to replay again with --from-store",
    )
    where.add_argument(
        "--from-store",
        metavar="DIR",
        type=Path,
        help=f"replay {what} kept in DIR by --keep-store instead of populating (same --store "
        "and --events)",
    )
    parser.add_argument(
        "--populate-only",
        action="store_true",
        help="with --keep-store: populate and keep, replay nothing",
    )


def _kept_or_reused(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    if args.populate_only and args.keep_store is None:
        raise InvalidInput("--populate-only needs --keep-store DIR (the store to keep)")
    return args.keep_store, args.from_store


def _say(line: str) -> None:
    print(line, flush=True)


def _bench_replay(args: argparse.Namespace, settings: Settings) -> int:
    keep, reuse = _kept_or_reused(args)
    if args.populate_only and keep is not None:
        populate_only(settings, args.store, args.events, keep, _say)
        return 0
    run_replay_bench(
        settings,
        events=args.events,
        store=args.store,
        workers=args.workers,
        say=_say,
        keep=keep,
        reuse=reuse,
        per_view=not args.skip_per_view,
    )
    return 0


def _bench_replay_memory(args: argparse.Namespace, settings: Settings) -> int:
    keep, reuse = _kept_or_reused(args)
    if args.populate_only and keep is not None:
        refuse_unless_new(keep)
        for size in (args.events, args.events * args.times):
            populate_only(settings, args.store, size, keep / str(size), _say)
        return 0
    figures = run_replay_memory_bench(
        settings,
        events=args.events,
        times=args.times,
        store=args.store,
        workers=args.workers,
        say=_say,
        keep=keep,
        reuse=reuse,
    )
    return 0 if figures.flat else 1


def _bench_lookup(args: argparse.Namespace, settings: Settings) -> int:
    run_lookup_bench(cards=args.cards, lookups=args.lookups, say=_say)
    return 0


def _bench_views(args: argparse.Namespace, settings: Settings) -> int:
    return 0 if run_scale_bench(settings, events=args.events, store=args.store, say=_say) else 1


def _bench_subscriber(args: argparse.Namespace, settings: Settings) -> int:
    run_subscriber_bench(settings, cards=args.cards, commands=args.commands, say=_say)
    return 0


def _bench_http(args: argparse.Namespace, settings: Settings) -> int:
    if args.store == "postgres" and not settings.uses_postgres:
        raise InvalidInput("bench http --store postgres: set DATABASE_URL")
    servers = [args.servers] if args.servers else [1, 2]
    try:
        run_http_bench(
            settings,
            args.store,
            servers,
            seconds=args.seconds,
            workers=args.workers,
            warmup=args.warmup,
            say=_say,
        )
    except BenchFailed as exc:
        print(f"bench http: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _bench_commands(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.uses_postgres:
        raise InvalidInput("bench commands measures PostgreSQL too: set DATABASE_URL")
    run_commands_bench(
        settings,
        holders=args.holders,
        commands=args.commands,
        say=lambda line: print(line, flush=True),
        profile=args.profile,
    )
    return 0


def _bench_relay(args: argparse.Namespace, settings: Settings) -> int:
    run_relay_bench(
        settings,
        events=args.events,
        latency_commands=args.commands,
        command_rate=args.rate or None,
        store=args.store,
        say=lambda line: print(line, flush=True),
    )
    return 0
