"""``sscard bench replay`` and ``sscard bench lookup``: the read models against baselines
measured in the same run.

replay: N card events are written through the card office into a store of the bench's own (a
temporary SQLite store, or a scratch PostgreSQL schema). The baseline is a raw scan of the same
store: the very records a replay reads (the published event types, in batches of 500, through
the library's recorder), each decoded from JSON, nothing more. Then each read model is rebuilt
from position 0 into an empty view store of the same kind, the way ``sscard replay`` does:
envelope per event, apply, one transaction per batch with its position. ``ratio`` = replay
events/s / raw scan events/s, for the slowest read model (each is printed).

lookup: the settlement subscriber's ``is_blocked`` against a bare dict lookup on the same keys,
and the blocklist view's point query (SQLAlchemy, the view store's own connection) against a
bare sqlite3 query, each timed one lookup at a time.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from bench.kept_stores import StoreKind, bench_store, refuse_unless_kept, refuse_unless_new
from consumers.settlement_client import Contract, SettlementSubscriber
from projections.catalogue import VIEW_NAMES
from projections.settlement_blocklist import blocklist_table, card_status
from relay.contracts import settlement_schema
from relay.wire import PUBLISHED_EVENTS
from replay.comparisons import compare_tables
from replay.rebuilds import one_pass_in_a_process, rebuild_views, scratch_place
from replay.views import rebuild, scratch_store
from service.bootstrap import open_back_office
from service.replay_wiring import ReplayWiring, models
from service.settings import Settings
from tracking.envelopes import ReadModel, view_tables
from tracking.source import StoreEventSource
from tracking.store import ViewStore

Say = Callable[[str], None]


def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[max(math.ceil(p / 100 * len(sorted_values)), 1) - 1]


# ---- replay -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayFigures:
    events: int
    scan_seconds: float
    one_pass_seconds: float  # every view, one worker, in this process
    workers: int
    workers_seconds: float  # every view, ``workers`` processes
    per_view_seconds: dict[str, float]  # each view alone, the follower's way, one after another
    process_seconds: float  # every view, one worker, in a fresh process
    process_rss_mb: float  # that process's peak
    workers_rss_mb: tuple[float, ...]  # each worker process's peak in the split pass

    @property
    def peak_rss_mb(self) -> float:
        """The largest peak of any one process that rebuilt views (each its own ``VmHWM``)."""
        return max((self.process_rss_mb, *self.workers_rss_mb))

    @property
    def scan_rate(self) -> float:
        return self.events / self.scan_seconds

    def ratio(self, seconds: float) -> float:
        """Replay events/s over raw scan events/s."""
        return self.scan_seconds / seconds

    def machine_line(self) -> str:
        return (
            f"ratio={self.ratio(self.one_pass_seconds):.3f} "
            f"ratio_workers={self.ratio(self.workers_seconds):.3f} "
            f"peak_rss_mb={self.peak_rss_mb:.0f}"
        )


def raw_scan(source: StoreEventSource, batch: int = 500, up_to: int | None = None) -> int:
    """Every published record of the store (up to position ``up_to``), read and decoded from
    JSON: the least a replay must do. Returns the records read."""
    recorder = source._app.recorder  # the bench measures the bare recorder
    topics = [get_topic(t) for t in PUBLISHED_EVENTS]
    position, count = 0, 0
    while True:
        records = recorder.select_notifications(
            start=position, limit=batch, topics=topics, inclusive_of_start=False
        )
        if up_to is not None:
            records = [r for r in records if r.id <= up_to]
        if not records:
            return count
        for record in records:
            orjson.loads(record.state)
        count += len(records)
        position = records[-1].id


def run_replay_bench(
    settings: Settings,
    events: int = 20_000,
    store: StoreKind = "sqlite",
    workers: int = 2,
    say: Say = print,
    keep: Path | None = None,
    reuse: Path | None = None,
    per_view: bool = True,
) -> ReplayFigures:
    """``keep``: the populated store is left there; ``reuse``: the store kept there is replayed
    instead of one populated now (``bench.kept_stores``). ``per_view`` False: the old per-view
    rebuilds are skipped (their ten minutes at a million events)."""
    with bench_store(settings, store, events, say, keep=keep, reuse=reuse) as own:
        say(f"bench: store {own.where}")
        load = os.getloadavg()
        say(f"bench: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        with open_back_office(own.settings) as backoffice:
            figures = _measure_replay(own.settings, backoffice.source, workers, say, per_view)
    say("")
    say("== every read model replayed from the store vs a raw scan of it ==")
    say(
        f"raw scan: {figures.events:,} events in {figures.scan_seconds:.2f} s = "
        f"{figures.scan_rate:,.0f} events/s"
    )
    one_after_another = sum(figures.per_view_seconds.values())
    for label, seconds in (
        ("one pass, 1 worker", figures.one_pass_seconds),
        (f"one pass, {figures.workers} workers", figures.workers_seconds),
        ("one view after another", one_after_another),
        ("one pass, 1 fresh process", figures.process_seconds),
    ):
        if label == "one view after another" and not figures.per_view_seconds:
            say(f"{label:<26} skipped (--skip-per-view)")
            continue
        say(
            f"{label:<26} {seconds:7.2f} s = {figures.events / seconds:9,.0f} events/s, "
            f"ratio {figures.ratio(seconds):.3f}"
        )
    for view, seconds in figures.per_view_seconds.items():
        say(f"  {view:<24} {seconds:7.2f} s, ratio {figures.ratio(seconds):.3f}")
    workers_rss = ", ".join(f"{mb:.0f}" for mb in figures.workers_rss_mb)
    say(
        f"peak RSS (VmHWM, each process its own): the fresh process {figures.process_rss_mb:.0f} "
        f"MiB; the {figures.workers} workers {workers_rss} MiB"
    )
    say(figures.machine_line())
    return figures


def _measure_replay(
    bench: Settings, source: StoreEventSource, workers: int, say: Say, per_view: bool = True
) -> ReplayFigures:
    head = source.head()
    scans = []
    for _ in range(2):  # the better of two: a scan is short and the machine is shared
        started = time.perf_counter()
        records = raw_scan(source)
        scans.append(time.perf_counter() - started)
    say(f"raw scan: {records:,} published events, {min(scans):.2f} s")
    # One set of models, as ``sscard replay`` has: views built on the same zones share work.
    all_models = models(bench)
    every = [all_models[view] for view in VIEW_NAMES]
    wiring = ReplayWiring(bench)
    location = wiring.location
    with contextlib.ExitStack() as stack:
        peaks_kb: list[int] = []

        def one_pass(count: int) -> tuple[ViewStore, float]:
            place = stack.enter_context(scratch_place(location))
            store = place.open(location)
            stack.callback(store.close)
            started = time.perf_counter()
            rebuild_views(wiring, source, place, store, every, head, count, peaks_kb=peaks_kb)
            return store, time.perf_counter() - started

        single, one = one_pass(1)
        say(f"replay: every view in one pass, 1 worker, in {one:.2f} s")
        split, many = one_pass(workers)
        say(f"replay: every view in one pass, {workers} workers, in {many:.2f} s")
        same = _same_views(single, split, every, f"{workers} workers", say)
        seconds = {}
        for view, model in zip(VIEW_NAMES, every if per_view else (), strict=False):
            with scratch_store(location) as store:
                started = time.perf_counter()
                rebuild(source, store, model)
                seconds[view] = time.perf_counter() - started
                say(f"replay: {view} alone in {seconds[view]:.2f} s")
                same &= _same_views(single, store, [model], "alone", say)
    if not same:
        raise AssertionError("the rebuilds differ (above): the one pass is wrong")
    process_seconds, peak = one_pass_in_a_process(wiring, VIEW_NAMES, head)
    say(f"replay: every view in one pass, in a fresh process, {process_seconds:.2f} s")
    workers_rss = tuple(kb / 1024 for kb in peaks_kb)
    return ReplayFigures(
        records, min(scans), one, workers, many, seconds, process_seconds, peak, workers_rss
    )


@dataclass(frozen=True)
class MemoryFigures:
    """Peak memory of a rebuild of every view at two lengths of history."""

    events: tuple[int, int]
    seconds: tuple[float, float]  # the fresh process's one pass
    peak_rss_mb: tuple[float, float]  # the largest peak of any one process (VmHWM each)

    BOUND = 1.2  # the longer history's peak over the shorter's, at most

    @property
    def ratio(self) -> float:
        return self.peak_rss_mb[1] / self.peak_rss_mb[0]

    @property
    def flat(self) -> bool:
        return self.ratio <= self.BOUND

    def machine_line(self) -> str:
        return (
            f"peak_rss_mb_small={self.peak_rss_mb[0]:.0f} "
            f"peak_rss_mb_large={self.peak_rss_mb[1]:.0f} memory_ratio={self.ratio:.3f}"
        )


def run_replay_memory_bench(
    settings: Settings,
    events: int = 100_000,
    times: int = 10,
    store: StoreKind = "sqlite",
    workers: int = 1,
    say: Say = print,
    keep: Path | None = None,
    reuse: Path | None = None,
) -> MemoryFigures:
    """Every view rebuilt from a store of ``events`` events and from one of ``events * times``,
    each in fresh processes (one, and ``workers`` if more than one) whose peak memory each
    measures of itself (``VmHWM``: since its own start, not its parent's). ``keep``: the two
    stores are left in ``keep``/<events>; ``reuse``: the two kept there are replayed."""
    sizes = (events, events * times)
    if keep is not None:
        refuse_unless_new(keep)
    if reuse is not None:
        for size in sizes:  # both refused before either is replayed
            refuse_unless_kept(reuse / str(size), store, size, settings)
    seconds: list[float] = []
    peaks: list[float] = []
    for size in sizes:
        kept = keep / str(size) if keep is not None else None
        reused = reuse / str(size) if reuse is not None else None
        with bench_store(settings, store, size, say, keep=kept, reuse=reused) as own:
            with open_back_office(own.settings) as backoffice:
                head = backoffice.source.head()
            wiring = ReplayWiring(own.settings)
            took, peak = one_pass_in_a_process(wiring, VIEW_NAMES, head)
            say(
                f"replay: {size:,} events, every view, 1 process: {took:.1f} s, peak {peak:.0f} MiB"
            )
            largest = peak
            if workers > 1:
                split_kb = split_peaks_kb(wiring, head, workers)
                largest = max(largest, *(kb / 1024 for kb in split_kb))
                said = ", ".join(f"{kb / 1024:.0f}" for kb in split_kb)
                say(f"replay: {size:,} events, {workers} workers: peaks {said} MiB")
            seconds.append(took)
            peaks.append(largest)
    figures = MemoryFigures(sizes, (seconds[0], seconds[1]), (peaks[0], peaks[1]))
    verdict = "flat" if figures.flat else f"NOT flat (over {MemoryFigures.BOUND}x)"
    say(f"peak RSS {figures.ratio:.2f}x from {sizes[0]:,} to {sizes[1]:,} events: {verdict}")
    say(figures.machine_line())
    return figures


def split_peaks_kb(wiring: ReplayWiring, head: int, workers: int) -> list[int]:
    """Every view rebuilt by ``workers`` processes into a scratch store: each one's peak."""
    location = wiring.location
    every = list(wiring.read_models().values())
    peaks: list[int] = []
    with (
        open_back_office(wiring.settings) as backoffice,
        scratch_place(location) as place,
    ):
        target = place.open(location)
        try:
            rebuild_views(
                wiring, backoffice.source, place, target, every, head, workers, peaks_kb=peaks
            )
        finally:
            target.close()
    return peaks


def _same_views(
    one: ViewStore, other: ViewStore, models: Sequence[ReadModel], label: str, say: Say
) -> bool:
    """Every table of ``models`` equal, row for row, in both stores (as ``sscard verify``)."""
    with one.reading() as left, other.reading() as right:
        tables = [
            table
            for model in models
            for table in compare_tables(left, right, view_tables(model), model.name, 3)
        ]
    for table in tables:
        if not table.equal:
            say(f"  DIFFERENT ({label}): {table.table}: {'; '.join(table.differences)}")
    rows = sum(t.live_rows for t in tables)
    verdict = "equal" if all(t.equal for t in tables) else "DIFFERENT"
    say(f"check: one pass, 1 worker vs {label}: {verdict} ({rows:,} rows)")
    return all(t.equal for t in tables)


# ---- lookup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupFigures:
    cards: int
    lookups: int
    subscriber_ns: tuple[int, ...]
    dict_ns: tuple[int, ...]
    view_ns: tuple[int, ...]
    sqlite_ns: tuple[int, ...]

    @staticmethod
    def ms(values: Sequence[int], p: float) -> float:
        return percentile(values, p) / 1e6

    def machine_line(self) -> str:
        return (
            f"p99_ms={self.ms(self.subscriber_ns, 99):.4f} "
            f"view_p99_ms={self.ms(self.view_ns, 99):.4f} "
            f"subscriber_ratio={self.ms(self.dict_ns, 50) / self.ms(self.subscriber_ns, 50):.2f} "
            f"view_ratio={self.ms(self.sqlite_ns, 50) / self.ms(self.view_ns, 50):.2f}"
        )


def _settlement_message(card: str, status: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "message_version": 1,
            "card_number": card,
            "status": status,
            "since": "2026-11-26T01:02:03.000000Z",
            "reason": "loss_pre_reported" if status != "active" else "card_issued",
            "event_id": str(uuid.UUID(int=n)),
            "position": n + 1,
        }
    )


def card_numbers(count: int, prefix: str = "L") -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(count)]


def _timed(lookup: Callable[[str], Any], keys: Sequence[str]) -> tuple[int, ...]:
    clock = time.perf_counter_ns
    spent = []
    for key in keys:
        started = clock()
        lookup(key)
        spent.append(clock() - started)
    return tuple(sorted(spent))


def run_lookup_bench(
    cards: int = 100_000, lookups: int = 20_000, say: Say = print
) -> LookupFigures:
    rng = random.Random(20261126)
    numbers = card_numbers(cards)
    statuses = [rng.choice(("active", "active", "blocked", "cancelled")) for _ in numbers]
    keys = [rng.choice(numbers) for _ in range(lookups)]
    say(f"setup: {cards:,} cards in a subscriber's memory and in a blocklist view (SQLite)")
    subscriber = SettlementSubscriber("unused:9092", Contract(settlement_schema()), "unused")
    for n, (card, status) in enumerate(zip(numbers, statuses, strict=True)):
        subscriber._take(card.encode(), _settlement_message(card, status, n))
    # No broker here: the subscriber is made to look fresh (an alive thread, confirmed just
    # now), so is_blocked runs its freshness check in full and answers.
    subscriber._thread = threading.current_thread()
    subscriber._confirmed_at = time.monotonic()
    subscriber.stale_after = 1e9
    bare = {card: status != "active" for card, status in zip(numbers, statuses, strict=True)}
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-"))
    try:
        store = ViewStore.sqlite(workdir / "views.sqlite")
        store.create((blocklist_table,))
        with store.transaction() as tx:
            rows = [
                {"card_number": c, "stream_id": "s", "status": s, "since": "t", "reason": "r"}
                for c, s in zip(numbers, statuses, strict=True)
            ]
            tx.conn.execute(blocklist_table.insert(), rows)
        say(f"lookups: {lookups:,} random cards, each timed alone")
        subscriber_ns = _timed(subscriber.is_blocked, keys)
        dict_ns = _timed(bare.__getitem__, keys)
        with store.reading() as tx:
            view_ns = _timed(lambda card: card_status(tx, card), keys)
        raw = sqlite3.connect(str(workdir / "views.sqlite"))
        query = "SELECT status, since, reason FROM sscard_blocklist WHERE card_number = ?"
        sqlite_ns = _timed(lambda card: raw.execute(query, (card,)).fetchone(), keys)
        raw.close()
        store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = LookupFigures(cards, lookups, subscriber_ns, dict_ns, view_ns, sqlite_ns)
    say("")
    say("== blocklist lookups, in process ==")
    for name, values in (
        ("subscriber is_blocked", subscriber_ns),
        ("bare dict lookup", dict_ns),
        ("view point query", view_ns),
        ("bare sqlite3 query", sqlite_ns),
    ):
        say(
            f"{name:<22} p50 {LookupFigures.ms(values, 50):.4f} ms  "
            f"p99 {LookupFigures.ms(values, 99):.4f} ms  max {LookupFigures.ms(values, 100):.4f} ms"
        )
    say(figures.machine_line())
    return figures
