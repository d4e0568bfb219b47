"""``sscard bench commands``: commands per second through the card office against a bare
``eventsourcing`` application doing the same load-decide-save, on SQLite and on PostgreSQL.

One run, nothing of the user's touched: SQLite files in a temporary folder, and on PostgreSQL two
scratch schemas of their own in the configured database, dropped at the end.

Workload, the same for both sides: ``holders`` streams are created first (not measured); then
``commands`` commands go round the holders, each one loading the stream, deciding, and saving one
event: a pre-report, then its cancellation, and so on. The card office does it through its one
write path (the holder's state rebuilt from pydantic events, the rules, outlets checked, the
repeat check, a UTC clock, the pydantic mapper and orjson). The bare application does the same
on a plain ``Aggregate`` with the library's own mapper and JSON transcoder, and its events carry
a payload equal to the office's event content, so both store events of the same size. Both use
the same aggregate cache settings.

The last line printed is ``commands_ratio_sqlite=<x> commands_ratio_postgres=<y>``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from domain.application import CardOffice
from domain.cardholder.commands import HolderCommand
from samples.stories import Identities, cancel, issue, pre_report
from service.bootstrap import office_env, open_back_office
from service.settings import Settings
from tracking.store import ensure_wal

Say = Callable[[str], None]
_BORN = date(1960, 1, 1)


class BareCard(Aggregate):
    """The baseline's aggregate: a flag and two events, each carrying the office's payload."""

    def __init__(self, payload: dict[str, Any]) -> None:  # noqa: ARG002 (recorded on the event)
        self.suspended = False

    @event("Suspended")
    def suspend(self, payload: dict[str, Any]) -> None:  # noqa: ARG002
        self.suspended = True

    @event("Resumed")
    def resume(self, payload: dict[str, Any]) -> None:  # noqa: ARG002
        self.suspended = False


class BareApplication(Application[UUID]):
    """Load, decide, save: nothing else."""

    def command(self, card_id: UUID, suspend: dict[str, Any], resume: dict[str, Any]) -> None:
        card: BareCard = self.repository.get(card_id)
        if card.suspended:
            card.resume(resume)
        else:
            card.suspend(suspend)
        self.save(card)


@dataclass(frozen=True)
class StoreResult:
    store: str
    commands: int
    office_seconds: float
    bare_seconds: float
    office_event_bytes: float
    bare_event_bytes: float
    profile: str = ""

    @property
    def office_rate(self) -> float:
        return self.commands / self.office_seconds

    @property
    def bare_rate(self) -> float:
        return self.commands / self.bare_seconds

    @property
    def ratio(self) -> float:
        return self.office_rate / self.bare_rate

    def lines(self) -> list[str]:
        return [
            f"{self.store}: card office {self.office_rate:,.0f} commands/s, bare eventsourcing "
            f"{self.bare_rate:,.0f} commands/s, ratio {self.ratio:.2f} "
            f"(stored event {self.office_event_bytes:.0f} B vs {self.bare_event_bytes:.0f} B)",
        ]


def _office_commands(office: CardOffice, holders: int, say: Say) -> list[list[HolderCommand]]:
    """Holders registered (setup), and per holder the two commands that alternate."""
    ids = Identities("110101", "Q", born=_BORN)
    out = []
    for _ in range(holders):
        rid = ids.resident_id()
        office.issue_card(issue(rid, ids.card_number()))
        out.append([pre_report(rid), cancel(rid)])
    say(f"  setup: {holders} holders registered in the card office")
    return out


def _bare_payloads(
    office: CardOffice, bare: BareApplication, plan: list[list[HolderCommand]]
) -> list[dict[str, Any]]:
    """Payloads for the bare events (suspend, resume) that make each stored bare event exactly
    as large as the office's stored pre-report and cancellation: the office's events are recorded
    on a holder of the bench's own, and the bare events padded to their size."""
    payloads = []
    probe = BareCard(payload={})
    for index, command in enumerate(plan[0]):
        outcome = office.execute(command)
        assert outcome.event is not None
        event = outcome.event
        [stored] = office.recorder.select_events(
            event.originator_id, gt=event.originator_version - 1, lte=event.originator_version
        )
        target = len(stored.state)
        (probe.suspend if index == 0 else probe.resume)({"content": ""})
        empty = len(bare.mapper.to_stored_event(probe.collect_events()[-1]).state)
        payloads.append({"content": "x" * max(target - empty, 0)})
    return payloads


def _stored_size(app: Application[UUID], after: int) -> float:
    records = app.recorder.select_notifications(start=after + 1, limit=1_000_000)
    return sum(len(r.state) for r in records) / max(len(records), 1)


class Sides:
    """Both sides, open at once; timed in alternating rounds so that a machine whose disk or
    CPU is shared drifts on both alike."""

    def __init__(self, office: CardOffice, bare: BareApplication, holders: int, say: Say) -> None:
        self.office = office
        self.bare = bare
        self.plan = _office_commands(office, holders + 1, say)
        self.payloads = _bare_payloads(office, bare, self.plan)
        self.plan = self.plan[1:]
        self.bare_ids = []
        for _ in range(holders):
            card = BareCard(payload=self.payloads[0])
            bare.save(card)
            self.bare_ids.append(card.id)
        self.office_done = 0
        self.bare_done = 0

    def office_round(self, commands: int) -> float:
        plan = self.plan
        started = time.perf_counter()
        for n in range(self.office_done, self.office_done + commands):
            self.office.execute(plan[n % len(plan)][(n // len(plan)) % 2])
        self.office_done += commands
        return time.perf_counter() - started

    def bare_round(self, commands: int) -> float:
        ids, (suspend, resume) = self.bare_ids, self.payloads
        started = time.perf_counter()
        for n in range(self.bare_done, self.bare_done + commands):
            self.bare.command(ids[n % len(ids)], suspend, resume)
        self.bare_done += commands
        return time.perf_counter() - started


def measure_store(
    store: str,
    office_settings: Settings,
    bare_env: dict[str, str],
    holders: int,
    commands: int,
    say: Say,
    profile: bool,
    rounds: int = 20,
) -> StoreResult:
    say(f"{store}: {commands:,} commands over {holders} holders, each side, in {rounds} rounds")
    with open_back_office(office_settings) as backoffice:
        bare = BareApplication(env=bare_env)
        try:
            sides = Sides(backoffice.office, bare, holders, say)
            office_start = backoffice.office.recorder.max_notification_id() or 0
            bare_start = bare.recorder.max_notification_id() or 0
            warm = 2 * holders  # every state cached on both sides before timing
            sides.office_round(warm)
            sides.bare_round(warm)
            profiler = cProfile.Profile() if profile else None
            office_seconds = bare_seconds = 0.0
            per_round = max(commands // rounds, 1)
            for _ in range(rounds):
                if profiler:
                    profiler.enable()
                office_seconds += sides.office_round(per_round)
                if profiler:
                    profiler.disable()
                bare_seconds += sides.bare_round(per_round)
            office_bytes = _stored_size(backoffice.office, office_start)
            bare_bytes = _stored_size(bare, bare_start)
        finally:
            bare.close()
    say(f"  card office {office_seconds:.2f} s, bare eventsourcing {bare_seconds:.2f} s")
    text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        text = out.getvalue()
    return StoreResult(
        store, per_round * rounds, office_seconds, bare_seconds, office_bytes, bare_bytes, text
    )


def _bare_env(office: dict[str, str]) -> dict[str, str]:
    """The office's persistence and cache settings, without its mapper and transcoder."""
    prefix = CardOffice.name.upper() + "_"
    plain = {k.removeprefix(prefix): v for k, v in office.items()}
    keep = (
        "PERSISTENCE_MODULE",
        "SQLITE_DBNAME",
        "SQLITE_LOCK_TIMEOUT",
        "POSTGRES_DBNAME",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_SCHEMA",
        "POSTGRES_CONNECT_TIMEOUT",
        "AGGREGATE_CACHE_MAXSIZE",
        "DEEPCOPY_FROM_AGGREGATE_CACHE",
    )
    return {k: v for k, v in plain.items() if k in keep}


@contextmanager
def scratch_schemas(settings: Settings, count: int) -> Iterator[list[str]]:
    """Schemas of the bench's own in the configured PostgreSQL database, dropped at the end."""
    dsn = settings.postgres().model_copy(update={"db_schema": None}).dsn()
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield names
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def run_commands_bench(
    settings: Settings,
    holders: int = 200,
    commands: int = 4_000,
    say: Say = print,
    profile: bool = False,
) -> list[StoreResult]:
    if not settings.uses_postgres:
        raise ValueError("needs PostgreSQL for its second half: set DATABASE_URL")
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-commands-"))
    try:
        sqlite_settings = settings.model_copy(
            update={
                "data_dir": workdir / "office",
                "database_url": None,
                "persistence_module": None,
            }
        )
        bare_file = workdir / "bare.sqlite"
        ensure_wal(bare_file)
        bare_env = _bare_env(office_env(sqlite_settings)) | {"SQLITE_DBNAME": str(bare_file)}
        results.append(
            measure_store("sqlite", sqlite_settings, bare_env, holders, commands, say, profile)
        )
        with scratch_schemas(settings, 2) as (office_schema, bare_schema):
            pg_settings = settings.model_copy(update={"postgres_schema": office_schema})
            bare_env = _bare_env(office_env(pg_settings)) | {"POSTGRES_SCHEMA": bare_schema}
            results.append(
                measure_store("postgres", pg_settings, bare_env, holders, commands, say, profile)
            )
        say("postgres: scratch schemas dropped")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for result in results:
        for line in result.lines():
            say(line)
        if result.profile:
            say(f"{result.store}: where the card office spends its time (top 15, own time)")
            say(result.profile)
    say(
        f"commands_ratio_sqlite={results[0].ratio:.2f} "
        f"commands_ratio_postgres={results[1].ratio:.2f}"
    )
    return results
