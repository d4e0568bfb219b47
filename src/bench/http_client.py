"""The load client of ``sscard bench http``: a process of its own, so that it takes no time from
the servers' interpreters (only from the machine's cores, which the figures say).

Run as ``python -m bench.http_client``: it reads a ``LoadPlan`` (JSON) on stdin, prints a
``progress ...`` line about once a second and, last, ``result <LoadResult as JSON>``.

``workers`` threads, each with a keep-alive connection (a synchronous httpx client) to every
server: httpx's asyncio client took about three times the CPU per request here, CPU the
servers on the same cores then lacked. Worker ``i`` sends its ``n``-th request to server
``(i + n) mod servers``, so with two servers a holder's pre-report and its cancellation land on
different processes (each must see the other's write). For ``commands`` each worker goes round
holders of its own, alternating a pre-report and its cancellation, so no two workers ever touch
one holder and every command is expected to be recorded (201). For
``queries`` each worker reads its outlet's queue (200). Requests started in the warm-up are
counted as acknowledged writes but not timed.

A path names a holder by reference, never by ID number: before the commands start, the client
asks ``POST /holders/lookup`` once per holder (the ID number in the body) and keeps the answer,
as a counter's client would; those lookups are neither timed nor counted (``ready`` is printed
after them, and the servers' CPU per request is measured from there).
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

Phase = Literal["commands", "queries"]
Call = Literal["pre_report", "cancellation", "queue"]


class LoadPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: list[str]
    token: str
    outlet: str
    holders: list[str]
    workers: int
    phase: Phase
    seconds: float
    warmup: float


class LoadResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: Phase
    answered: int  # every request, warm-up included
    timed: int  # answered as expected, started after the warm-up
    seconds: float  # from the warm-up's end to the last timed answer
    p50_ms: float
    p99_ms: float
    pre_reports: int  # acknowledged (201, "recorded"), warm-up included
    cancellations: int
    errors: int  # any other answer, or none
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.timed / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Holder:
    """A holder as the API names them: by ID number in a body, by reference in a path."""

    resident_id: str
    ref: str


def request_for(call: Call, outlet: str, holder: Holder) -> tuple[str, str, dict[str, Any] | None]:
    """Method, path and body of each call, as the routes are declared (api.card_routes,
    api.counter_routes, api.app): the one place to edit when a route changes."""
    if call == "pre_report":
        return "POST", f"/holders/{holder.ref}/pre-reports", {}
    if call == "cancellation":
        return "POST", f"/outlets/{outlet}/pre-report-cancellations", {"holder": holder.resident_id}
    return "GET", f"/outlets/{outlet}/queue?status=ready&page_size=50", None


class LookupFailed(Exception):
    """A holder's reference was not answered: nothing to load the servers with."""


def look_up(client: httpx.Client, resident_ids: list[str]) -> list[Holder]:
    """Each holder's reference, asked once (``POST /holders/lookup``), before anything is timed."""
    holders = []
    for resident_id in resident_ids:
        try:
            answer = client.post("/holders/lookup", json={"holder": resident_id})
        except httpx.HTTPError as exc:
            raise LookupFailed(f"POST /holders/lookup: {exc!r}") from None
        if answer.status_code != 200:
            raise LookupFailed(
                f"POST /holders/lookup answered {answer.status_code}: {answer.text[:200]}"
            )
        holders.append(Holder(resident_id, answer.json()["holder_ref"]))
    return holders


def percentile(sorted_ms: list[float], fraction: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(fraction * len(sorted_ms)))]


@dataclass
class _Tally:
    warm_end: float
    latencies: list[float] = field(default_factory=list)
    last_timed: float = 0.0
    done: int = 0
    acknowledged: dict[str, int] = field(
        default_factory=lambda: {"pre_report": 0, "cancellation": 0}
    )
    errors: int = 0
    first_error: str | None = None
    # Workers are threads: a += is not atomic, and an acknowledged write must not go uncounted.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, call: Call, started: float, ended: float, ok: bool, what: str) -> None:
        with self.lock:
            self.done += 1
            if not ok:
                self.errors += 1
                self.first_error = self.first_error or f"{call}: {what}"[:300]
                return
            if call != "queue":
                self.acknowledged[call] += 1
            if started >= self.warm_end:
                self.latencies.append((ended - started) * 1000)
                self.last_timed = max(self.last_timed, ended)


def _expected(call: Call, response: httpx.Response) -> bool:
    if call == "queue":
        return response.status_code == 200
    return response.status_code == 201 and response.json().get("status") == "recorded"


def _worker(
    index: int,
    clients: list[httpx.Client],
    plan: LoadPlan,
    holders: list[Holder],
    tally: _Tally,
    stop_at: float,
) -> None:
    reported = dict.fromkeys(holders, False)
    n = 0
    while time.perf_counter() < stop_at:
        holder = holders[n % len(holders)] if holders else Holder("", "")
        client = clients[(index + n) % len(clients)]
        n += 1
        call: Call = "queue"
        if plan.phase == "commands":
            call = "cancellation" if reported[holder] else "pre_report"
        method, path, body = request_for(call, plan.outlet, holder)
        started = time.perf_counter()
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            # No answer: the write may or may not be on record; the store count will say.
            tally.answered(call, started, time.perf_counter(), False, repr(exc))
            continue
        ok = _expected(call, response)
        what = f"{response.status_code} {response.text[:200]}"
        tally.answered(call, started, time.perf_counter(), ok, what)
        if ok and call != "queue":
            reported[holder] = not reported[holder]


def _progress(plan: LoadPlan, tally: _Tally, started: float, done: threading.Event) -> None:
    while not done.wait(1.0):
        print(
            f"progress   {plan.phase} over HTTP: {time.perf_counter() - started:4.1f} s, "
            f"{tally.done:,} answered, {tally.errors} errors",
            flush=True,
        )


def run_plan(plan: LoadPlan) -> LoadResult:
    headers = {"Authorization": f"Bearer {plan.token}"}
    holders: list[Holder] = []
    if plan.phase == "commands":
        with httpx.Client(base_url=plan.urls[0], headers=headers, timeout=60.0) as asking:
            holders = look_up(asking, plan.holders)
    print("ready", flush=True)  # the servers' CPU is counted from here: the lookups left out
    shares = [holders[i :: plan.workers] for i in range(plan.workers)]
    started = time.perf_counter()
    tally = _Tally(warm_end=started + plan.warmup)
    stop_at = tally.warm_end + plan.seconds
    # A keep-alive connection per worker and server, as many clients behind a balancer hold.
    clients = [
        [httpx.Client(base_url=url, headers=headers, timeout=60.0) for url in plan.urls]
        for _ in range(plan.workers)
    ]
    done = threading.Event()
    ticker = threading.Thread(target=_progress, args=(plan, tally, started, done), daemon=True)
    ticker.start()
    try:
        with ThreadPoolExecutor(plan.workers) as pool:
            futures = [
                pool.submit(_worker, i, clients[i], plan, shares[i], tally, stop_at)
                for i in range(plan.workers)
            ]
            for future in futures:
                future.result()
    finally:
        done.set()
        for mine in clients:
            for client in mine:
                client.close()
    ordered = sorted(tally.latencies)
    return LoadResult(
        phase=plan.phase,
        answered=tally.done,
        timed=len(ordered),
        seconds=max(tally.last_timed - tally.warm_end, 0.0),
        p50_ms=percentile(ordered, 0.50),
        p99_ms=percentile(ordered, 0.99),
        pre_reports=tally.acknowledged["pre_report"],
        cancellations=tally.acknowledged["cancellation"],
        errors=tally.errors,
        first_error=tally.first_error,
    )


def main() -> int:
    plan = LoadPlan.model_validate_json(sys.stdin.read())
    try:
        result = run_plan(plan)
    except LookupFailed as exc:
        print(f"error {exc}", flush=True)
        return 1
    print("result " + result.model_dump_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
