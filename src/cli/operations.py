"""Operating commands of ``sscard``: run the back office, tick the scheduler, the relay and the
public contracts."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.output import BEIJING, event_data, event_line, local
from domain.errors import InvalidInput
from domain.values import check_not_future, parse_instant
from relay.contracts import export_contracts
from service.bootstrap import open_back_office, view_store
from service.kafka_wiring import ensure_topics, relay_for, topics, topics_first
from service.lapses import LapseScheduler
from service.metrics import serve_metrics, snapshot
from service.settings import Settings
from service.supervisor import Supervisor, Worker
from service.views import view_workers
from service.workers import back_office_workers, relay_worker, status, store_description
from tracking.store_identity import ViewStoreWatch

log = logging.getLogger("sscard")


def add_commands(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run the back office until SIGTERM: relay to Kafka, lapse scheduler, read model "
        "consumers, Prometheus metrics (SSCARD_METRICS_PORT)",
    )
    run.add_argument("--no-relay", action="store_true", help="without the relay")
    run.add_argument(
        "--no-views", action="store_true", help="without the read models' Kafka consumers"
    )
    run.set_defaults(handler=_run)

    status_command = commands.add_parser(
        "status",
        help="each worker's state, the store head, each follower's position and lag",
    )
    status_command.set_defaults(handler=_status)

    tick = commands.add_parser("tick", help="lapse every pre-report that is due, once, and exit")
    tick.add_argument(
        "--at",
        type=_instant,
        help="ISO-8601 instant with timezone to treat as now (default: the clock); not in the "
        "future, and not before a holder's previous event",
    )
    tick.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    tick.set_defaults(handler=_tick)

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
    relay_topics = relay_commands.add_parser(
        "topics", help="create missing topics, refuse ones whose config contradicts ours"
    )
    relay_topics.set_defaults(handler=_relay_topics)


def _directory(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return path


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text, "--at")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        log.info("received %s: finishing the current step, then stopping", name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def supervise(workers: list[Worker], settings: Settings, what: str) -> int:
    stop = _stop_on_signals()
    log.info("%s running on %s; Kafka %s", what, store_description(settings), what_kafka(settings))
    watch = _view_store_watch(settings)
    try:
        outcome = Supervisor(workers, guard=watch).run(stop)
    finally:
        if watch is not None:
            watch.close()
    if outcome.abandoned:
        # Their batch is unrecorded, so it is sent again on the next start: leaving is safe,
        # and a stop must not wait on a broker or a database that does not answer.
        log.warning("%s still busy after the stop grace; leaving", ", ".join(outcome.abandoned))
    else:
        log.info("stopped")
    # Every worker has closed its connections (or was abandoned, see above). Tearing the
    # interpreter down takes a second more on a busy machine; a stop is promised within two.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(outcome.exit_code)


def _view_store_watch(settings: Settings) -> ViewStoreWatch | None:
    """A SQLite view store deleted or replaced under the workers is found and put back
    (``tracking.store_identity``); a PostgreSQL schema has no such file."""
    if settings.uses_postgres:
        return None
    store = view_store(settings)
    try:
        store.create()  # the store and its identity row, if this is its first start
    finally:
        store.close()
    watch = ViewStoreWatch(settings.views_sqlite_path)
    watch.open()
    return watch


def what_kafka(settings: Settings) -> str:
    return settings.bootstrap_servers


def _run(args: argparse.Namespace, settings: Settings) -> int:
    gate = topics_first(settings)
    workers = back_office_workers(settings, relay=not args.no_relay, gate=gate)
    if not args.no_views:
        workers += view_workers(settings, gate=gate)
    log.info("lapse check every %.0f s", settings.lapse_check_seconds)
    serve_metrics(settings)
    return supervise(workers, settings, "back office")


def _relay_run(args: argparse.Namespace, settings: Settings) -> int:
    return supervise([relay_worker(settings, topics_first(settings))], settings, "relay")


def _relay_status(args: argparse.Namespace, settings: Settings) -> int:
    with open_back_office(settings) as backoffice:
        relay_status = relay_for(backoffice).status()
        print(
            f"store head {relay_status.head}, published {relay_status.published}, "
            f"lag {relay_status.lag}"
        )
        return 0


EXIT_UNHEALTHY = 3


def _status(args: argparse.Namespace, settings: Settings) -> int:
    """Reads only, so it answers on a full disk; exits 3 when a live worker does no work."""
    report = status(settings)
    with open_back_office(settings) as backoffice:
        figures = snapshot(backoffice)
    print(f"store: {report.store}, head {report.head}")
    print("followers:")
    for follower in report.followers:
        print(f"  {follower.name:<16} position {follower.position:>10}  lag {follower.lag}")
    print("read model consumers (sscard.card-events):")
    for consumer in figures.consumers:
        lag = "unknown" if consumer.lag is None else str(consumer.lag)
        print(f"  {consumer.view:<20} lag {lag:>10}  dead letters {consumer.dead_letters}")
    for note in figures.notes:
        print(f"  note: {note}")
    print(f"pending lapses: {figures.pending_lapses}")
    recorded = ", ".join(f"{k} {v}" for k, v in sorted(figures.commands.items())) or "none"
    refused = ", ".join(f"{k} {v}" for k, v in sorted(figures.refusals.items())) or "none"
    print(f"commands recorded: {recorded}")
    print(f"commands refused: {refused}")
    system = ", ".join(f"{k} {v}" for k, v in sorted(figures.system_events.items())) or "none"
    print(f"system events: {system}")
    print("workers (times in Beijing):")
    if not report.workers:
        print("  none has run on this store")
    for worker in report.workers:
        since = worker.since.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        state = worker.state + (f" ({worker.detail})" if worker.detail else "")
        heard = worker.silent_for(report.at)
        silence = (
            f"; silent for {heard:.0f} s: stopped or cut off from the database"
            if report.silent(worker)
            else ""
        )
        lasted = (report.at - worker.since).total_seconds()
        length = f" ({lasted:.0f} s)" if worker.state not in ("running", "stopped") else ""
        print(f"  {worker.worker:<28} {state}, since {since}{length}{silence}")
    if report.unhealthy:
        names = ", ".join(f"{w.worker} ({w.state})" for w in report.unhealthy)
        print(f"unhealthy: {names}")
        return EXIT_UNHEALTHY
    return 0


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    if args.at is not None:
        # Lapsing "as of" a future instant would unblock cards reported lost today.
        check_not_future(args.at, datetime.now(UTC), BEIJING, "--at")
    with open_back_office(settings) as backoffice:
        scheduler = LapseScheduler(backoffice)
        report = scheduler.tick(args.at)
        pending = scheduler.pending()
        if args.json:
            summary = {
                "at": report.at.isoformat(),
                "due": report.due,
                "lapsed": [event_data(e) for e in report.lapsed],
                "refused": report.failed,
                "open": pending,
            }
            print(json.dumps(summary, ensure_ascii=False))
            return 1 if report.failed else 0
        for event in report.lapsed:
            print(event_line(event))
        print(
            f"tick at {local(report.at, seconds=True)}: {report.due} due, "
            f"{len(report.lapsed)} lapsed, {report.failed} refused, "
            f"{pending} pre-reports still open"
        )
        return 1 if report.failed else 0


def _contracts_export(args: argparse.Namespace, settings: Settings) -> int:
    written = export_contracts(args.directory)
    print(f"wrote {len(written)} contract files to {args.directory}")
    return 0


def _relay_topics(args: argparse.Namespace, settings: Settings) -> int:
    created = ensure_topics(settings)
    names = topics(settings)
    print(
        f"topics ok on {settings.bootstrap_servers}: {names.card_events}, {names.settlement}, "
        f"{names.reimbursement_events}, {names.dead_letter}"
        + (f" (created: {', '.join(created)})" if created else "")
    )
    return 0
