"""The read models' commands of ``sscard``: an outlet's queue, analysts' exports, the audit
(replay, verify), dead letters, the settlement subscriber, and running the consumers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cli.operations import supervise
from cli.output import local
from consumers import dead_letters
from consumers.settlement_client import (
    SUSPECT,
    UNKNOWN,
    CardSettlement,
    CardStatus,
    Contract,
    SettlementSubscriber,
    SubscriberStale,
)
from consumers.view_consumer import retry
from domain.errors import ConfigurationError, InvalidInput, NotFound
from domain.identifiers import validate_card_number
from projections.catalogue import VIEW_NAMES
from projections.outlet_queue import QUEUE_STATUSES
from projections.public_fields import parse_instant, stored_instant
from relay.contracts import settlement_schema
from replay.rebuilds import default_workers
from service.bootstrap import open_back_office
from service.exports import export, outlet_queue
from service.kafka_wiring import topics, topics_first
from service.settings import Settings
from service.views import model_named, replay_views, verify, view_workers

EXIT_REFUSED = 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number from 1")
    return int(text)


def _card(text: str) -> str:
    try:
        return validate_card_number(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(commands: Any) -> None:
    _outlet(commands)
    _analytics(commands)
    _audit(commands)
    _dead_letters(commands)
    _settlement(commands)
    consumers = commands.add_parser(
        "consumers",
        help="the read models' Kafka consumers (sscard run includes them)",
        description="the read models' Kafka consumers (sscard run includes them)",
    )
    actions = consumers.add_subparsers(dest="consumers_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run only the consumers, until SIGTERM/Ctrl-C")
    run.add_argument(
        "--view", action="append", choices=VIEW_NAMES, help="only this read model (repeatable)"
    )
    run.set_defaults(handler=_consumers_run)


# ---- outlet queue -----------------------------------------------------------------------------


def _outlet(commands: Any) -> None:
    outlet = commands.add_parser("outlet", help="what an outlet's clerks see")
    actions = outlet.add_subparsers(dest="outlet_command", required=True, metavar="ACTION")
    queue = actions.add_parser(
        "queue",
        help="the outlet's queue: counts per status, then one page of one status",
        description="Counts per status at the outlet today (its region's date), then one page "
        "of the entries of --status, oldest first.",
    )
    queue.add_argument("--outlet", required=True, help="outlet code, e.g. BJ-HD-003")
    queue.add_argument(
        "--status", choices=QUEUE_STATUSES, default="ready", help="which entries (default ready)"
    )
    queue.add_argument("--page", type=_positive, default=1, help="page number (default 1)")
    queue.add_argument(
        "--page-size", type=_positive, default=50, help="entries per page (default 50)"
    )
    queue.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON")
    queue.set_defaults(handler=_outlet_queue)


def _outlet_queue(args: argparse.Namespace, settings: Settings) -> int:
    answer = outlet_queue(settings, args.outlet, args.status, args.page, args.page_size)
    if args.json:
        print(
            json.dumps(
                {
                    "outlet": answer.outlet,
                    "today": answer.today.isoformat(),
                    "counts": answer.counts,
                    "status": answer.status,
                    "page": answer.page,
                    "entries": [e.__dict__ for e in answer.entries],
                },
                ensure_ascii=False,
            )
        )
        return 0
    counts = ", ".join(f"{name} {count}" for name, count in answer.counts.items())
    print(f"outlet {answer.outlet} on {answer.today}: {counts}")
    print(f"{answer.status}, page {answer.page} ({len(answer.entries)} entries):")
    for entry in answer.entries:
        since = local(stored_instant(entry.since), answer.zone)
        what = entry.certificate_number or f"card {entry.card_number}"
        due = f", due {entry.production_due_on}" if entry.production_due_on else ""
        late = answer.overdue_working_days.get(entry.certificate_number or "", 0)
        overdue = f", {late} working days overdue" if late > 0 else ""
        state = f"{entry.kind} {entry.status} since {since}{due}{overdue}"
        print(f"  {what}  {entry.masked_name}  {state}")
    return 0


# ---- analytics --------------------------------------------------------------------------------


class _Progress:
    """Counts on stderr, redrawn in place, on a terminal or when asked for."""

    def __init__(self, what: str, shown: bool) -> None:
        self._what = what
        self._shown = shown
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self._shown:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        share = f" ({100 * done // total}%)" if total else ""
        end = "\n" if done >= total else ""
        print(f"\r{self._what}: {done:,}/{total:,}{share}", end=end, file=sys.stderr, flush=True)


def _analytics(commands: Any) -> None:
    analytics = commands.add_parser("analytics", help="lifecycle figures for analysts")
    actions = analytics.add_subparsers(dest="analytics_command", required=True, metavar="ACTION")
    exporting = actions.add_parser(
        "export",
        help="per case stage durations, or per outlet and month counts, p50/p90 and SLA hit rate",
    )
    exporting.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)"
    )
    exporting.add_argument(
        "--table",
        choices=("outlet-months", "cases"),
        default="outlet-months",
        help="outlet-months (default) or cases",
    )
    exporting.add_argument(
        "--output", type=Path, help="file to write (CSV goes to stdout without it)"
    )
    exporting.add_argument(
        "--progress", action="store_true", help="show progress on stderr (default on a terminal)"
    )
    exporting.set_defaults(handler=_analytics_export)


def _analytics_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.format == "parquet" and args.output is None:
        raise InvalidInput("--format parquet needs --output FILE")
    if args.output is not None and args.output.is_dir():
        raise InvalidInput(f"--output {args.output} is a directory")
    shown = args.progress or sys.stderr.isatty()
    written = export(settings, args.table, args.format, args.output, _Progress("cases", shown))
    if args.output is not None:
        print(f"wrote {written} rows ({args.table}) to {args.output}")
    return 0


# ---- audit ------------------------------------------------------------------------------------


def _audit(commands: Any) -> None:
    replaying = commands.add_parser(
        "replay",
        help="rebuild a read model from the store (no Kafka) and swap it in",
        description="Rebuild each VIEW (default all) from the event store into a scratch store, "
        "in one pass on --workers processes, then replace the live views' rows by it in one "
        "transaction. Their consumers go on from their offsets.",
    )
    replaying.add_argument(
        "view", nargs="*", choices=VIEW_NAMES, help="read models (default all), rebuilt in one pass"
    )
    _workers_option(replaying)
    replaying.add_argument(
        "--progress", action="store_true", help="show progress on stderr (default on a terminal)"
    )
    replaying.set_defaults(handler=_replay)
    verifying = commands.add_parser(
        "verify",
        help="rebuild read models into a scratch store and compare with the live ones",
        description="Waits until the relay and the view's consumers have caught up, rebuilds "
        "the view from the store and compares it row by row; exit 1 on any difference.",
    )
    verifying.add_argument(
        "view", nargs="?", choices=VIEW_NAMES, help="one read model (default all)"
    )
    verifying.add_argument(
        "--wait",
        type=_positive,
        default=60,
        help="seconds to wait for the relay and consumers to catch up (default 60)",
    )
    verifying.add_argument(
        "--show", type=_positive, default=10, help="differences shown per table (default 10)"
    )
    _workers_option(verifying)
    verifying.add_argument(
        "--progress", action="store_true", help="show progress on stderr (default on a terminal)"
    )
    verifying.set_defaults(handler=_verify)


MAX_WORKERS = 64


def _workers(text: str) -> int:
    count = _positive(text)
    if count > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{count} workers: at most {MAX_WORKERS}")
    return count


def _workers_option(parser: Any) -> None:
    cores = default_workers()
    parser.add_argument(
        "--workers",
        type=_workers,
        default=cores,
        help=f"processes sharing the rebuild, by holder (default: the cores available, {cores})",
    )


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    shown = args.progress or sys.stderr.isatty()
    names = args.view or list(VIEW_NAMES)
    progress = _Progress(f"replay {', '.join(names)}", shown)
    for report in replay_views(settings, names, progress, workers=args.workers):
        print(
            f"{report.view}: rebuilt from the store up to position {report.position} "
            f"({report.rows} rows; {report.events_after_rebuild} events stored meanwhile "
            f"applied; {report.dead_letters_cleared} dead letters settled) in "
            f"{report.seconds:.1f} s"
        )
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    shown = args.progress or sys.stderr.isatty()
    bars: dict[str, _Progress] = {}

    def progress(view: str, done: int, total: int) -> None:
        bars.setdefault(view, _Progress(f"rebuild {view}", shown))(done, total)

    names = [args.view] if args.view else list(VIEW_NAMES)
    reports = verify(
        settings, names, wait=args.wait, show=args.show, progress=progress, workers=args.workers
    )
    for report in reports:
        verdict = "equal" if report.equal else "DIFFERENT"
        print(f"{report.view}: {verdict} to its rebuild at store position {report.position}")
        for note in report.notes:
            print(f"  note: {note}")
        for table in report.tables:
            same = "=" if table.equal else "!="
            print(
                f"  {table.table:<28} live {table.live_rows:>9,} rows sha256 "
                f"{table.live_digest[:16]} {same} rebuilt {table.rebuilt_rows:>9,} rows "
                f"{table.rebuilt_digest[:16]}"
            )
            for line in table.differences:
                print(f"    {line}")
            hidden = table.difference_count - len(table.differences)
            if hidden > 0:
                print(f"    ... and {hidden} more differences")
    return 0 if all(r.equal for r in reports) else EXIT_REFUSED


# ---- dead letters -----------------------------------------------------------------------------


def _dead_letters(commands: Any) -> None:
    letters = commands.add_parser(
        "dead-letters", help="messages a read model parked, and the ones parked behind them"
    )
    actions = letters.add_subparsers(dest="dead_letters_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="parked messages, per key in the order of retry")
    listing.add_argument("--view", choices=VIEW_NAMES, help="only this read model's")
    listing.set_defaults(handler=_dead_letters_list)
    retrying = actions.add_parser(
        "retry", help="apply parked messages again, per key in order; a failure stays parked"
    )
    retrying.add_argument("--view", choices=VIEW_NAMES, help="only this read model's")
    retrying.add_argument("--key", help="only this key (a holder's stream id)")
    retrying.set_defaults(handler=_dead_letters_retry)
    discarding = actions.add_parser(
        "discard", help="drop parked messages for good: one, or all of a key"
    )
    discarding.add_argument("--view", choices=VIEW_NAMES, required=True, help="the read model")
    discarding.add_argument("--key", help="every parked message of this key")
    discarding.add_argument("--partition", type=int, help="with --offset: one message")
    discarding.add_argument("--offset", type=int, help="with --partition: one message")
    discarding.set_defaults(handler=_dead_letters_discard)


def _dead_letters_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_back_office(settings) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        items = dead_letters.listed(backoffice.views, args.view)
    if not items:
        print("no parked messages")
        return 0
    for item in items:
        parked_at = local(stored_instant(item.parked_at))
        cause = "failed" if item.failed else "behind"
        print(
            f"{item.consumer}  key {item.key_text}  {item.topic}/{item.partition}/{item.offset}  "
            f"{cause}  parked {parked_at}: {item.reason}"
        )
    print(f"{len(items)} parked messages")
    return 0


def _dead_letters_retry(args: argparse.Namespace, settings: Settings) -> int:
    names = [args.view] if args.view else list(VIEW_NAMES)
    key = args.key.encode() if args.key else None
    stuck = 0
    with open_back_office(settings) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        for name in names:
            for outcome in retry(backoffice.views, model_named(settings, name), key):
                still = (
                    f"; {outcome.still_parked} still parked: {outcome.reason}"
                    if outcome.still_parked
                    else ""
                )
                print(f"{name}  key {outcome.key}: {outcome.applied} applied{still}")
                stuck += outcome.still_parked
    if stuck:
        print(f"{stuck} messages still parked")
        return EXIT_REFUSED
    return 0


def _dead_letters_discard(args: argparse.Namespace, settings: Settings) -> int:
    one = args.partition is not None or args.offset is not None
    if one and (args.partition is None or args.offset is None):
        raise InvalidInput("--partition and --offset go together")
    if not one and args.key is None:
        raise InvalidInput("say what to discard: --key, or --partition and --offset")
    with open_back_office(settings) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        key = args.key.encode() if args.key else None
        count = dead_letters.discard(backoffice.views, args.view, key, args.partition, args.offset)
    if not count:
        raise NotFound("no such parked message")
    print(f"{count} parked messages discarded (still on the dead-letter topic)")
    return 0


# ---- the settlement subscriber ----------------------------------------------------------------


def _settlement(commands: Any) -> None:
    settlement = commands.add_parser(
        "settlement", help="the settlement subscriber, as a settlement system runs it"
    )
    actions = settlement.add_subparsers(dest="settlement_command", required=True, metavar="ACTION")
    topic = _settlement_topic()
    follow = actions.add_parser(
        "follow",
        help=f"bootstrap from {topic}, then print each change, until Ctrl-C",
        description=(
            f"bootstrap from {topic} (the topic prefix is SSCARD_TOPIC_PREFIX), then print "
            "each change, until Ctrl-C"
        ),
    )
    follow.add_argument(
        "--seconds", type=_positive, help="stop after this many seconds (default: never)"
    )
    follow.set_defaults(handler=_settlement_follow)
    check = actions.add_parser(
        "check",
        help=f"bootstrap from {topic}, then say whether a card is blocked (exit 1: unknown card)",
    )
    check.add_argument("card_number", type=_card, help="the card number")
    check.add_argument(
        "--timeout", type=_positive, default=120, help="seconds to bootstrap (default 120)"
    )
    check.set_defaults(handler=_settlement_check)


def _settlement_topic() -> str:
    """The configured settlement topic, for the help texts (the settings are read later, when a
    command runs; an invalid prefix is refused then)."""
    return f"{os.environ.get('SSCARD_TOPIC_PREFIX') or 'sscard'}.settlement"


def _subscriber(settings: Settings, on_change: Any = None) -> SettlementSubscriber:
    try:
        return SettlementSubscriber.from_env(
            settings.bootstrap_servers,
            Contract(settlement_schema()),
            topics(settings).settlement,
            on_change=on_change,
            client_id="sscard-settlement-cli",
        )
    except ValueError as exc:  # a Kafka security variable (security_from_env names it)
        variable, _, problem = str(exc).partition(" ")
        raise ConfigurationError(variable, problem) from None


def _settlement_check(args: argparse.Namespace, settings: Settings) -> int:
    subscriber = _subscriber(settings).start()
    try:
        started = time.monotonic()
        if not subscriber.wait_caught_up(args.timeout):
            raise TimeoutError(f"not caught up with the settlement topic in {args.timeout} s")
        took = time.monotonic() - started
        found = subscriber.status(args.card_number)
    finally:
        subscriber.stop()
    if found.status == UNKNOWN:
        raise NotFound(f"card {args.card_number} is not on the settlement topic")
    print(_settlement_line(found) + f" ({len(subscriber):,} cards bootstrapped in {took:.1f} s)")
    return 0


def _settlement_line(card: CardSettlement | CardStatus) -> str:
    verdict = "BLOCKED" if card.blocked else "accepted"
    if card.status == SUSPECT:  # since: when it was seen; reason: what broke the contract
        return f"{card.card_number}: {verdict} (suspect: {card.reason})"
    since = local(parse_instant(card.since or ""))
    return f"{card.card_number}: {verdict} ({card.status}, {card.reason}, since {since})"


def _settlement_follow(args: argparse.Namespace, settings: Settings) -> int:
    caught = threading.Event()

    def changed(card: CardSettlement) -> None:
        if caught.is_set():
            print(_settlement_line(card), flush=True)

    subscriber = _subscriber(settings, changed).start()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        subscriber.wait_caught_up(args.seconds)
        caught.set()
        blocked = sum(1 for status, _, _ in subscriber.cards().values() if status != "active")
        print(f"caught up: {len(subscriber):,} cards, {blocked:,} blocked; following", flush=True)
        said: str | None = None
        while deadline is None or time.monotonic() < deadline:
            refusal = subscriber.refusal()
            if refusal != said:  # stale and fresh again, each said once
                print(f"STALE: {refusal}" if refusal else "fresh again; following", flush=True)
                said = refusal
            if not subscriber.running:
                raise SubscriberStale(refusal or "stopped", subscriber.age_seconds())
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.stop()
    return 0


# ---- consumers --------------------------------------------------------------------------------


def _consumers_run(args: argparse.Namespace, settings: Settings) -> int:
    names = args.view or list(VIEW_NAMES)
    gate = topics_first(settings)
    return supervise(view_workers(settings, names, gate), settings, "read model consumers")
