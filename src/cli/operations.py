"""Operating commands of ``sscard``: run the back office, tick the scheduler, the relay and the
public contracts."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.output import event_data, event_line, local
from domain.errors import InvalidInput
from domain.values import check_not_future, parse_instant
from relay.contracts import export_contracts
from service.bootstrap import build
from service.kafka_wiring import ensure_topics, relay_for, run_relay, topics
from service.lapses import LapseScheduler
from service.settings import Settings
from tracking.store import STORE_ERRORS

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


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    if args.at is not None:
        # Lapsing "as of" a future instant would unblock cards reported lost today.
        check_not_future(args.at, datetime.now(UTC), "--at")
    with build(settings) as backoffice:
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
