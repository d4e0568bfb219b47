"""Read models rebuilt from the store in one pass, split across worker processes.

One pass: each stored record of the views' feeds is read once, opened once (only the personal
fields its public form derives from, ``contract.public_form.PUBLIC_NEEDS``), made into its public
envelope once (``contract.envelope.public_envelope``, the function the relay publishes with) and
handed to every view being rebuilt; only the apply is per view. Each batch is one transaction of
the scratch store, with every view's position.

Workers (``workers`` > 1): each worker process reads the same records and keeps those of its
share of the streams (the stream id modulo the number of workers), into a scratch store of its
own. Every row of a view belongs to one stream (a holder, a claim) or to one card, which is one
holder's, so the shares' rows are disjoint and the parent puts them together inside the
database (``INSERT ... SELECT``), as the single writer of the result. The exception is a table
whose rows sum over many streams (``ReadModel.additive``: the claims per region and month): its
partial rows are added up column by column, and sums agree whatever the order. What a split by
stream cannot rebuild is a row that depends on the order of events across streams (a running
number over all holders, "the first claim of the month"): no view keeps one, and a view that
did would have to declare itself unsplittable.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import Table

from contract.envelope import FEED_EVENTS, Envelope
from domain.errors import ConfigurationError
from domain.event import DomainEvent
from replay.in_step import InStep
from replay.wiring import Wiring
from store.location import StoreLocation
from tracking.envelopes import ReadModel, view_tables
from tracking.row_writes import BackgroundWriter
from tracking.rows import Rows
from tracking.source import Record, StoreEventSource
from tracking.store import Tx, ViewStore

Progress = Callable[[int, int], None]  # (events applied so far, events to apply)

BATCH = 2_000
# Rows the views' caches hold before they are written and start a new generation (the old one
# kept for the rows later batches touch again, the one before dropped: ``tracking.rows``): the
# bound on a rebuild's memory, twice this at most, whatever the length of history.
HELD_ROWS = 100_000
# Data keys a rebuild keeps unwrapped: a batch's keys come in one query.
KEYS_HELD = 5_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector run less often while a pass allocates a few dicts per event
    and view (rows, envelopes) that hold no cycles: at the default threshold it ran every 700
    allocations and cost about a tenth of the pass. Reference counting still frees them."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def no_progress(done: int, total: int) -> None:
    del done, total


class RebuildFailed(RuntimeError):
    """A worker could not rebuild its share (the first line of its error)."""


# A worker's exit code for a configuration error (its line: the setting's name, then what is
# wrong): the parent raises a ``ConfigurationError`` again, so that a wrong setting met in a
# worker is bad configuration (exit 2) as it is in one process, not infrastructure (exit 3).
EXIT_CONFIGURATION = 2


# ---- scratch places ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a scratch view store lives: a SQLite file, or a schema of the live PostgreSQL."""

    sqlite: Path | None = None
    schema: str | None = None

    def open(self, location: StoreLocation) -> ViewStore:
        if self.sqlite is not None:
            return ViewStore.sqlite(self.sqlite, scratch=True)
        assert location.postgres is not None
        return location.postgres.view_store(self.schema)


@contextlib.contextmanager
def scratch_place(location: StoreLocation, near: Place | None = None) -> Iterator[Place]:
    """An empty place of the live store's kind, removed afterwards (beside ``near``'s)."""
    pg = location.postgres
    if pg is None:
        if near is not None and near.sqlite is not None:
            parent = near.sqlite.parent
        else:
            location.data_dir.mkdir(parents=True, exist_ok=True)
            parent = location.data_dir
        folder = Path(tempfile.mkdtemp(prefix="rebuild-", dir=parent))
        try:
            yield Place(sqlite=folder / "views.sqlite")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"{(pg.schema or 'public')[:40]}_rebuild_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Place(schema=schema)
    finally:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ---- one pass ---------------------------------------------------------------------------------


def feed_types(model: ReadModel) -> tuple[type[DomainEvent], ...]:
    return tuple(t for feed in model.feeds for t in FEED_EVENTS[feed])


def all_tables(models: Sequence[ReadModel]) -> tuple[Table, ...]:
    tables = [t for model in models for t in view_tables(model)]
    return tuple(dict.fromkeys(tables))


def prepare(store: ViewStore, models: Sequence[ReadModel]) -> None:
    """The views' tables in an empty scratch store, without their secondary indexes: made at
    the end (``ViewStore.create_indexes``), each in one sorted pass, rather than kept up row by
    row."""
    store.create(all_tables(models), indexes=False)
    for model in models:
        store.ensure_position(model.name)


class OnePass:
    """Feeds every view of ``models`` in ``store`` from the store's records, each read, opened
    and made into its envelope once; ``part`` of ``parts``: only the streams whose id falls to
    this share."""

    def __init__(
        self,
        source: StoreEventSource,
        store: ViewStore,
        models: Sequence[ReadModel],
        part: int = 0,
        parts: int = 1,
        batch_size: int = BATCH,
        held: int = HELD_ROWS,
    ) -> None:
        self._source = source
        self._store = store
        self._models = tuple(models)
        self._part, self._parts = part, parts
        self._batch_size = batch_size
        self._held = held
        every = {t for model in models for t in feed_types(model)}
        self._types = tuple(t for feed in FEED_EVENTS.values() for t in feed if t in every)
        # Made with the views' caches, in the first transaction.
        self._in_step: InStep | None = None
        self._rows: dict[str, Rows] = {}
        self._mapper: Any = source.mapper
        self._mapper.personal_data.hold_at_most(KEYS_HELD)

    def run(self, target: int, progress: Progress = no_progress) -> int:
        """From the views' common position up to ``target``; returns ``target``.

        The scratch store has no other writer and no reader until the rebuild ends, so rows
        are written when the caches are full (then kept as the old generation) and at the end,
        each with every view's position: a holder's row changed in many batches is written
        once per generation, not once per batch."""
        # PostgreSQL: a generation's rows are written while the pass goes on
        # (``tracking.row_writes``); SQLite has one writer at a time.
        writer = BackgroundWriter(self._store) if self._store.dialect == "postgres" else None
        try:
            with fewer_collections():
                return self._run(target, progress, writer)
        finally:
            if writer is not None:
                writer.close()

    def _run(self, target: int, progress: Progress, writer: BackgroundWriter | None) -> int:
        position = self._store.position(self._models[0].name)
        start = position
        progress(0, target - start)
        while position < target:
            recorded = position
            with self._store.transaction() as tx:
                rows = self._begin(tx)
                in_step = self._in_step
                if in_step is None:
                    names = [t.__name__ for t in self._types]
                    in_step = self._in_step = InStep(self._models, rows, names)
                while position < target and self._held_rows(rows, in_step) <= self._held:
                    end, envelopes = self._read(position, target)
                    in_step.prefetch(envelopes)
                    in_step.apply(envelopes)
                    position = end
                    progress(position - start, target - start)
                in_step.write_versions()
                if writer is not None and position < target:
                    writer.submit([w for view_rows in rows for w in view_rows.take_writes()])
                else:
                    if writer is not None:
                        writer.wait()  # every generation before this last one written
                    for view_rows in rows:
                        view_rows.flush()
                for model in self._models:
                    tx.move_position(model.name, recorded, position)
                if position >= target:
                    in_step.finish(tx)
            if position < target:  # the caches are full: memory stays flat
                for view_rows in rows:
                    view_rows.forget()
        return position

    @staticmethod
    def _held_rows(rows: list[Rows], in_step: InStep) -> int:
        return sum(r.held_rows() for r in rows) + in_step.held()

    def _begin(self, tx: Tx) -> list[Rows]:
        rows = []
        for model in self._models:
            view_rows = self._rows.get(model.name)
            if view_rows is None:
                view_rows = Rows(tx, complete=True, sole_writer=True, held=self._held)
                self._rows[model.name] = view_rows
            rows.append(view_rows.begin(tx))
        return rows

    def _read(self, after: int, target: int) -> tuple[int, list[Envelope]]:
        """The next batch's end and the envelopes of this share's records in it."""
        records = self._source.records(after, self._batch_size, self._types)
        if len(records) == self._batch_size and records[-1][0] < target:
            end = records[-1][0]
        else:  # a short batch: none of the wanted types after it up to the head (>= target)
            end = target
            records = [r for r in records if r[0] <= target]
        if self._parts > 1:
            records = [r for r in records if self._mine(r)]
        return end, self.envelopes(records)

    def _mine(self, record: Record) -> bool:
        return int(record[1].replace("-", ""), 16) % self._parts == self._part

    def envelopes(self, records: Sequence[Record]) -> list[Envelope]:
        return self._source.public_envelopes(records)


# ---- every core -------------------------------------------------------------------------------


def rebuild_views(
    wiring: Wiring,
    source: StoreEventSource,
    place: Place,
    store: ViewStore,
    models: Sequence[ReadModel],
    up_to: int | None = None,
    workers: int = 1,
    progress: Progress = no_progress,
    peaks_kb: list[int] | None = None,
) -> int:
    """Rebuild ``models`` into the empty scratch ``store`` (at ``place``) from the event store,
    up to ``up_to`` (default: the head), in one pass on ``workers`` processes. Returns the store
    position reached. ``peaks_kb``: given, each worker process's peak memory is added to it."""
    prepare(store, models)
    target = source.head() if up_to is None else up_to
    if workers <= 1:
        OnePass(source, store, models).run(target, progress)
    else:
        _split(wiring, place, store, models, target, workers, progress, peaks_kb)
    store.create_indexes(all_tables(models))
    return target


def _split(
    wiring: Wiring,
    place: Place,
    store: ViewStore,
    models: Sequence[ReadModel],
    target: int,
    workers: int,
    progress: Progress,
    peaks_kb: list[int] | None,
) -> None:
    """``rebuild_views`` on ``workers`` processes, each into a place of its own, put together
    into ``store``."""
    names = [model.name for model in models]
    with contextlib.ExitStack() as stack:
        places = [
            stack.enter_context(scratch_place(wiring.location, near=place)) for _ in range(workers)
        ]
        peaks = _run_workers(wiring, names, places, target, progress)
        if peaks_kb is not None:
            peaks_kb.extend(peaks)
        _merge(wiring.location, place, places, models)
    with store.transaction() as tx:
        for name in names:
            tx.move_position(name, 0, target)


def _run_workers(
    wiring: Wiring, names: list[str], places: list[Place], target: int, progress: Progress
) -> list[int]:
    """One process per share (a fresh interpreter: nothing of ours, no connection, is inherited,
    and whatever the main program is, it is not imported again). Returns each one's peak
    memory (KiB)."""
    reached = [0] * len(places)
    peaks = [0] * len(places)
    workers = []
    for part, place in enumerate(places):
        worker = subprocess.Popen(
            [sys.executable, "-m", "replay.rebuild_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert worker.stdin is not None
        share = WorkerShare(wiring, names, place, part, len(places), target)
        worker.stdin.write(pickle.dumps(share))
        worker.stdin.close()
        workers.append(worker)
    readers = [
        threading.Thread(target=_follow, args=(worker, reached, peaks, part), daemon=True)
        for part, worker in enumerate(workers)
    ]
    for reader in readers:
        reader.start()
    try:
        while any(worker.poll() is None for worker in workers):
            time.sleep(0.1)
            progress(min(reached), target)
            if any(worker.poll() not in (None, 0) for worker in workers):
                break
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
    for reader in readers:
        reader.join()
    # The worker that failed speaks first: the others it stopped were killed (exit -9).
    for part, worker in sorted(enumerate(workers), key=lambda pw: pw[1].returncode < 0):
        if worker.returncode != 0:
            assert worker.stderr is not None
            lines = worker.stderr.read().decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"exit {worker.returncode}"
            if worker.returncode == EXIT_CONFIGURATION and lines:
                variable, _, problem = why.partition(" ")
                raise ConfigurationError(
                    variable, f"{problem} (rebuild worker {part} of {len(workers)})"
                )
            raise RebuildFailed(f"rebuild worker {part} of {len(workers)}: {why}")
    progress(target, target)
    return peaks


def _follow(
    worker: subprocess.Popen[bytes], reached: list[int], peaks: list[int], part: int
) -> None:
    """The worker's lines: the position it reached, and at the end its peak memory."""
    assert worker.stdout is not None
    for line in worker.stdout:
        if line.startswith(b"peak_rss_kb "):
            peaks[part] = int(line.split()[1])
        with contextlib.suppress(ValueError):
            reached[part] = int(line)


def one_pass_in_a_process(wiring: Wiring, names: Sequence[str], up_to: int) -> tuple[float, float]:
    """Every view of ``names`` rebuilt in one pass by one fresh process, into a scratch store
    of its own (the bench's memory check): (seconds, the process's peak RSS in MiB)."""
    with scratch_place(wiring.location) as place:
        started = time.perf_counter()
        peaks = _run_workers(wiring, list(names), [place], up_to, no_progress)
        return time.perf_counter() - started, peaks[0] / 1024


@dataclass(frozen=True)
class WorkerShare:
    """What one worker process is asked to rebuild (sent pickled on its stdin)."""

    wiring: Wiring
    names: list[str]
    place: Place
    part: int
    parts: int
    target: int

    def run(self, report: Progress) -> None:
        all_models = self.wiring.read_models()
        models = [all_models[name] for name in self.names]
        with contextlib.closing(self.wiring.open_store()) as opened:
            store = self.place.open(self.wiring.location)
            try:
                prepare(store, models)
                one_pass = OnePass(opened.source, store, models, self.part, self.parts)
                one_pass.run(self.target, report)
                if self.parts == 1:  # the whole rebuild (the bench's fresh process), not a share
                    store.create_indexes(all_tables(models))
            finally:
                store.close()


def _merge(
    location: StoreLocation, place: Place, places: list[Place], models: Sequence[ReadModel]
) -> None:
    """The workers' rows into ``place``, inside the database: disjoint tables inserted (a key
    found twice fails the rebuild: the split by stream was wrong), additive ones summed."""
    additive = {t for model in models for t in model.additive}
    tables = list(all_tables(models))
    if place.sqlite is not None:
        _merge_sqlite(
            place.sqlite, [p.sqlite for p in places if p.sqlite is not None], tables, additive
        )
    else:
        assert place.schema is not None
        assert location.postgres is not None
        _merge_postgres(
            location.postgres.dsn(),
            place.schema,
            [p.schema or "" for p in places],
            tables,
            additive,
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _merge_statement(table: Table, target: str, source: str, additive: bool) -> str:
    """INSERT the source's rows into the target's table; an additive table's rows add up."""
    names = [c.name for c in table.columns]
    columns = ", ".join(_quote(n) for n in names)
    text = (
        f"INSERT INTO {target}.{_quote(table.name)} AS cur ({columns}) "
        f"SELECT {columns} FROM {source}.{_quote(table.name)} WHERE true"
    )
    if additive:
        key = [c.name for c in table.primary_key.columns]
        sums = ", ".join(
            f"{_quote(n)} = cur.{_quote(n)} + excluded.{_quote(n)}" for n in names if n not in key
        )
        text += f" ON CONFLICT ({', '.join(_quote(k) for k in key)}) DO UPDATE SET {sums}"
    return text


def _merge_sqlite(
    target: Path, sources: list[Path], tables: list[Table], additive: set[Table]
) -> None:
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        for index, path in enumerate(sources):
            conn.execute(f"ATTACH DATABASE ? AS w{index}", (str(path),))
        conn.execute("BEGIN IMMEDIATE")
        for table in tables:
            for index in range(len(sources)):
                conn.execute(_merge_statement(table, "main", f"w{index}", table in additive))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _merge_postgres(
    dsn: str, target: str, sources: list[str], tables: list[Table], additive: set[Table]
) -> None:
    with psycopg.connect(dsn) as conn:
        for table in tables:
            for schema in sources:
                statement = _merge_statement(
                    table, _quote(target), _quote(schema), table in additive
                )
                conn.execute(cast(Any, statement))
        conn.commit()
