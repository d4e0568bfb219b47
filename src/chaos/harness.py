"""One chaos run, start to verdict: a back office of the run's own (store, topics, broker, `sscard
run`), the workload and the nemesis together for the run's minutes, the settling, the evidence,
the invariants, and the last line ``faults=<n> commands=<m> violations=<v>``."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from application.results import plural
from chaos.evidence import check_chain, read_store, read_topics, scan_logs, verify_views
from chaos.fresh_topics import FreshTopics
from chaos.http_side import HttpSide
from chaos.invariants import Evidence, Verdict, check_all
from chaos.journal import Journal
from chaos.nemesis import Nemesis
from chaos.process_faults import ProcessFaults
from chaos.processes import PrivateBroker, RunProcess
from chaos.schedule import Fault, by_kind, draw_schedule
from chaos.standby import STANDBY_CONNECTIONS
from chaos.subscriber_watch import SubscriberWatch, summary
from chaos.workload import Workload
from devinfra.pg_cluster import PrivateCluster
from relay.publisher import RELAY
from relay.topics import Topics
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import ensure_topics
from service.settings import Settings

Say = Callable[[str], None]
Store = Literal["sqlite", "postgres"]

_PROGRESS_EVERY = 10.0
_SETTLE_SECONDS = 240.0
_SHOWN_DIFFERENCES = 5


@dataclass(frozen=True)
class ChaosOptions:
    seed: int
    minutes: float
    store: Store = "sqlite"
    # Seconds between two commands of the workload (the machine is shared; 0: back to back).
    pace: float = 0.05
    keep: bool = False


@dataclass(frozen=True)
class ChaosOutcome:
    faults: list[Fault]
    commands: int
    verdicts: list[Verdict]
    workdir: Path

    @property
    def violations(self) -> int:
        return sum(len(v.violations) for v in self.verdicts)

    def last_line(self) -> str:
        return f"faults={len(self.faults)} commands={self.commands} violations={self.violations}"


def run_chaos(caller: Settings, options: ChaosOptions, say: Say = print) -> ChaosOutcome:
    schedule = draw_schedule(options.seed, options.minutes, postgres=options.store == "postgres")
    say(f"chaos: seed {options.seed}, {options.minutes:g} min on {options.store}")
    say(f"schedule ({len(schedule)} faults: {_kinds(by_kind(schedule))}):")
    for fault in schedule:
        say(f"  {fault.describe()}")
    workdir = Path(tempfile.mkdtemp(prefix=f"sscard-chaos-{options.seed}-"))
    outcome: ChaosOutcome | None = None
    try:
        with _own_database(options, say) as database:
            outcome = _run(caller, options, schedule, workdir, database, say)
        return outcome
    finally:
        if outcome is None:  # the harness itself failed: what it saw so far is kept
            say(f"chaos: the run's store, journal and logs are kept in {workdir}")
        elif outcome.violations == 0 and not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    caller: Settings,
    options: ChaosOptions,
    schedule: list[Fault],
    workdir: Path,
    database: PrivateCluster | None,
    say: Say,
) -> ChaosOutcome:
    broker = PrivateBroker(workdir / "kafka")
    say(f"chaos: starting a broker of the run's own on {broker.bootstrap_servers}")
    broker.start()
    url = database.url if database is not None else None
    settings = _run_settings(caller, options, workdir, broker.bootstrap_servers, url)
    ensure_topics(settings)
    journal = Journal(workdir / "journal.jsonl")
    run = RunProcess(settings, workdir / "run.log")
    workload = Workload(settings, journal, options.seed, options.pace)
    # chaos-procs: a second consumer, a poison message, a standby run (chaos.process_faults).
    processes = ProcessFaults(settings, workdir, run, options.seed, say)
    http = HttpSide(settings, journal, workdir, options.seed, options.pace)  # chaos-http
    # The settlement subscriber, watched the whole run, and the switch to new topic sets
    # (chaos.subscriber_watch, chaos.fresh_topics).
    fresh = _watched(settings, run, broker, workdir)
    fresh.on_switch.append(processes.use)
    try:
        with open_back_office(settings) as monitor:  # makes the store before anyone else
            run.start()
            _wait_for(lambda: "back office running" in run.log.read_text(), 120, "sscard run")
            http.start(say)  # chaos-http: the run's own `sscard serve` and their clients
            say("chaos: sscard run is up; the workload and the nemesis start")
            progress = _Progress(monitor, workload, say, extra=http.progress)
            nemesis = Nemesis(run, broker, database, serves=http.serves, fresh_topics=fresh.switch)
            nemesis.processes = processes  # chaos-procs
            nemesis.tick = lambda: progress.tick(len(nemesis.applied))
            started = time.monotonic()
            workload.start()
            nemesis.apply(schedule, started, started + options.minutes * 60)
            workload.stop.set()
            workload.join(timeout=180)
            http.stop()  # chaos-http
            say(f"chaos: {len(nemesis.applied)} faults applied; settling")
            nemesis.restore()
            settled = _settle(monitor, run, say)
        evidence = _gather(fresh.current, broker, run, processes, http, fresh, say)
    finally:
        workload.stop.set()
        fresh.watch.stop()
        processes.stop_all()  # chaos-procs
        http.kill()  # chaos-http: its clients stopped, its servers killed if still running
        if run.alive():
            run.kill()
        broker.stop()
    _what_the_harness_saw(evidence, journal, workload, run, settled, http)
    _subscriber_seen(fresh, nemesis, evidence, say)
    if run.stopped_starting:
        say(
            f"sscard run stopped by SIGTERM before it was up (its default action): "
            f"{run.stopped_starting}"
        )
    outcome = ChaosOutcome(
        nemesis.applied,
        workload.acknowledged + http.acknowledged,  # chaos-http: the HTTP commands too
        check_all(evidence),
        workdir,
    )
    _report(outcome, options, schedule, workload, say, http)
    return outcome


def _gather(
    settings: Settings,
    broker: PrivateBroker,
    run: RunProcess,
    processes: ProcessFaults,
    http: HttpSide,
    fresh: FreshTopics,
    say: Say,
) -> Evidence:
    """Once the system settled: the views against their rebuilds, the status and dead letters,
    the chain, the operator's stop, the store, the topics and the subscriber's last word.
    ``settings`` are the topic set the run is on now (after any fresh start)."""
    evidence = Evidence()
    say("chaos: verifying every view against its rebuild")
    verify_views(settings, evidence, wait=_SETTLE_SECONDS)
    processes.settled(evidence)  # chaos-procs: status, dead letters, the other processes
    # Opened anew: the monitor's connections may be ones a database restart ended.
    with open_back_office(settings) as backoffice:
        check_chain(backoffice, evidence)
        run.note_if_dead()
        run.terminate()  # an operator's stop at the end: it must exit 0 too
        http.finish()  # chaos-http: the servers too
        read_store(backoffice, Topics(settings.topic_prefix), evidence)
    read_topics(broker.bootstrap_servers, Topics(settings.topic_prefix), evidence, _SETTLE_SECONDS)
    fresh.last_words(evidence, broker.bootstrap_servers, _SETTLE_SECONDS)
    return evidence


def _what_the_harness_saw(
    evidence: Evidence,
    journal: Journal,
    workload: Workload,
    run: RunProcess,
    settled: bool,
    http: HttpSide,
) -> None:
    """The journal, the clients' findings, the process's own and its log's."""
    evidence.acknowledged = journal.entries()
    evidence.client_findings = list(workload.findings)
    if workload.error is not None:
        evidence.client_findings.append(f"the workload stopped: {workload.error!r}")
    evidence.retries_checked = workload.resent
    evidence.processes_checked += run.starts  # chaos-procs: += (the other processes too)
    evidence.process_findings += run.findings
    if not settled:
        evidence.process_findings.append("the relay did not catch up with the store in time")
    scan_logs([run.log], evidence)
    http.contribute(evidence)  # chaos-http: the HTTP clients' and servers' findings and logs


# ---- the settlement subscriber and fresh topics (chaos.subscriber_watch, chaos.fresh_topics) ---


def _watched(
    settings: Settings, run: RunProcess, broker: PrivateBroker, workdir: Path
) -> FreshTopics:
    watch = SubscriberWatch(
        broker.bootstrap_servers, Topics(settings.topic_prefix).settlement, workdir / "subscriber"
    )
    return FreshTopics(settings, run, watch)


def _subscriber_seen(fresh: FreshTopics, nemesis: Nemesis, evidence: Evidence, say: Say) -> None:
    seen = fresh.watch.evidence
    seen.outages = list(nemesis.timeline.outages)
    evidence.freshness = seen
    say(summary(seen))
    if fresh.earlier:
        say(
            f"fresh topics: {plural(len(fresh.earlier), 'switch', 'switches')} "
            f"({' -> '.join(fresh.earlier)} -> "
            f"{fresh.current.topic_prefix}), the relay rewound from {fresh.rewound_from}"
        )


def _run_settings(
    caller: Settings, options: ChaosOptions, workdir: Path, bootstrap: str, url: str | None
) -> Settings:
    """A store, topics and broker of the run's own; the caller's keys and policies."""
    return Settings(
        env="production" if caller.env == "production" else "development",
        data_dir=workdir / "data",
        state_dir=workdir / "state",
        database_url=url,
        persistence_module=None,
        postgres_schema=None,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"chaos{options.seed % 10**8}",
        holder_id_key=caller.holder_id_key,
        master_key=caller.master_key,
        region_policies=caller.region_policies,
        lapse_check_seconds=2.0,
    )


@contextlib.contextmanager
def _own_database(options: ChaosOptions, say: Say) -> Iterator[PrivateCluster | None]:
    """On PostgreSQL, a cluster of the run's own (restarted and stopped by the nemesis),
    dropped after."""
    if options.store == "sqlite":
        yield None
        return
    # chaos-procs: a standby `sscard run` doubles the back office's connections.
    cluster = PrivateCluster(max_connections=STANDBY_CONNECTIONS)
    say(f"chaos: making a PostgreSQL cluster of the run's own on port {cluster.port}")
    try:
        cluster.create()
    except (OSError, subprocess.SubprocessError) as error:
        cluster.drop()
        raise RuntimeError(
            f"could not make a PostgreSQL cluster of the run's own (Debian's pg_createcluster, "
            f"as root): {error}"
        ) from error
    try:
        yield cluster
    finally:
        cluster.drop()


class _Progress:
    """A line on the terminal every few seconds: faults so far, commands acknowledged, lags."""

    def __init__(
        self,
        monitor: BackOffice,
        workload: Workload,
        say: Say,
        extra: Callable[[], str] = lambda: "",  # chaos-http: the HTTP clients' figures
    ) -> None:
        self.monitor, self.workload, self.say = monitor, workload, say
        self.started = time.monotonic()
        self.next = self.started + _PROGRESS_EVERY
        self.extra = extra

    def tick(self, faults: int) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + _PROGRESS_EVERY
        w = self.workload
        self.say(
            f"  t+{now - self.started:5.0f}s faults={faults} commands={w.acknowledged} "
            f"retried={w.retried} resent={w.resent} relay lag={_relay_lag(self.monitor)}"
            f"{self.extra()}"
        )


def _relay_lag(monitor: BackOffice) -> str:
    # The relay's position first, the head after: the relay publishes only what is stored, so
    # its position is at most the head at any moment, and the head never goes back; read the
    # other way round, a relay moving between the two reads gave a negative lag (-2, once).
    try:
        published = monitor.views.position(RELAY)
        return str(monitor.source.head() - published)
    except Exception:  # the store busy a moment: the next line will say
        return "?"


def _settle(monitor: BackOffice, run: RunProcess, say: Say) -> bool:
    """Wait (bounded) for the relay to publish everything the store holds."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    while time.monotonic() < deadline:
        run.note_if_dead()
        if _relay_lag(monitor) == "0":
            say("chaos: the relay caught up with the store")
            return True
        time.sleep(1.0)
    return False


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not come up within {seconds:.0f} s")
        time.sleep(0.5)


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"


def _report(
    outcome: ChaosOutcome,
    options: ChaosOptions,
    schedule: list[Fault],
    workload: Workload,
    say: Say,
    http: HttpSide,
) -> None:
    say(f"faults applied: {_kinds(by_kind(outcome.faults))}")
    http.report(say)  # chaos-http
    refused = ", ".join(f"{what} {n}" for what, n in sorted(workload.refused.items()))
    say(
        f"commands acknowledged: {outcome.commands} (retried through errors {workload.retried}, "
        f"sent again with the same request id {workload.resent}; refused: {refused or 'none'})"
    )
    for verdict in outcome.verdicts:
        mark = "ok  " if verdict.holds else "FAIL"
        say(
            f"{mark} {verdict.name}: {verdict.checked} checked, "
            f"{len(verdict.violations)} violations"
        )
        for difference in verdict.violations[:_SHOWN_DIFFERENCES]:
            say(f"       {difference}")
        if len(verdict.violations) > _SHOWN_DIFFERENCES:
            say(f"       ... and {len(verdict.violations) - _SHOWN_DIFFERENCES} more")
    if outcome.violations:
        say(f"VIOLATED with seed {options.seed} ({options.minutes:g} min); the schedule was:")
        for fault in schedule:
            say(f"  {fault.describe()}")
        say(
            f"replay: sscard chaos --seed {options.seed} --minutes {options.minutes:g} "
            f"--store {options.store}"
        )
    if outcome.violations or options.keep:
        say(f"the run's store, journal and logs are kept in {outcome.workdir}")
    say(outcome.last_line())
