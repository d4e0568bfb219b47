"""Operating commands of ``sscard``: run the back office, tick the scheduler, infrastructure,
schemas and the demo."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from projections.store import STORE_ERRORS
from service.bench import run_relay_bench
from service.bootstrap import build
from service.contracts import export_contracts
from service.demo import run_demo
from service.kafka_wiring import ensure_topics, relay_for, run_relay, topics
from service.lapses import LapseScheduler
from service.local_kafka import LocalKafka
from service.local_postgres import LocalPostgres
from service.output import event_line
from service.schemas import export_event_schemas
from service.settings import Settings

log = logging.getLogger("sscard")


def add_commands(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run the back office: relay to Kafka and lapse scheduler, until SIGTERM"
    )
    run.add_argument("--no-relay", action="store_true", help="run the lapse scheduler only")
    run.set_defaults(handler=_run)

    tick = commands.add_parser("tick", help="lapse every pre-report that is due, once, and exit")
    tick.add_argument(
        "--at",
        type=_instant,
        help="ISO-8601 instant with timezone to treat as now (default: the clock)",
    )
    tick.set_defaults(handler=_tick)

    demo = commands.add_parser(
        "demo", help="drive one full replacement and one lapsed pre-report; print the histories"
    )
    demo.set_defaults(handler=_demo)

    schema = commands.add_parser("schema", help="event payload schemas")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    export = schema_commands.add_parser("export", help="write one JSON Schema file per event")
    export.add_argument("directory", type=_directory, help="created if missing")
    export.set_defaults(handler=_schema_export)

    bench = commands.add_parser("bench", help="benchmarks, measured against a baseline in one run")
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
    bench_relay.set_defaults(handler=_bench_relay)

    contracts = commands.add_parser(
        "contracts", help="JSON Schema and AsyncAPI files for every topic and message"
    )
    contract_commands = contracts.add_subparsers(
        dest="contracts_command", required=True, metavar="ACTION"
    )
    contracts_export = contract_commands.add_parser(
        "export", help="write asyncapi.json and schemas/ (the repository keeps them in contracts/)"
    )
    contracts_export.add_argument("directory", type=_directory, help="created if missing")
    contracts_export.set_defaults(handler=_contracts_export)

    infra = commands.add_parser("infra", help="the local Kafka broker and PostgreSQL server")
    infra_commands = infra.add_subparsers(dest="infra_command", required=True, metavar="ACTION")
    up = infra_commands.add_parser(
        "up", help="start what the settings need (Kafka; PostgreSQL when DATABASE_URL is set)"
    )
    up.add_argument("--kafka", action="store_true", help="only/also the Kafka broker")
    up.add_argument("--postgres", action="store_true", help="only/also PostgreSQL")
    up.set_defaults(handler=_infra_up)
    down = infra_commands.add_parser("down", help="stop the local Kafka broker")
    down.add_argument("--postgres", action="store_true", help="also stop PostgreSQL")
    down.set_defaults(handler=_infra_down)
    status = infra_commands.add_parser("status", help="is each service running and answering?")
    status.set_defaults(handler=_infra_status)
    topics = infra_commands.add_parser(
        "topics", help="create missing topics, refuse ones whose config contradicts ours"
    )
    topics.set_defaults(handler=_infra_topics)

    relay = commands.add_parser("relay", help="publish stored events to Kafka")
    relay_commands = relay.add_subparsers(dest="relay_command", required=True, metavar="ACTION")
    relay_run = relay_commands.add_parser(
        "run", help="run only the relay, until SIGTERM/Ctrl-C (sscard run includes it)"
    )
    relay_run.set_defaults(handler=_relay_run)
    relay_status = relay_commands.add_parser(
        "status", help="store head, published position and lag"
    )
    relay_status.set_defaults(handler=_relay_status)


def _directory(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return path


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 instant") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone (add Z or +08:00)")
    return at


def local_kafka(settings: Settings) -> LocalKafka:
    return LocalKafka.default(
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        state_dir=settings.state_dir / f"kafka-{settings.kafka_port}",
    )


def local_postgres(settings: Settings) -> LocalPostgres:
    if settings.uses_postgres:
        pg = settings.postgres()
        return LocalPostgres(
            host=pg.host, port=pg.port, user=pg.user, password=pg.password.get_secret_value()
        )
    return LocalPostgres()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        log.info("received %s: finishing the current step, then stopping", name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def _run(args: argparse.Namespace, settings: Settings) -> int:
    stop = _stop_on_signals()
    with build(settings) as backoffice, build(settings) as relay_side:
        relay_thread = None
        if not args.no_relay:
            # The relay has its own connections so its lock and batches never wait on the
            # scheduler's.
            relay_thread = threading.Thread(
                target=run_relay, args=(relay_side, stop), name="relay", daemon=True
            )
            relay_thread.start()
        scheduler = LapseScheduler(backoffice)
        where = settings.postgres().dbname if settings.uses_postgres else settings.sqlite_path
        log.info(
            "back office running on %s; Kafka %s; lapse check every %.0f s",
            where,
            "off" if args.no_relay else settings.bootstrap_servers,
            settings.lapse_check_seconds,
        )
        while not stop.is_set():
            try:
                report = scheduler.tick()
            except STORE_ERRORS as exc:
                log.error(
                    "lapse check failed (%s: %s); trying again next time", type(exc).__name__, exc
                )
                stop.wait(settings.lapse_check_seconds)
                continue
            for event in report.lapsed:
                log.info("lapsed: %s", event_line(event))
            if report.failed:
                log.warning("%d lapses refused; retried next tick", report.failed)
            if relay_thread is not None and not relay_thread.is_alive():
                log.error("the relay stopped; stopping the back office")
                return 3
            stop.wait(settings.lapse_check_seconds)
        if relay_thread is not None:
            relay_thread.join(timeout=60)
    log.info("stopped")
    return 0


def _relay_run(args: argparse.Namespace, settings: Settings) -> int:
    stop = _stop_on_signals()
    with build(settings) as backoffice:
        run_relay(backoffice, stop)
    return 0


def _relay_status(args: argparse.Namespace, settings: Settings) -> int:
    with build(settings) as backoffice:
        status = relay_for(backoffice).status()
        print(f"store head {status.head}, published {status.published}, lag {status.lag}")
        return 0


def _infra_topics(args: argparse.Namespace, settings: Settings) -> int:
    created = ensure_topics(settings)
    names = topics(settings)
    print(
        f"topics ok on {settings.bootstrap_servers}: {names.card_events}, {names.settlement}, "
        f"{names.reimbursement_events}, {names.dead_letter}"
        + (f" (created: {', '.join(created)})" if created else "")
    )
    return 0


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    with build(settings) as backoffice:
        scheduler = LapseScheduler(backoffice)
        report = scheduler.tick(args.at)
        for event in report.lapsed:
            print(event_line(event))
        print(
            f"tick at {report.at:%Y-%m-%d %H:%M:%S}Z: {report.due} due, "
            f"{len(report.lapsed)} lapsed, {report.failed} refused, "
            f"{scheduler.pending()} pre-reports still open"
        )
        return 1 if report.failed else 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    run_demo(settings, print)
    return 0


def _schema_export(args: argparse.Namespace, settings: Settings) -> int:
    written = export_event_schemas(args.directory)
    print(f"wrote {len(written)} JSON Schema files to {args.directory}")
    return 0


def _bench_relay(args: argparse.Namespace, settings: Settings) -> int:
    if args.events < 1 or args.commands < 1 or args.rate < 0:
        raise InvalidInput("--events and --commands must be at least 1, --rate not negative")
    run_relay_bench(
        settings,
        events=args.events,
        latency_commands=args.commands,
        command_rate=args.rate or None,
        say=lambda line: print(line, flush=True),
    )
    return 0


def _contracts_export(args: argparse.Namespace, settings: Settings) -> int:
    written = export_contracts(args.directory)
    print(f"wrote {len(written)} contract files to {args.directory}")
    return 0


def _infra_up(args: argparse.Namespace, settings: Settings) -> int:
    want_kafka = args.kafka or not args.postgres
    want_postgres = args.postgres or (settings.uses_postgres and not args.kafka)
    if want_postgres:
        postgres = local_postgres(settings)
        postgres.ensure_server()
        postgres.ensure_role()
        dbname = settings.postgres().dbname if settings.uses_postgres else "sscard"
        postgres.ensure_database(dbname)
        print(f"PostgreSQL ready: database {dbname} on {postgres.host}:{postgres.port}")
    if want_kafka:
        if not settings.uses_local_kafka:
            raise InvalidInput(
                f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} points at an existing "
                "broker; unset it to run the local one"
            )
        kafka = local_kafka(settings)
        kafka.start()
        print(f"Kafka ready on {kafka.bootstrap_servers} (log: {kafka.log_file})")
    return 0


def _infra_down(args: argparse.Namespace, settings: Settings) -> int:
    kafka = local_kafka(settings)
    kafka.stop()
    print(f"Kafka on {kafka.bootstrap_servers} stopped")
    if args.postgres:
        local_postgres(settings).stop()
        print("PostgreSQL stopped")
    return 0


def _infra_status(args: argparse.Namespace, settings: Settings) -> int:
    kafka = local_kafka(settings).status()
    print(
        f"kafka     {kafka.bootstrap_servers}: "
        f"{'running' if kafka.running else 'stopped'}, "
        f"{'answering' if kafka.answering else 'not answering'}"
        f"{f', pid {kafka.pid}' if kafka.pid else ''}; log {kafka.log_file}"
    )
    pg = local_postgres(settings).status()
    print(
        f"postgres  {'installed' if pg.installed else 'not installed'}, "
        f"{'running' if pg.running else 'stopped'}, "
        f"{'answering' if pg.answering else 'not answering'}"
        f"{f', version {pg.version}' if pg.version else ''}"
    )
    return 0 if kafka.answering else 1
