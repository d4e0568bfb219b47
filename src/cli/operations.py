"""Operating commands of ``sscard``: run the back office, tick the scheduler, the relay and the
public contracts.

Each handler parses, calls the application layer (``application.operations``) or, for the
long-running workers, the composition root (``service.entry``), imported when the command runs,
and renders the result: text for people, or under ``--json`` its one JSON object.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from application.results import plural
from application.status_results import LapsedPreReport, StatusResult, TickResult
from cli.output import local
from cli.tables import print_table
from domain.errors import InvalidInput
from domain.values import parse_instant
from service.settings import Settings

EXIT_UNHEALTHY = 3


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
    run.add_argument(
        "--api-port",
        type=int,
        help="serve the HTTP API on this port too (as sscard serve does; default: not served)",
    )
    run.add_argument(
        "--api-host", default="127.0.0.1", help="the HTTP API's address (default 127.0.0.1)"
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


def _when(text: str, seconds: bool = False) -> str:
    """An instant of a result (ISO with the region's offset) as people read it."""
    return local(datetime.fromisoformat(text), seconds=seconds)


# ---- the long-running workers -----------------------------------------------------------------


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from service.entry import run_back_office

    extra = []
    if args.api_port is not None:
        if not 0 < args.api_port < 65536:
            raise InvalidInput(f"--api-port {args.api_port}: a TCP port is 1 to 65535")
        from api.worker import api_worker

        extra.append(api_worker(settings, args.api_host, args.api_port))
    run_back_office(settings, relay=not args.no_relay, views=not args.no_views, extra=extra)


def _relay_run(args: argparse.Namespace, settings: Settings) -> int:
    from service.entry import run_relay

    run_relay(settings)


# ---- status -----------------------------------------------------------------------------------


def _relay_status(args: argparse.Namespace, settings: Settings) -> int:
    from application.operations import relay_status

    result = relay_status(settings)
    if args.json:
        print(result.json_line())
    else:
        print(f"store head {result.head}, published {result.published}, lag {result.lag}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    """Reads only, so it answers on a full disk; exits 3 when a live worker does no work."""
    from application.operations import status

    result = status(settings)
    if args.json:
        print(result.json_line())
    else:
        _print_status(result)
    return 0 if result.healthy else EXIT_UNHEALTHY


def _print_status(result: StatusResult) -> None:
    print(f"store: {result.store}, head {result.head}")
    print("followers:")
    print_table(
        ("follower", "position", "lag"),
        ((f.name, f.position, f.lag) for f in result.followers),
        right=("position", "lag"),
    )
    print(f"read model consumers ({result.card_events_topic}):")
    print_table(
        ("view", "lag", "dead letters"),
        ((c.view, "unknown" if c.lag is None else c.lag, c.dead_letters) for c in result.consumers),
        right=("lag", "dead letters"),
    )
    for note in result.notes:
        print(f"  note: {note}")
    print(f"pending lapses: {result.pending_lapses}")
    for what, counts in (
        ("commands recorded", result.commands),
        ("commands refused", result.refusals),
        ("system events", result.system_events),
    ):
        print(f"{what}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    print("workers (times in Beijing):")
    if not result.workers:
        print("  none has run on this store")
    rows = []
    for worker in result.workers:
        lasted = (
            f" ({worker.seconds_in_state:.0f} s)"
            if worker.state not in ("running", "stopped")
            else ""
        )
        silence = (
            f"silent for {worker.silent_seconds:.0f} s: stopped or cut off from the database"
            if worker.silent
            else ""
        )
        state = worker.state + (f" ({worker.detail})" if worker.detail else "")
        rows.append((worker.worker, state, _when(worker.since, seconds=True) + lasted, silence))
    if any(row[-1] for row in rows):
        print_table(("worker", "state", "since", "heard"), rows)
    elif rows:  # every worker heard from: no column of blanks
        print_table(("worker", "state", "since"), [row[:-1] for row in rows])
    unhealthy = [f"{w.worker} ({w.state})" for w in result.workers if not w.healthy]
    if unhealthy:
        print(f"unhealthy: {', '.join(unhealthy)}")


# ---- tick -------------------------------------------------------------------------------------


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    from application.operations import tick

    result = tick(settings, args.at)
    if args.json:
        print(result.json_line())
    else:
        _print_tick(result)
    return 1 if result.failed else 0


def _lapse_line(lapse: LapsedPreReport) -> str:
    deadline = _when(lapse.deadline)
    if not lapse.late:
        return (
            f"pre-report of card {lapse.card_number} lapsed at its deadline {deadline}: "
            f"card {lapse.result}"
        )
    return (
        f"pre-report of card {lapse.card_number} lapsed: its deadline was {deadline}, handled "
        f"late at {_when(lapse.lapsed_at)} (settlement stayed suspended until then): "
        f"card {lapse.result}"
    )


def _print_tick(result: TickResult) -> None:
    for lapse in result.lapsed:
        print(_lapse_line(lapse))
    print(
        f"tick at {_when(result.at, seconds=True)}: {result.due} due, "
        f"{len(result.lapsed)} lapsed, {result.failed} refused, "
        f"{plural(result.open, 'pre-report')} still open"
    )


# ---- contracts and topics ---------------------------------------------------------------------


def _contracts_export(args: argparse.Namespace, settings: Settings) -> int:
    from application.operations import export_contracts

    result = export_contracts(args.directory)
    if args.json:
        print(result.json_line())
    else:
        print(f"wrote {plural(len(result.files), 'contract file')} to {result.directory}")
    return 0


def _relay_topics(args: argparse.Namespace, settings: Settings) -> int:
    from application.operations import provision_topics

    result = provision_topics(settings)
    if args.json:
        print(result.json_line())
    else:
        created = f" (created: {', '.join(result.created)})" if result.created else ""
        print(f"topics ok on {result.bootstrap_servers}: {', '.join(result.topics)}{created}")
    return 0
