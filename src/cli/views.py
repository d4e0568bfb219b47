"""The read models' commands of ``sscard``: an outlet's queue, analysts' exports, the audit
(replay, verify), dead letters, the settlement subscriber, and running the consumers.

Each handler parses, calls the application layer (``application.views``, imported when the
command runs: ``--help`` loads neither the database nor Kafka clients) and renders its result:
text for people, or under ``--json`` the result's one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from datetime import datetime
from typing import Any

from application.catalogue import QUEUE_STATUSES, VIEW_NAMES, cores_available
from application.results import plural
from application.view_results import (
    CardSettlementStatus,
    DeadLettersResult,
    DeadLettersRetryResult,
    OutletQueueQuery,
    OutletQueueResult,
    SettlementNotice,
    VerifyResult,
    ViewVerdict,
)
from cli.arguments import output_file
from cli.output import local
from cli.progress import Progress, wanted
from cli.tables import print_table
from domain.errors import InvalidInput
from domain.identifiers import validate_card_number
from service.settings import Settings

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


def _view_name(text: str) -> str:
    """A read model's name. A type rather than ``choices``: argparse checks an empty ``nargs="*"``
    list against ``choices`` too, and refused ``sscard replay`` with no view at all."""
    if text not in VIEW_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a read model (choose from {', '.join(VIEW_NAMES)})"
        )
    return text


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


def _since(text: str | None) -> str:
    """An instant of a result (ISO with the region's offset) as people read it."""
    return "" if text is None else local(datetime.fromisoformat(text))


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
    queue.set_defaults(handler=_outlet_queue)


def _outlet_queue(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import outlet_queue

    query = OutletQueueQuery(
        outlet=args.outlet, queue_status=args.status, page=args.page, page_size=args.page_size
    )
    answer = outlet_queue(settings, query)
    if args.json:
        print(answer.json_line())
    else:
        _print_queue(answer)
    return 0


def _print_queue(answer: OutletQueueResult) -> None:
    counts = ", ".join(f"{name} {count}" for name, count in answer.counts.items())
    print(f"outlet {answer.outlet} on {answer.today}: {counts}")
    print(f"{answer.queue_status}, page {answer.page}:")
    print_table(
        ("what", "name", "kind", "status", "since", "due", "overdue"),
        (
            (
                entry.certificate or f"card {entry.card_number}",
                entry.masked_name,
                entry.kind,
                entry.queue_status,
                _since(entry.since),
                entry.production_due_on,
                plural(entry.overdue_working_days, "working day")
                if entry.overdue_working_days
                else "",
            )
            for entry in answer.entries
        ),
        what=("entry", "entries"),
    )


# ---- analytics --------------------------------------------------------------------------------


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
        "--output", type=output_file, help="file to write (CSV goes to stdout without it)"
    )
    exporting.add_argument(
        "--progress", action="store_true", help="show progress on stderr (default on a terminal)"
    )
    exporting.set_defaults(handler=_analytics_export)


def _analytics_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.json and args.output is None:
        # stdout holds the answer's one JSON object: the rows need a file of their own.
        raise InvalidInput("--json needs --output FILE (without it the CSV goes to stdout)")
    from application.views import export_analytics

    progress = Progress("cases", wanted(args.progress))
    result = export_analytics(settings, args.table, args.format, args.output, progress)
    if args.json:
        print(result.json_line())
    elif result.output is not None:
        print(f"wrote {plural(result.rows, 'row')} ({result.table}) to {result.output}")
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
        "view",
        nargs="*",
        type=_view_name,
        metavar="VIEW",
        help=f"read models (default all), rebuilt in one pass: {', '.join(VIEW_NAMES)}",
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
    cores = cores_available()
    parser.add_argument(
        "--workers",
        type=_workers,
        default=cores,
        help=f"processes sharing the rebuild, by holder (default: the cores available, {cores})",
    )


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import replay

    names = args.view or list(VIEW_NAMES)
    progress = Progress(f"replay {', '.join(names)}", wanted(args.progress))
    result = replay(settings, names, args.workers, progress)
    if args.json:
        print(result.json_line())
        return 0
    for report in result.views:
        print(
            f"{report.view}: rebuilt from the store up to position {report.position} "
            f"({plural(report.rows, 'row')}; {plural(report.events_after_rebuild, 'event')} "
            f"stored meanwhile applied; {plural(report.dead_letters_cleared, 'dead letter')} "
            f"settled) in {report.seconds:.1f} s"
        )
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import verify

    shown = wanted(args.progress)
    bars: dict[str, Progress] = {}

    def progress(view: str, done: int, total: int) -> None:
        bars.setdefault(view, Progress(f"rebuild {view}", shown))(done, total)

    names = [args.view] if args.view else list(VIEW_NAMES)
    result = verify(settings, names, args.wait, args.show, args.workers, progress)
    if args.json:
        print(result.json_line())
    else:
        _print_verdicts(result)
    return 0 if result.equal else EXIT_REFUSED


def verdict_line(view: ViewVerdict) -> str:
    """Equal, or DIFFERENT; a difference while the view's consumer lags says so, since the lag
    alone makes the live view differ from the store."""
    verdict = "equal" if view.equal else "DIFFERENT"
    if not view.equal and view.consumer_lag:
        verdict += (
            f" (its consumer is {plural(view.consumer_lag, 'message')} behind Kafka: "
            "try again once it has caught up)"
        )
    return f"{view.view}: {verdict} to its rebuild at store position {view.position}"


def _print_verdicts(result: VerifyResult) -> None:
    for view in result.views:
        print(verdict_line(view))
        for note in view.notes:
            print(f"  note: {note}")
        for table in view.tables:
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
                print(f"    ... and {plural(hidden, 'more difference')}")


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
    from application.views import list_dead_letters

    result = list_dead_letters(settings, args.view)
    if args.json:
        print(result.json_line())
    else:
        _print_parked(result)
    return 0


def _print_parked(result: DeadLettersResult) -> None:
    if not result.messages:
        print("no parked messages")
        return
    print_table(
        ("view", "key", "where", "cause", "parked", "reason"),
        (
            (
                m.view,
                m.key,
                f"{m.topic}/{m.partition}/{m.offset}",
                "failed" if m.failed else "behind",
                _since(m.parked_at),
                m.reason,
            )
            for m in result.messages
        ),
        what=("parked message", "parked messages"),
    )


def _dead_letters_retry(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import retry_dead_letters

    result = retry_dead_letters(settings, args.view, args.key)
    if args.json:
        print(result.json_line())
    else:
        _print_retried(result)
    return EXIT_REFUSED if result.still_parked else 0


def _print_retried(result: DeadLettersRetryResult) -> None:
    if not result.keys:
        print("no parked messages to retry")
        return
    print_table(
        ("view", "key", "applied", "still parked", "reason"),
        ((k.view, k.key, k.applied, k.still_parked, k.reason) for k in result.keys),
        what=("key", "keys"),
        right=("applied", "still parked"),
    )
    if result.still_parked:
        print(f"{plural(result.still_parked, 'message')} still parked")


def _dead_letters_discard(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import discard_dead_letters

    result = discard_dead_letters(settings, args.view, args.key, args.partition, args.offset)
    if args.json:
        print(result.json_line())
    else:
        print(
            f"{plural(result.discarded, 'parked message')} discarded (still on the "
            "dead-letter topic)"
        )
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


def _settlement_check(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import check_settlement

    result = check_settlement(settings, args.card_number, args.timeout)
    if args.json:
        print(result.json_line())
    else:
        print(
            _settlement_line(result.card)
            + f" ({plural(result.cards_bootstrapped, 'card')} bootstrapped in "
            f"{result.seconds:.1f} s)"
        )
    return 0


def _settlement_line(card: CardSettlementStatus) -> str:
    verdict = "BLOCKED" if card.blocked else "accepted"
    if card.card_status == "suspect":  # since: when it was seen; reason: what broke the contract
        return f"{card.card_number}: {verdict} (suspect: {card.reason})"
    return (
        f"{card.card_number}: {verdict} ({card.card_status}, {card.reason}, "
        f"since {_since(card.since)})"
    )


def _notice_line(notice: SettlementNotice) -> str:
    match notice.event:
        case "caught_up":
            return (
                f"caught up: {plural(notice.cards or 0, 'card')}, {notice.blocked or 0:,} "
                "blocked; following"
            )
        case "stale":
            return f"STALE: {notice.reason}"
        case "fresh":
            return "fresh again; following"
    assert notice.card is not None
    return _settlement_line(notice.card)


def _settlement_follow(args: argparse.Namespace, settings: Settings) -> int:
    from application.views import follow_settlement

    def tell(notice: SettlementNotice) -> None:
        print(notice.json_line() if args.json else _notice_line(notice), flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends
        follow_settlement(settings, args.seconds, tell)
    return 0


# ---- consumers --------------------------------------------------------------------------------


def _consumers_run(args: argparse.Namespace, settings: Settings) -> int:
    from service.entry import run_consumers

    run_consumers(settings, args.view or ())
