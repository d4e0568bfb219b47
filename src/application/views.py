"""The read models' queries and operations that every entry point calls: an outlet's queue, the
analytics export, replay and verify, the dead letters, a card's settlement status.

Each takes typed inputs and returns a ``view_results`` model; none prints or parses argv. This
module loads the database and Kafka clients: entry points import it when a command runs, not
while they parse.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from application.paging import PageRequest, page_of
from application.results import local_instant
from application.view_results import (
    AnalyticsExportResult,
    AnalyticsTable,
    CardSettlementStatus,
    DeadLettersDiscardResult,
    DeadLettersResult,
    DeadLettersRetryResult,
    ExportFormat,
    OutletQueueQuery,
    OutletQueueResult,
    ParkedMessage,
    QueueEntry,
    ReplayedView,
    ReplayResult,
    RetriedKey,
    SettlementCheckResult,
    SettlementNotice,
    TableVerdict,
    VerifyResult,
    ViewVerdict,
)
from consumers import dead_letters
from consumers.settlement_client import (
    UNKNOWN,
    CardSettlement,
    CardStatus,
    Contract,
    SettlementSubscriber,
    SubscriberStale,
)
from consumers.view_consumer import retry
from domain.errors import ConfigurationError, InvalidInput, NotFound
from domain.working_days import working_days_between
from projections.catalogue import VIEW_NAMES
from projections.outlet_queue import OutletQueue, queue_counts, queue_page
from projections.public_fields import parse_instant, stored_instant
from relay.contracts import settlement_schema
from service import exports

# Replay and verify (and the read models by name): one import, so that moving them to another
# room changes this line only.
from service import views as audit
from service.bootstrap import BackOffice, open_back_office, outlet_registry
from service.kafka_wiring import topics
from service.settings import Settings

Progress = Callable[[int, int], None]  # (done, total)
ViewProgress = Callable[[str, int, int], None]  # (views, done, total)


def _no_progress(done: int, total: int) -> None:
    del done, total


# ---- the outlet's queue -----------------------------------------------------------------------


def outlet_queue(
    settings: Settings, query: OutletQueueQuery, now: datetime | None = None
) -> OutletQueueResult:
    """Counts per status at the outlet on its region's date, then one page of one status, oldest
    first; an entry still awaiting production past its due date counts its working days late."""
    outlet_registry(settings).outlet(query.outlet)  # an unknown outlet is bad input
    with open_back_office(settings) as backoffice:
        return outlet_queue_in(backoffice, query, now)


def outlet_queue_in(
    backoffice: BackOffice, query: OutletQueueQuery, now: datetime | None = None
) -> OutletQueueResult:
    """``outlet_queue`` through a back office already open (the HTTP API keeps one open)."""
    office = backoffice.office
    known = office.outlets.outlet(query.outlet)  # an unknown outlet is bad input
    zone = office.policies.policy_for(known.region_code).zone
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    calendar = office.calendar
    backoffice.views.create(OutletQueue.tables)
    with backoffice.views.reading() as tx:
        counts = queue_counts(tx, query.outlet, today)
        found = queue_page(tx, query.outlet, query.queue_status, today, query.page, query.page_size)
    entries = []
    for entry in found:
        due = date.fromisoformat(entry.production_due_on) if entry.production_due_on else None
        late = 0
        if due is not None and entry.status == "applied":
            late = max(working_days_between(calendar, due, today), 0)
        entries.append(
            QueueEntry(
                certificate=entry.certificate_number,
                card_number=entry.card_number,
                masked_name=entry.masked_name,
                kind=entry.kind,
                queue_status=entry.status,
                since=local_instant(stored_instant(entry.since), zone),
                production_due_on=due,
                overdue_working_days=late,
            )
        )
    return OutletQueueResult(
        outlet=query.outlet,
        today=today,
        counts=counts,
        queue_status=query.queue_status,
        page=query.page,
        page_size=query.page_size,
        entries=entries,
    )


# ---- analytics --------------------------------------------------------------------------------


def export_analytics(
    settings: Settings,
    table: AnalyticsTable,
    fmt: ExportFormat,
    output: Path | None,
    progress: Progress = _no_progress,
) -> AnalyticsExportResult:
    """The lifecycle figures as CSV (to ``output``, or stdout without it) or Parquet."""
    if fmt == "parquet" and output is None:
        raise InvalidInput("--format parquet needs --output FILE")
    if output is not None and output.is_dir():
        raise InvalidInput(f"--output {output} is a directory")
    rows = exports.export(settings, table, fmt, output, progress)
    return AnalyticsExportResult(
        table=table, format=fmt, output=None if output is None else str(output), rows=rows
    )


def analytics_csv(settings: Settings, table: AnalyticsTable) -> Iterator[str]:
    """The lifecycle figures as CSV text, a header line then a line per row, as the command
    line writes them. The view is opened and its first row read now: a store that does not
    answer fails the call, not a response already under way."""
    columns, rows = exports.table_rows(settings, table)
    first = next(rows, None)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)

    def line(row: dict[str, object] | None) -> str:
        if row is None:
            writer.writeheader()
        else:
            writer.writerow({k: exports.csv_cell(v) for k, v in row.items()})
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def lines() -> Iterator[str]:
        yield line(None)
        if first is None:
            return
        yield line(first)
        try:
            for row in rows:
                yield line(row)
        finally:
            rows.close()

    return lines()


# ---- replay and verify ------------------------------------------------------------------------


def _views(names: Sequence[str]) -> list[str]:
    """The views named, each once (a view named twice would be rebuilt and swapped twice in one
    pass, the second swap finding its position moved), or all."""
    return list(dict.fromkeys(names)) or list(VIEW_NAMES)


def replay(
    settings: Settings, names: Sequence[str], workers: int, progress: Progress = _no_progress
) -> ReplayResult:
    """Rebuild the views (default all) from the store in one pass and swap them in."""
    reports = audit.replay_views(settings, _views(names), progress, workers=workers)
    return ReplayResult(
        views=[
            ReplayedView(
                view=r.view,
                position=r.position,
                rows=r.rows,
                events_after_rebuild=r.events_after_rebuild,
                dead_letters_cleared=r.dead_letters_cleared,
                seconds=round(r.seconds, 3),
            )
            for r in reports
        ]
    )


def verify(
    settings: Settings,
    names: Sequence[str],
    wait: float,
    show: int,
    workers: int,
    progress: ViewProgress | None = None,
) -> VerifyResult:
    """Wait for the relay and the consumers, rebuild the views (default all) and compare each
    with the live one; a view whose consumer still lags says by how much."""
    reports = audit.verify(
        settings, _views(names), wait=wait, show=show, progress=progress, workers=workers
    )
    verdicts = [
        ViewVerdict(
            view=r.view,
            equal=r.equal,
            position=r.position,
            consumer_lag=r.consumer_lag,
            notes=list(r.notes),
            tables=[
                TableVerdict(
                    table=t.table,
                    equal=t.equal,
                    live_rows=t.live_rows,
                    live_digest=t.live_digest,
                    rebuilt_rows=t.rebuilt_rows,
                    rebuilt_digest=t.rebuilt_digest,
                    differences=list(t.differences),
                    difference_count=t.difference_count,
                )
                for t in r.tables
            ],
        )
        for r in reports
    ]
    return VerifyResult(equal=all(v.equal for v in verdicts), views=verdicts)


# ---- dead letters -----------------------------------------------------------------------------


def list_dead_letters(settings: Settings, view: str | None) -> DeadLettersResult:
    """Parked messages, per key in the order of retry (``view``: one read model's)."""
    with open_back_office(settings) as backoffice:
        return list_dead_letters_in(backoffice, view)


def list_dead_letters_in(
    backoffice: BackOffice, view: str | None, paging: PageRequest | None = None
) -> DeadLettersResult:
    """``list_dead_letters`` through a back office already open (the HTTP API keeps one)."""
    backoffice.views.create((dead_letters.dead_letters_table,))
    items, paged = page_of(dead_letters.listed(backoffice.views, view), paging)
    messages = [
        ParkedMessage(
            view=item.consumer,
            key=item.key_text,
            topic=item.topic,
            partition=item.partition,
            offset=item.offset,
            failed=item.failed,
            reason=item.reason,
            parked_at=local_instant(stored_instant(item.parked_at)),
        )
        for item in items
    ]
    return DeadLettersResult(count=len(messages), messages=messages, **paged.model_dump())


def retry_dead_letters(
    settings: Settings, view: str | None, key: str | None
) -> DeadLettersRetryResult:
    """Apply parked messages again, per key in order; the first that fails stays parked with
    every later one of its key behind it."""
    keys: list[RetriedKey] = []
    with open_back_office(settings) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        for name in [view] if view else VIEW_NAMES:
            model = audit.model_named(settings, name)
            for outcome in retry(backoffice.views, model, key.encode() if key else None):
                keys.append(
                    RetriedKey(
                        view=name,
                        key=outcome.key,
                        applied=outcome.applied,
                        still_parked=outcome.still_parked,
                        reason=outcome.reason,
                    )
                )
    return DeadLettersRetryResult(
        applied=sum(k.applied for k in keys),
        still_parked=sum(k.still_parked for k in keys),
        keys=keys,
    )


def discard_dead_letters(
    settings: Settings,
    view: str,
    key: str | None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLettersDiscardResult:
    """Drop parked messages for good: one (partition and offset), or every one of a key. They
    stay on the dead-letter topic."""
    one = partition is not None or offset is not None
    if one and (partition is None or offset is None):
        raise InvalidInput("--partition and --offset go together")
    if not one and key is None:
        raise InvalidInput("say what to discard: --key, or --partition and --offset")
    with open_back_office(settings) as backoffice:
        backoffice.views.create((dead_letters.dead_letters_table,))
        raw = key.encode() if key else None
        count = dead_letters.discard(backoffice.views, view, raw, partition, offset)
    if not count:
        raise NotFound("no such parked message")
    return DeadLettersDiscardResult(view=view, discarded=count)


# ---- the settlement subscriber ----------------------------------------------------------------


def _subscriber(
    settings: Settings, on_change: Callable[[CardSettlement], None] | None = None
) -> SettlementSubscriber:
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


def card_settlement(card: CardSettlement | CardStatus) -> CardSettlementStatus:
    """One card as the settlement topic has it; ``since`` in the region's time."""
    since = card.since or None
    return CardSettlementStatus(
        card_number=card.card_number,
        blocked=card.blocked,
        card_status=card.status,
        since=None if since is None else local_instant(parse_instant(since)),
        reason=card.reason or "",
    )


def check_settlement(settings: Settings, card_number: str, timeout: float) -> SettlementCheckResult:
    """Bootstrap from the settlement topic as a settlement system does, then answer for one
    card; a card the topic never named is not found."""
    subscriber = _subscriber(settings).start()
    try:
        started = time.monotonic()
        if not subscriber.wait_caught_up(timeout):
            raise TimeoutError(f"not caught up with the settlement topic in {timeout:g} s")
        took = time.monotonic() - started
        found = subscriber.status(card_number)
    finally:
        subscriber.stop()
    if found.status == UNKNOWN:
        raise NotFound(f"card {card_number} is not on the settlement topic")
    return SettlementCheckResult(
        card=card_settlement(found), cards_bootstrapped=len(subscriber), seconds=round(took, 3)
    )


def follow_settlement(
    settings: Settings, seconds: float | None, tell: Callable[[SettlementNotice], None]
) -> None:
    """Bootstrap, then tell each change, each loss and return of freshness, until ``seconds``
    have passed (None: until interrupted). Raises ``SubscriberStale`` if the subscriber stops."""
    caught = threading.Event()

    def changed(card: CardSettlement) -> None:
        if caught.is_set():
            tell(SettlementNotice(event="changed", card=card_settlement(card)))

    subscriber = _subscriber(settings, changed).start()
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        subscriber.wait_caught_up(seconds)
        caught.set()
        blocked = sum(1 for status, _, _ in subscriber.cards().values() if status != "active")
        tell(SettlementNotice(event="caught_up", cards=len(subscriber), blocked=blocked))
        said: str | None = None
        while deadline is None or time.monotonic() < deadline:
            refusal = subscriber.refusal()
            if refusal != said:  # stale and fresh again, each said once
                event = "stale" if refusal else "fresh"
                tell(SettlementNotice(event=event, reason=refusal))
                said = refusal
            if not subscriber.running:
                raise SubscriberStale(refusal or "stopped", subscriber.age_seconds())
            time.sleep(0.2)
    finally:
        subscriber.stop()
