"""``sscard bench http``: pre-reports and outlet queue reads over HTTP, from a client process of
its own on loopback, against real ``sscard serve`` processes (1 or 2), beside the same calls in
process through the application layer (the baseline), in one run.

Nothing of the user's is touched: each store is a temporary SQLite folder or a scratch schema of
its own in the database ``DATABASE_URL`` names, dropped at the end.

Per store: holders are registered in process (setup, not timed); the in-process baseline runs
as many threads as the client has workers (as a server runs requests), each going round holders
of its own, alternating a pre-report and its cancellation, then reading the outlet's queue.
Then per server count: fresh holders, the servers started on free ports (``sscard serve``,
uvicorn), the client process (``bench.http_client``) sends the same commands for ``seconds``
after a warm-up, then the same queries; the servers are stopped, and the pre-reports and
cancellations the store holds from that run are counted: they must equal what the client saw
acknowledged (a load test neither loses nor invents writes).

The last line printed is ``http_ratio=<x> http_p99_ms=<y>`` for the first configuration measured
(one server, but for ``--servers 2``), then the same figures of the others, e.g.
``http_ratio_2servers=...``, then ``queries_per_s``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from application import cards, views
from application.dev_tokens import issue_development_token
from application.tokens import TokenRequest, dev_key_dir
from application.view_results import OutletQueueQuery
from bench.command_throughput import scratch_schemas
from bench.http_client import LoadPlan, LoadResult, percentile
from domain.authority import AccessRole, Principal
from domain.cardholder.commands import CancelPreReport
from domain.event import Actor, Role
from samples.stories import OUTLET, Identities, issue
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings

Say = Callable[[str], None]

CLERK_ID = "clerk-01"
HOLDERS_PER_WORKER = 8
_BORN = date(1970, 1, 1)
_PRE_REPORTED = "LossPreReported"
_CANCELLED = "LossPreReportCancelled"


class BenchFailed(RuntimeError):
    """The run lost or invented writes, or a call was not answered as expected."""


@dataclass(frozen=True)
class InProcess:
    commands_rate: float
    commands_p99_ms: float
    queries_rate: float


@dataclass(frozen=True)
class Cpu:
    """CPU milliseconds per request, warm-up included: the servers' together, and the client's."""

    server_ms: float
    client_ms: float


@dataclass(frozen=True)
class Configuration:
    store: str
    servers: int
    commands: LoadResult
    queries: LoadResult
    baseline: InProcess
    stored_pre_reports: int
    stored_cancellations: int
    commands_cpu: Cpu
    queries_cpu: Cpu

    @property
    def ratio(self) -> float:
        return self.commands.rate / self.baseline.commands_rate

    @property
    def name(self) -> str:
        return f"{self.store}, {self.servers} server{'s' if self.servers > 1 else ''}"


@dataclass(frozen=True)
class Load:
    seconds: float
    warmup: float
    workers: int


# ---- the in-process baseline ----------------------------------------------------------------


def register_holders(office_of: BackOffice, ids: Identities, count: int) -> list[str]:
    """Holders with an active card each, at the bench's outlet's region (setup, not timed)."""
    holders = []
    for _ in range(count):
        rid = ids.resident_id()
        office_of.office.issue_card(issue(rid, ids.card_number()))
        holders.append(rid)
    return holders


def _pre_report(backoffice: BackOffice, holder: str) -> str:
    ask = cards.PreReportRequest(resident_id=holder, outlet=OUTLET, staff_id=CLERK_ID)
    return cards.pre_report_loss(backoffice.office, ask).status


def _cancel(backoffice: BackOffice, holder: str) -> str:
    command = CancelPreReport(
        actor=Actor.staff(Role.OUTLET_CLERK, CLERK_ID), outlet=OUTLET, resident_id=holder
    )
    return cards.cancel_pre_report(backoffice.office, command).status


def _queue(backoffice: BackOffice) -> None:
    query = OutletQueueQuery(outlet=OUTLET, queue_status="ready", page=1, page_size=50)
    views.outlet_queue_in(backoffice, query)


def _timed_loop(
    call: Callable[[int], None], warm_end: float, stop_at: float, latencies: list[float]
) -> None:
    """``call(n)`` for n = 0, 1, ... until ``stop_at``; the calls started after the warm-up
    timed into ``latencies`` (list.append holds under the GIL)."""
    n = 0
    while (now := time.perf_counter()) < stop_at:
        call(n)
        n += 1
        if now >= warm_end:
            latencies.append((time.perf_counter() - now) * 1000)


def _phase(
    workers: int, loop: Callable[[int, float, float, list[float]], None], load: Load
) -> tuple[float, list[float]]:
    """``workers`` threads running ``loop(index, warm_end, stop_at, latencies)``: calls/s
    after the warm-up, and the sorted latencies."""
    latencies: list[float] = []
    started = time.perf_counter()
    warm_end, stop_at = started + load.warmup, started + load.warmup + load.seconds
    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(loop, i, warm_end, stop_at, latencies) for i in range(workers)]:
            done.result()
    latencies.sort()
    return len(latencies) / (time.perf_counter() - warm_end), latencies


def in_process(backoffice: BackOffice, holders: list[str], load: Load, say: Say) -> InProcess:
    """The same commands and queries through the application layer, from as many threads as
    the client has workers (as a server runs them), each going round holders of its own."""
    say(f"  in process: commands, {load.workers} threads, {load.warmup:g} + {load.seconds:g} s")

    def commands(index: int, warm_end: float, stop_at: float, latencies: list[float]) -> None:
        mine = holders[index :: load.workers]
        reported = dict.fromkeys(mine, False)

        def call(n: int) -> None:
            holder = mine[n % len(mine)]
            status = (_cancel if reported[holder] else _pre_report)(backoffice, holder)
            if status != "recorded":
                raise BenchFailed(f"in process: a command answered {status!r}, not 'recorded'")
            reported[holder] = not reported[holder]

        _timed_loop(call, warm_end, stop_at, latencies)

    def queries(_index: int, warm_end: float, stop_at: float, latencies: list[float]) -> None:
        _timed_loop(lambda _: _queue(backoffice), warm_end, stop_at, latencies)

    commands_rate, latencies = _phase(load.workers, commands, load)
    say(f"  in process: queries, {load.workers} threads, {load.warmup:g} + {load.seconds:g} s")
    queries_rate, _ = _phase(load.workers, queries, load)
    return InProcess(
        commands_rate=commands_rate,
        commands_p99_ms=percentile(latencies, 0.99),
        queries_rate=queries_rate,
    )


# ---- the servers and the client --------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held together so none comes twice)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def server_env(store: Settings) -> dict[str, str]:
    """The environment that makes ``sscard serve`` use exactly the bench's store and keys."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SSCARD_DATABASE_URL", "PERSISTENCE_MODULE")
        and k not in ("POSTGRES_SCHEMA", "SSCARD_POSTGRES_SCHEMA")
    }
    env |= {
        "SSCARD_DATA_DIR": str(store.data_dir),
        "SSCARD_STATE_DIR": str(store.state_dir),
        "SSCARD_HOLDER_ID_KEY": store.holder_id_key.get_secret_value(),
        "SSCARD_MASTER_KEY": store.master_key.get_secret_value(),
        "SSCARD_METRICS_PORT": "0",
    }
    if store.database_url:
        env["DATABASE_URL"] = store.database_url
    if store.postgres_schema:
        env["POSTGRES_SCHEMA"] = store.postgres_schema
    return env


def _wait_alive(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-600:]
            raise BenchFailed(f"sscard serve exited ({process.returncode}): {tail}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchFailed(f"sscard serve at {url} did not answer in 120 s")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds the processes have used so far (Linux's /proc; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def children_cpu_seconds() -> float:
    """CPU seconds of the child processes waited for so far (the load client's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Servers:
    urls: list[str]
    pids: list[int]


@contextlib.contextmanager
def running_servers(store: Settings, count: int, logs: Path, say: Say) -> Iterator[Servers]:
    """``count`` ``sscard serve`` processes on free loopback ports; stopped (SIGTERM) at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for port in free_ports(count):
            log = logs / f"serve-{port}.log"
            with log.open("ab") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
                        env=server_env(store),
                        stdout=out,
                        stderr=out,
                        start_new_session=True,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            _wait_alive(url, process, logs / f"serve-{url.rsplit(':', 1)[1]}.log")
        say(
            f"  {count} sscard serve process{'es' if count > 1 else ''} answering: {' '.join(urls)}"
        )
        yield Servers(urls, [p.pid for p in processes])
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def clerk_token(store: Settings) -> str:
    principal = Principal(subject=CLERK_ID, role=AccessRole.OUTLET_CLERK, outlet=OUTLET)
    issued = issue_development_token(
        TokenRequest(principal=principal), dev_key_dir(store.state_dir), datetime.now(UTC)
    )
    return issued.token


def run_client(plan: LoadPlan, servers: Servers, say: Say) -> tuple[LoadResult, Cpu]:
    """The client in a process of its own; its progress lines passed on as they come."""
    server_cpu, client_cpu = cpu_seconds(servers.pids), children_cpu_seconds()
    with subprocess.Popen(
        [sys.executable, "-m", "bench.http_client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as client:
        assert client.stdin is not None
        assert client.stdout is not None
        client.stdin.write(plan.model_dump_json())
        client.stdin.close()
        result: LoadResult | None = None
        error = ""
        for line in client.stdout:
            if line.startswith("progress "):
                say(line.removeprefix("progress ").rstrip())
            elif line.rstrip() == "ready":  # the holders' lookups done: count from here
                server_cpu = cpu_seconds(servers.pids)
            elif line.startswith("result "):
                result = LoadResult.model_validate_json(line.removeprefix("result "))
            elif line.startswith("error "):
                error = ": " + line.removeprefix("error ").rstrip()
        client.wait()
    if result is None:
        raise BenchFailed(f"the load client exited ({client.returncode}) without a result{error}")
    calls = max(result.answered, 1)
    cpu = Cpu(
        server_ms=(cpu_seconds(servers.pids) - server_cpu) * 1000 / calls,
        client_ms=(children_cpu_seconds() - client_cpu) * 1000 / calls,
    )
    return result, cpu


def count_recorded(backoffice: BackOffice, after: int) -> tuple[int, int]:
    """Pre-reports and cancellations the store holds past position ``after``."""
    recorder = backoffice.office.recorder
    pre_reports = cancellations = 0
    position = after
    while True:
        found = list(recorder.select_notifications(start=position + 1, limit=1000))
        if not found:
            return pre_reports, cancellations
        for notification in found:
            kind = notification.topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
            pre_reports += kind == _PRE_REPORTED
            cancellations += kind == _CANCELLED
        position = found[-1].id


# ---- one store, every server count -------------------------------------------------------


def measure_store(
    store_name: str, store: Settings, servers: list[int], load: Load, say: Say
) -> list[Configuration]:
    results = []
    ids = Identities("110109", "H", born=_BORN)
    per_run = load.workers * HOLDERS_PER_WORKER
    with open_back_office(store) as backoffice:
        say(f"{store_name}: setup, {per_run} holders for the in-process baseline")
        baseline = in_process(backoffice, register_holders(backoffice, ids, per_run), load, say)
        say(
            f"  in process: {baseline.commands_rate:,.0f} commands/s "
            f"(p99 {baseline.commands_p99_ms:.1f} ms), {baseline.queries_rate:,.0f} queries/s"
        )
        token = clerk_token(store)
        for count in servers:
            say(f"{store_name}, {count} server(s): setup, {per_run} holders")
            holders = register_holders(backoffice, ids, per_run)
            before = backoffice.office.recorder.max_notification_id() or 0
            with running_servers(store, count, store.data_dir.parent, say) as serving:
                plans = {
                    phase: LoadPlan(
                        urls=serving.urls,
                        token=token,
                        outlet=OUTLET,
                        holders=holders,
                        workers=load.workers,
                        phase=phase,
                        seconds=load.seconds,
                        warmup=load.warmup,
                    )
                    for phase in ("commands", "queries")
                }
                say(
                    f"  commands over HTTP: {load.workers} workers, {load.warmup:g} + "
                    f"{load.seconds:g} s"
                )
                commands, commands_cpu = run_client(plans["commands"], serving, say)
                say(
                    f"  queries over HTTP: {load.workers} workers, {load.warmup:g} + "
                    f"{load.seconds:g} s"
                )
                queries, queries_cpu = run_client(plans["queries"], serving, say)
            pre_reports, cancellations = count_recorded(backoffice, before)
            result = Configuration(
                store_name,
                count,
                commands,
                queries,
                baseline,
                pre_reports,
                cancellations,
                commands_cpu,
                queries_cpu,
            )
            say(
                f"  {commands.pre_reports + commands.cancellations:,} commands acknowledged "
                f"({commands.pre_reports:,} pre-reports, {commands.cancellations:,} "
                f"cancellations); the store holds {pre_reports:,} and {cancellations:,}"
            )
            check(result)
            results.append(result)
    return results


def check(result: Configuration) -> None:
    """Every call answered as expected, and exactly the acknowledged writes on record."""
    for phase in (result.commands, result.queries):
        if phase.errors:
            raise BenchFailed(
                f"{result.name}: {phase.errors} {phase.phase} not answered as expected; "
                f"the first: {phase.first_error}"
            )
    seen = (result.commands.pre_reports, result.commands.cancellations)
    stored = (result.stored_pre_reports, result.stored_cancellations)
    if seen != stored:
        raise BenchFailed(
            f"{result.name}: the client saw {seen[0]} pre-reports and {seen[1]} cancellations "
            f"acknowledged, the store holds {stored[0]} and {stored[1]}"
        )


# ---- the run ---------------------------------------------------------------------------------


def table(results: list[Configuration]) -> list[str]:
    headers = (
        "configuration",
        "commands/s",
        "p50 ms",
        "p99 ms",
        "queries/s",
        "p50 ms",
        "p99 ms",
        "in-process commands/s",
        "in-process queries/s",
        "ratio",
        "CPU ms/command server+client",
        "CPU ms/query server+client",
    )
    rows = [
        (
            r.name,
            f"{r.commands.rate:,.0f}",
            f"{r.commands.p50_ms:.1f}",
            f"{r.commands.p99_ms:.1f}",
            f"{r.queries.rate:,.0f}",
            f"{r.queries.p50_ms:.1f}",
            f"{r.queries.p99_ms:.1f}",
            f"{r.baseline.commands_rate:,.0f}",
            f"{r.baseline.queries_rate:,.0f}",
            f"{r.ratio:.2f}",
            f"{r.commands_cpu.server_ms:.2f}+{r.commands_cpu.client_ms:.2f}",
            f"{r.queries_cpu.server_ms:.2f}+{r.queries_cpu.client_ms:.2f}",
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [
            str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def last_line(results: list[Configuration]) -> str:
    """``http_ratio`` and ``http_p99_ms`` of the first configuration measured (one server, but
    for ``--servers 2``), then the same of the others with their count (``_2servers``)."""
    first = results[0]
    parts = [f"http_ratio={first.ratio:.2f}", f"http_p99_ms={first.commands.p99_ms:.1f}"]
    for r in results[1:]:
        suffix = f"_{r.servers}servers"
        parts += [
            f"http_ratio{suffix}={r.ratio:.2f}",
            f"http_p99_ms{suffix}={r.commands.p99_ms:.1f}",
        ]
    parts.append(f"queries_per_s={first.queries.rate:.0f}")
    return " ".join(parts)


def keep_logs(workdir: Path) -> Path:
    """The servers' logs (one JSON line per request, and any fault's trace) copied out of the
    run's folder, which goes: the request id of an unexpected answer is found there."""
    kept = Path(tempfile.mkdtemp(prefix="sscard-bench-http-logs-"))
    for log in workdir.glob("serve-*.log"):
        shutil.copy(log, kept / log.name)
    return kept


def run_http_bench(
    settings: Settings,
    store_name: str,
    servers: list[int],
    seconds: float,
    workers: int,
    warmup: float,
    say: Say = print,
) -> list[Configuration]:
    load = Load(seconds=seconds, warmup=warmup, workers=workers)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per readiness probe
    say("load average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-http-"))
    try:
        places = {"data_dir": workdir / "data", "state_dir": workdir / "state"}
        if store_name == "sqlite":
            store = settings.model_copy(
                update=places
                | {"database_url": None, "persistence_module": None, "postgres_schema": None}
            )
            results = measure_store(store_name, store, servers, load, say)
        else:
            with scratch_schemas(settings, 1) as (schema,):
                store = settings.model_copy(update=places | {"postgres_schema": schema})
                results = measure_store(store_name, store, servers, load, say)
            say("postgres: scratch schema dropped")
    except BenchFailed as exc:
        raise BenchFailed(f"{exc} (the servers' logs: {keep_logs(workdir)})") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    say("load average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    for line in table(results):
        say(line)
    say(last_line(results))
    return results
