"""The run's HTTP clients: holder stories sent to the run's own ``sscard serve`` processes, each
command with an ``Idempotency-Key`` of its own, and reads that wait for their own writes.

A command that meets a connection error or a 5xx answer is sent again with the same key and the
same body, to the next server (the one it was sent to may be dead), until it is answered; some
answered commands are sent again on purpose, and the second answer must be the first one with
``Idempotent-Replayed: true``. Every acknowledged command goes into the run's journal under its
key (the key is the domain's request id: the store's request record names it), so the invariant
"every acknowledged command is in the store exactly once" holds the HTTP commands to it too.

After a write, a read of a view asks ``after=<store_position>&wait=``: it must answer with the
write in it, or 409 ``view_behind``; a 200 without the write is a stale read, a finding.

Claims are filed twice at once on the two servers, with two keys (one is recorded, the other is
refused: the invoice is claimed once) or with one key (one is recorded, the other answers the
first answer); a holder's large claims are approved two at a time so that the annual cap is
reached by racing approvals (the cap itself is checked from the store at the end).
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from application.results import BEIJING
from chaos.journal import Acknowledged, Journal
from chaos.serve import HTTP_OUTLET, Tokens
from samples import stories

log = logging.getLogger("sscard.chaos")

JsonObject = dict[str, Any]
# How long one request is retried through an outage before the client gives up on it.
_RETRY_FOR = 120.0
_RESENT_SHARE = 0.15
_REQUEST_TIMEOUT = 30.0
# A read waits at most this long for its view (then 409 view_behind, which is no fault).
_READ_WAIT = 2.0
_REGION = "110000"
_HOSPITAL = "H11010500007"
_DOCUMENTS = ["invoice_original", "itemised_list", "prescription"]
# Beijing's fund: 1,800 yuan deductible, 70 %, a 20,000-yuan annual cap: four such bills go past
# the cap (the third is approved with what is left, the fourth with nothing).
_LARGE_BILL_FEN = 1_500_000
_SMALL_BILL_FEN = 300_000


@dataclass(frozen=True)
class Reply:
    status: int
    body: JsonObject
    replayed: bool


class Unanswered(Exception):
    """No answer to use: the connection failed, or the server answered 5xx."""


def call(
    port: int, method: str, path: str, token: str, body: JsonObject | None, key: str | None
) -> Reply:
    """One request on a fresh connection (a killed server leaves no half-dead keep-alive)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = key
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        replayed = response.getheader("Idempotent-Replayed") == "true"
    except (OSError, http.client.HTTPException) as error:
        raise Unanswered(f"{method} {_route(path)}: {error!r}") from None
    finally:
        connection.close()
    if response.status >= 500:
        raise Unanswered(f"{method} {_route(path)}: {response.status} {raw[:200]!r}")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"unparsed": raw[:200].decode(errors="replace")}
    return Reply(response.status, parsed if isinstance(parsed, dict) else {}, replayed)


def _route(path: str) -> str:
    return path.split("?", 1)[0]


def where(body: JsonObject) -> tuple[str | None, int | None]:
    """The event an answer names: (stream or claim, version)."""
    stream = body.get("claim_id", body.get("stream_id"))
    version = body.get("version")
    return (None if stream is None else str(stream)), (
        int(version) if isinstance(version, int) else None
    )


@dataclass
class HttpTally:
    acknowledged: int = 0
    retried: int = 0  # connection errors and 5xx answers sent again with the same key
    resent: int = 0  # answered commands sent again on purpose: answered with the first answer
    replayed_after_error: int = 0  # the retry of a command whose first try was lost: replayed
    reads: int = 0  # reads after a write, answered 200 and checked
    view_behind: int = 0  # 409 view_behind: allowed, not checked
    duplicate_races: int = 0
    approval_races: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class HttpWorkload(threading.Thread):
    """HTTP holder stories, one after another, until ``stop`` is set."""

    def __init__(
        self, ports: list[int], tokens: Tokens, journal: Journal, seed: int, pace: float
    ) -> None:
        super().__init__(name="chaos-http-workload", daemon=True)
        self.ports, self.tokens, self.journal, self.pace = ports, tokens, journal, pace
        self.rng = random.Random(seed * 104729 + 3)
        self.stop = threading.Event()
        self.tally = HttpTally()
        self.findings: list[str] = []
        self.error: BaseException | None = None
        self._ids = itertools.count(1)
        self._prefix = f"chaos-{seed}-http"
        self._next_server = itertools.count()
        self._lock = threading.Lock()
        # Distinct from the in-process clerks' holders and cards: another district and prefix.
        self.people = stories.Identities(district="110108", card_prefix="W")

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                story = self.rng.choice(_STORIES)
                for _ in story(self):
                    if self.stop.is_set():
                        return
                    time.sleep(self.pace)
        except BaseException as exc:  # reported by the harness as a finding, never swallowed
            log.exception("the HTTP workload stopped")
            self.error = exc

    # -- requests ----------------------------------------------------------------------------

    def key(self) -> str:
        with self._lock:
            return f"{self._prefix}-{next(self._ids)}"

    def _server(self) -> int:
        with self._lock:
            return next(self._next_server) % len(self.ports)

    def until_answered(
        self, method: str, path: str, token: str, body: JsonObject | None, key: str | None
    ) -> tuple[Reply, bool] | None:
        """The answer, and whether a try before it went unanswered; None if never answered.
        Each try after a failed one goes to the next server."""
        deadline = time.monotonic() + _RETRY_FOR
        server = self._server()
        lost = False
        while True:
            try:
                return call(self.ports[server], method, path, token, body, key), lost
            except Unanswered as error:
                if time.monotonic() >= deadline:
                    self.finding(f"{_route(path)} key {key}: never answered: {error}")
                    return None
                lost = True
                with self._lock:
                    self.tally.retried += 1
                server = (server + 1) % len(self.ports)
                time.sleep(0.5)

    def command(
        self, what: str, path: str, token: str, body: JsonObject | None, key: str | None = None
    ) -> JsonObject | None:
        """A command with a key of its own (or ``key``): answered (journalled) or refused."""
        key = key or self.key()
        answered = self.until_answered("POST", path, token, body, key)
        if answered is None:
            return None
        reply, lost = answered
        if not self.accepted(what, key, reply):
            return None
        if lost and reply.replayed:
            with self._lock:
                self.tally.replayed_after_error += 1
        self.acknowledge(what, key, reply)
        if self.rng.random() < _RESENT_SHARE:
            self.resend(what, path, token, body, key, reply)
        return reply.body

    def accepted(self, what: str, key: str, reply: Reply) -> bool:
        """An answer that acknowledges the command (201, or 200 for a replay or a fact already
        on record); a refusal is counted, and a reused key or a refused token is a finding."""
        status = reply.body.get("status")
        if reply.status in (200, 201) and status in ("recorded", "already_recorded"):
            if reply.status == 201 and (reply.replayed or status != "recorded"):
                self.finding(f"{what} key {key}: 201 for a replay or a fact already on record")
            return True
        code = str(reply.body.get("code", reply.status))
        with self._lock:
            self.tally.refused[f"{what}: {code}"] += 1
        # The clients send no bad input and carry their roles' tokens: a 4xx of that kind is a
        # finding (a reused key above all), never a refusal of the rules.
        if reply.status in (401, 403, 422):
            self.finding(f"{what} key {key}: {reply.status} {code}: {reply.body.get('message')}")
        return False

    def acknowledge(self, what: str, key: str, reply: Reply) -> None:
        stream, version = where(reply.body)
        status = (
            "already_recorded" if reply.body.get("status") == "already_recorded" else "recorded"
        )
        self.journal.append(
            Acknowledged(
                request_id=key,
                command=f"http {what}",
                status=status,
                stream_id=stream,
                version=version,
            )
        )
        with self._lock:
            self.tally.acknowledged += 1

    def resend(
        self,
        what: str,
        path: str,
        token: str,
        body: JsonObject | None,
        key: str,
        first: Reply,
    ) -> None:
        """The client did not see the answer and sends the same request again: the first
        answer, marked replayed when the first one recorded something."""
        with self._lock:
            self.tally.resent += 1
        answered = self.until_answered("POST", path, token, body, key)
        if answered is None:
            return
        again = answered[0]
        if again.status != 200 or where(again.body) != where(first.body):
            self.finding(
                f"{what} key {key}: first answered {where(first.body)}, the retry "
                f"{again.status} {where(again.body)} {again.body.get('code', '')}"
            )
        elif first.body.get("status") == "recorded" and not again.replayed:
            self.finding(f"{what} key {key}: a retry of a recorded command not marked replayed")

    def read_after(
        self,
        what: str,
        path: str,
        token: str,
        position: object,
        holds: Callable[[JsonObject], bool],
        next_page: Callable[[JsonObject], str | None] = lambda _body: None,
    ) -> None:
        """A read that waits for its own write: the write in it, or 409 view_behind. When the
        write is not on the first page and ``next_page`` names another, that one is read too
        (without ``after``: the view had reached the write when it answered the first)."""
        if not isinstance(position, int):
            self.finding(f"{what}: the command answered no store_position")
            return
        separator = "&" if "?" in path else "?"
        query = urlencode({"after": position, "wait": _READ_WAIT})
        answered = self.until_answered("GET", f"{path}{separator}{query}", token, None, None)
        if answered is None:
            return
        reply = answered[0]
        if reply.status == 409 and reply.body.get("code") == "view_behind":
            with self._lock:
                self.tally.view_behind += 1
            return
        if reply.status != 200:
            self.finding(f"{what} after {position}: {reply.status} {reply.body.get('code')}")
            return
        with self._lock:
            self.tally.reads += 1
        body = reply.body
        while not holds(body) and (more := next_page(body)) is not None:
            answered = self.until_answered("GET", more, token, None, None)
            if answered is None or answered[0].status != 200:
                return
            body = answered[0].body
        if not holds(body):
            self.finding(f"{what} after {position}: a stale 200 (the write is not in it)")

    def serial(self) -> str:
        """A fresh number, for invoice numbers and payment references."""
        with self._lock:
            return f"{next(self._ids):08d}"

    def count_race(self, kind: str) -> None:
        with self._lock:
            if kind == "duplicate":
                self.tally.duplicate_races += 1
            else:
                self.tally.approval_races += 1

    def finding(self, text: str) -> None:
        with self._lock:
            self.findings.append(text)


# ---- the stories -----------------------------------------------------------------------------

Story = Callable[[HttpWorkload], Iterator[None]]


@dataclass
class Holder:
    resident_id: str
    card: str
    ref: str


def _issued_and_pre_reported(w: HttpWorkload) -> Generator[None, None, Holder | None]:
    """A holder's card issued, then pre-reported (a step each); None if either was refused."""
    holder = _issue(w)
    if holder is None:
        return None
    yield
    if _pre_report(w, holder) is None:
        return None
    yield
    return holder


def _issue(w: HttpWorkload) -> Holder | None:
    rid, card = w.people.resident_id(), w.people.card_number()
    body = {"holder": rid, "holder_name": "王芳", "region_code": _REGION, "card_number": card}
    answer = w.command("issue", f"/outlets/{HTTP_OUTLET}/cards", w.tokens.clerk, body)
    if answer is None or answer.get("stream_id") is None:
        return None
    return Holder(rid, card, str(answer["stream_id"]))


def _pre_report(w: HttpWorkload, holder: Holder) -> JsonObject | None:
    return w.command("pre-report", f"/holders/{holder.ref}/pre-reports", w.tokens.clerk, {})


def _blocked(card: str, blocked: bool) -> Callable[[JsonObject], bool]:
    def holds(body: JsonObject) -> bool:
        found = body.get("card") or {}
        return bool(found.get("card_number") == card and found.get("blocked") is blocked)

    return holds


_QUEUE_STATUS = "pre-reported-today"
_QUEUE_PAGE = 200


def queue_page(page: int) -> str:
    query = urlencode({"status": _QUEUE_STATUS, "page": page, "page_size": _QUEUE_PAGE})
    return f"/outlets/{HTTP_OUTLET}/queue?{query}"


def next_queue_page(body: JsonObject) -> str | None:
    """The page after this one, while the status holds more entries than the pages so far."""
    page = int(body.get("page", 1))
    counted = int((body.get("counts") or {}).get(_QUEUE_STATUS, 0))
    return queue_page(page + 1) if counted > page * _QUEUE_PAGE else None


def beijing_day() -> str:
    return datetime.now(BEIJING).date().isoformat()


def queued(card: str, day: str) -> Callable[[JsonObject], bool]:
    """The card among the day's pre-reports; not judged once the outlet's day has turned (the
    pre-report is no longer today's)."""

    def holds(body: JsonObject) -> bool:
        entries = [entry.get("card_number") for entry in body.get("entries", [])]
        return card in entries or beijing_day() != day

    return holds


def block_and_unblock(w: HttpWorkload) -> Iterator[None]:
    """Issued, pre-reported (the settlement card and the outlet's queue read after it), then
    mostly cancelled (the settlement card read after that)."""
    holder = _issue(w)
    if holder is None:
        return
    yield
    reported = _pre_report(w, holder)
    if reported is None:
        return
    position = reported.get("store_position")
    card_path = f"/settlement/cards/{holder.card}"
    w.read_after(
        "settlement card", card_path, w.tokens.settlement, position, _blocked(holder.card, True)
    )
    yield
    day = beijing_day()
    w.read_after(
        "outlet queue",
        queue_page(1),
        w.tokens.clerk,
        position,
        queued(holder.card, day),
        next_queue_page,
    )
    yield
    if w.rng.random() < 0.7:
        body = {"holder": holder.resident_id}
        path = f"/outlets/{HTTP_OUTLET}/pre-report-cancellations"
        cancelled = w.command("cancel", path, w.tokens.clerk, body)
        if cancelled is not None and cancelled.get("status") == "recorded":
            position = cancelled.get("store_position")
            blocked = _blocked(holder.card, False)
            w.read_after("settlement card", card_path, w.tokens.settlement, position, blocked)
        yield


def _claim_body(invoice: str, fen: int) -> JsonObject:
    return {
        "hospital_code": _HOSPITAL,
        "treatment_date": datetime.now(BEIJING).date().isoformat(),
        "invoice_number": invoice,
        "bill": {"total_fen": fen, "in_scope_fen": fen},
        "documents": _DOCUMENTS,
    }


def _invoice(w: HttpWorkload) -> str:
    return f"HINV-{w.serial()}-{w.rng.randrange(10**6):06d}"


def _both_at_once(sends: list[Callable[[], Any]]) -> list[Any]:
    """The calls started together, on threads of their own (two clients at two servers)."""
    if not sends:
        return []
    barrier = threading.Barrier(len(sends))

    def together(send: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(len(sends), thread_name_prefix="chaos-http-race") as pool:
        return list(pool.map(together, sends))


def race_outcome(
    one_key: bool, replies: list[tuple[Reply, bool]]
) -> tuple[Reply | None, str | None]:
    """The answer that acknowledges a duplicate-invoice race's claim, and what is wrong with the
    answers (None: nothing). Each reply comes with whether a try before it went unanswered.

    One claim is acknowledged, by at most one 201; any 200 is a replay of it. A 200 replay
    stands for a 201 its client never saw (a server killed, a 503 after the commit), so with
    two keys it needs a try lost before it; with one key the other request's win explains it.
    With two keys the other request is refused, invoice_already_claimed; with one key both are
    answered (the same key and body get the first answer, never a refusal)."""
    acknowledged = [(r, lost) for r, lost in replies if r.status in (200, 201)]
    shown = [(r.status, r.body.get("code"), where(r.body), lost) for r, lost in replies]
    claims = {where(r.body) for r, _ in acknowledged}
    if len(claims) != 1:
        return None, f"{len(claims)} claims acknowledged: {shown}"
    winner = next((r for r, _ in acknowledged if r.status == 201), acknowledged[0][0])
    if sum(r.status == 201 for r, _ in acknowledged) > 1:
        return winner, f"recorded twice: {shown}"
    if any(r.status == 200 and not r.replayed for r, _ in acknowledged):
        return winner, f"a 200 that is no replay: {shown}"
    if one_key:
        return winner, None if len(acknowledged) == len(replies) else f"refused: {shown}"
    if any(r.status == 200 and not lost for r, lost in acknowledged):
        return winner, f"a replay of a key never sent before: {shown}"
    refused = [r for r, _ in replies if r.status not in (200, 201)]
    if len(acknowledged) != 1 or [r.body.get("code") for r in refused] != [
        "invoice_already_claimed"
    ]:
        return winner, f"not one recorded and one refused: {shown}"
    return winner, None


def duplicate_invoice(w: HttpWorkload) -> Iterator[None]:
    """The same invoice filed twice at the same moment: with two keys, one is recorded and the
    other refused (invoice_already_claimed); with one key, one is recorded and the other answers
    the first answer. The claim then read back after its filing, approved and paid."""
    holder = yield from _issued_and_pre_reported(w)
    if holder is None:
        return
    path = f"/holders/{holder.ref}/claims"
    body = _claim_body(_invoice(w), _SMALL_BILL_FEN)
    one_key = w.rng.random() < 0.4
    keys = [w.key()] * 2 if one_key else [w.key(), w.key()]
    replies = _both_at_once(
        [partial(w.until_answered, "POST", path, w.tokens.clerk, body, k) for k in keys]
    )
    w.count_race("duplicate")
    if None in replies:
        return  # never answered: a finding already
    winner, problem = race_outcome(one_key, replies)
    if problem is not None:
        w.finding(f"duplicate invoice ({'same key' if one_key else 'two keys'}): {problem}")
    if winner is None:
        return
    key = keys[[r[0] for r in replies].index(winner)]
    w.acknowledge("claim-submit-race", key, winner)
    yield
    claim_id = str(winner.body["claim_id"])
    listing = f"/claims?holder_ref={holder.ref}"
    w.read_after(
        "claims",
        listing,
        w.tokens.officer,
        winner.body.get("store_position"),
        _listed(claim_id, "submitted"),
    )
    yield
    approved = w.command("claim-approve", f"/claims/{claim_id}/approval", w.tokens.officer, None)
    yield
    if approved is None or not approved.get("payable_fen"):
        return
    paid = w.command(
        "claim-pay",
        f"/claims/{claim_id}/payment",
        w.tokens.officer,
        {"payment_reference": f"HPAY-{w.serial()}"},
    )
    yield
    if paid is not None:
        w.read_after(
            "claims",
            listing,
            w.tokens.officer,
            paid.get("store_position"),
            _listed(claim_id, "paid"),
        )
        # Paid again under a new key: the rules refuse it, whichever server is asked.
        w.command(
            "claim-pay-again",
            f"/claims/{claim_id}/payment",
            w.tokens.officer,
            {"payment_reference": f"HPAY-{w.serial()}"},
        )
        yield


def _listed(claim_id: str, status: str) -> Callable[[JsonObject], bool]:
    def holds(body: JsonObject) -> bool:
        return any(
            c.get("claim_id") == claim_id and c.get("claim_status") == status
            for c in body.get("claims", [])
        )

    return holds


def past_the_cap(w: HttpWorkload) -> Iterator[None]:
    """Four large bills of one holder, approved two at a time on the two servers: the benefit
    ledger makes the later approval of each pair recompute on the first's totals, so the year's
    payments never pass the annual cap; each approved claim with something payable is paid."""
    holder = yield from _issued_and_pre_reported(w)
    if holder is None:
        return
    claim_ids: list[str] = []
    for _ in range(4):
        body = _claim_body(_invoice(w), _LARGE_BILL_FEN)
        filed = w.command("claim-submit", f"/holders/{holder.ref}/claims", w.tokens.clerk, body)
        if filed is not None and filed.get("claim_id"):
            claim_ids.append(str(filed["claim_id"]))
        yield
    for pair in (claim_ids[:2], claim_ids[2:]):
        approvals = _both_at_once(
            [
                partial(
                    w.command, "claim-approve-race", f"/claims/{c}/approval", w.tokens.officer, None
                )
                for c in pair
            ]
        )
        w.count_race("approval")
        yield
        for claim_id, approved in zip(pair, approvals, strict=True):
            if approved is not None and approved.get("payable_fen"):
                reference = {"payment_reference": f"HPAY-{w.serial()}"}
                w.command("claim-pay", f"/claims/{claim_id}/payment", w.tokens.officer, reference)
                yield


_STORIES: tuple[Story, ...] = (
    block_and_unblock,
    block_and_unblock,
    duplicate_invoice,
    duplicate_invoice,
    past_the_cap,
)
