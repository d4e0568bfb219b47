"""The HTTP part of a chaos run: serve kills put in the calm of the schedule (its other faults left
where they were), the annual cap checked from the store's approvals and payments, and the HTTP
clients' own checks (a stale 200 after a write, a retry not answered with the first answer, a
201 for a replay) against a real HTTP server on loopback that answers as a broken API would."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from application import claims
from application.results import BEIJING
from chaos import schedule
from chaos.evidence import read_store
from chaos.http_workload import (
    HttpWorkload,
    Reply,
    beijing_day,
    next_queue_page,
    queue_page,
    queued,
    race_outcome,
    where,
)
from chaos.invariants import Evidence, StoredApproval, check_all, no_holder_over_annual_cap
from chaos.journal import Journal
from chaos.schedule import FaultKind, by_kind, draw_schedule
from chaos.serve import Tokens
from relay.topics import Topics
from samples import claims as claim_steps
from samples import stories
from service.bootstrap import open_back_office
from tests.conftest import make_settings
from tests.support import card_number, resident_id

CAP = 2_000_000


# ---- the schedule ------------------------------------------------------------------------------


def _without_serve_kills(seed: int, minutes: float, postgres: bool = False) -> list[Any]:
    return [f for f in draw_schedule(seed, minutes, postgres) if f.kind is not FaultKind.SERVE_KILL]


def test_serve_kills_sit_in_the_calm_between_faults_and_never_overlap():
    for seed in range(10):
        faults = draw_schedule(seed, 20)
        for earlier, later in itertools.pairwise(faults):
            assert earlier.at + earlier.hold < later.at, (seed, earlier, later)
        for i, fault in enumerate(faults):
            if fault.kind is FaultKind.SERVE_KILL:
                before, after = faults[i - 1], faults[i + 1]
                assert before.kind is not FaultKind.SERVE_KILL
                assert before.at + before.hold + 1.0 <= fault.at
                assert fault.at + fault.hold <= after.at - 1.0 + 0.05


def test_serve_kills_leave_the_other_faults_where_they_were(monkeypatch: pytest.MonkeyPatch):
    # The other kinds are drawn by the seed's generator alone: the same with or without kills,
    # so a seed's broker, run and database faults stay put; a longer run extends a shorter one.
    short, long = draw_schedule(11, 2), draw_schedule(11, 10)
    assert short == long[: len(short)]
    # The other faults are exactly the draw with the serve kills' step taken out.
    monkeypatch.setattr(schedule, "_with_serve_kills", lambda _seed, faults: faults)
    plain = draw_schedule(13, 10)
    monkeypatch.undo()
    assert _without_serve_kills(13, 10) == plain


def test_runs_on_either_store_draw_serve_kills():
    assert by_kind(draw_schedule(5, 10))["serve-kill-9"] > 0
    assert by_kind(draw_schedule(5, 10, postgres=True))["serve-kill-9"] > 0


# ---- the annual cap ----------------------------------------------------------------------------


def _approval(claim: str, holder: str, payable: int, year: int = 2026) -> StoredApproval:
    return StoredApproval(claim, holder, year, payable, CAP)


def test_approvals_and_payments_within_the_cap_hold():
    evidence = Evidence(
        approvals=[
            _approval("c1", "h1", 924_000),
            _approval("c2", "h1", 1_050_000),
            _approval("c3", "h1", 26_000),  # exactly up to the cap
            _approval("c4", "h1", 0),
            _approval("c5", "h2", 924_000),
            _approval("c6", "h1", 924_000, year=2027),  # another benefit year
        ],
        paid_fen={"c1": 924_000, "c2": 1_050_000, "c3": 26_000, "c5": 924_000},
    )
    verdict = no_holder_over_annual_cap(evidence)
    assert verdict.holds, verdict.violations
    assert verdict.checked == 3


def test_approvals_past_the_cap_are_a_violation():
    # Two racing approvals that both computed on the same totals (the ledger's version ignored).
    evidence = Evidence(
        approvals=[_approval("c1", "h1", 1_050_000), _approval("c2", "h1", 1_050_000)],
    )
    verdicts = {v.name: v for v in check_all(evidence)}
    assert verdicts["no holder over the annual cap"].violations == [
        "holder h1 2026: 2100000 fen approved over 2 claims, the cap is 2000000 fen"
    ]


def test_payments_past_the_cap_are_a_violation():
    evidence = Evidence(
        approvals=[_approval("c1", "h1", 1_000_000), _approval("c2", "h1", 1_000_000)],
        paid_fen={"c1": 1_000_000, "c2": 1_500_000},
    )
    assert no_holder_over_annual_cap(evidence).violations == [
        "holder h1 2026: 2500000 fen paid over 2 claims, the cap is 2000000 fen"
    ]


# ---- the HTTP clients' checks ------------------------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next (status, body, replayed) of the server's script."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body, replayed = self.server.script.pop(0)  # type: ignore[attr-defined]
        self.server.keys.append(self.headers.get("Idempotency-Key"))  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815 (the handler's method names)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    httpd.script = []  # type: ignore[attr-defined]
    httpd.keys = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _clients(server: ThreadingHTTPServer, tmp_path: Path) -> HttpWorkload:
    w = HttpWorkload(
        [server.server_address[1]], Tokens("c", "o", "s"), Journal(tmp_path / "j"), 1, 0
    )
    w.rng.random = lambda: 1.0  # type: ignore[method-assign]  # no resend unless asked
    return w


EVENT = {"status": "recorded", "stream_id": "h-1", "version": 2, "store_position": 7}


def test_a_stale_200_after_a_write_is_a_finding_and_view_behind_is_not(server, tmp_path):
    w = _clients(server, tmp_path)
    stale = {"card": {"card_number": "W1", "blocked": False}}
    fresh = {"card": {"card_number": "W1", "blocked": True}}
    server.script += [
        (409, {"status": "refused", "code": "view_behind"}, False),
        (200, fresh, False),
        (200, stale, False),
    ]
    for _ in range(3):
        w.read_after("card", "/settlement/cards/W1", "t", 7, lambda b: b["card"]["blocked"])
    assert (w.tally.view_behind, w.tally.reads) == (1, 2)
    assert w.findings == ["card after 7: a stale 200 (the write is not in it)"]


def test_a_command_retried_through_a_5xx_keeps_its_key_and_is_journalled_once(server, tmp_path):
    w = _clients(server, tmp_path)
    server.script += [
        (503, {"status": "error", "code": "store_unavailable"}, False),
        (200, EVENT, True),  # the first try had recorded it: the retry is answered by replay
    ]
    answer = w.command("pre-report", "/holders/h-1/pre-reports", "t", {})
    assert answer == EVENT
    first, second = server.keys
    assert first == second
    assert first is not None
    assert (w.tally.retried, w.tally.replayed_after_error) == (1, 1)
    [entry] = w.journal.entries()
    assert (entry.request_id, entry.stream_id, entry.version) == (first, "h-1", 2)
    assert not w.findings


def test_a_resend_answered_otherwise_than_the_first_time_is_a_finding(server, tmp_path):
    w = _clients(server, tmp_path)
    other = EVENT | {"version": 3}
    server.script += [(201, EVENT, False), (201, other, False), (201, EVENT, False)]
    first = w.command("cancel", "/outlets/X/pre-report-cancellations", "t", {})
    w.resend(
        "cancel", "/outlets/X/pre-report-cancellations", "t", {}, "k-1", Reply(201, EVENT, False)
    )
    w.resend(
        "cancel", "/outlets/X/pre-report-cancellations", "t", {}, "k-2", Reply(201, EVENT, False)
    )
    assert first == EVENT
    assert w.findings[0].startswith("cancel key k-1: first answered ('h-1', 2), the retry 201")
    assert w.findings[1] == "cancel key k-2: first answered ('h-1', 2), the retry 201 ('h-1', 2) "
    assert len(w.findings) == 2


def test_refusals_are_counted_and_bad_input_or_a_201_replay_is_a_finding(tmp_path):
    w = HttpWorkload([1], Tokens("c", "o", "s"), Journal(tmp_path / "j"), 1, 0)
    assert not w.accepted("pay", "k1", Reply(409, {"code": "claim_not_payable"}, False))
    assert not w.accepted("pay", "k2", Reply(422, {"code": "request_id_reused"}, False))
    assert w.accepted("pay", "k3", Reply(201, EVENT, True))
    assert w.accepted("pay", "k4", Reply(200, EVENT | {"status": "already_recorded"}, False))
    assert w.tally.refused == {"pay: claim_not_payable": 1, "pay: request_id_reused": 1}
    assert w.findings == [
        "pay key k2: 422 request_id_reused: None",
        "pay key k3: 201 for a replay or a fact already on record",
    ]


def test_an_answer_names_its_claim_or_stream():
    assert where({"claim_id": "c", "stream_id": "h", "version": 4}) == ("c", 4)
    assert where({"stream_id": "h", "version": 1}) == ("h", 1)
    assert where({"status": "already_recorded"}) == (None, None)


def test_a_write_past_the_first_page_is_looked_for_on_the_next(server, tmp_path):
    w = _clients(server, tmp_path)
    counts = {"pre-reported-today": 250}
    server.script += [
        (200, {"page": 1, "counts": counts, "entries": [{"card_number": "W0"}]}, False),
        (200, {"page": 2, "counts": counts, "entries": [{"card_number": "W1"}]}, False),
        (200, {"page": 1, "counts": counts, "entries": [{"card_number": "W0"}]}, False),
        (200, {"page": 2, "counts": counts, "entries": [{"card_number": "W2"}]}, False),
    ]
    day = beijing_day()
    for card in ("W1", "W1"):
        w.read_after("queue", queue_page(1), "t", 7, queued(card, day), next_queue_page)
    assert w.findings == ["queue after 7: a stale 200 (the write is not in it)"]
    assert w.tally.reads == 2


def test_the_store_s_approvals_and_payments_reach_the_cap_and_no_further(tmp_path):
    # Four large bills of one holder approved and paid through the office on a real SQLite
    # store: read back as the harness reads it, the year's total is exactly the cap.
    settings = make_settings(tmp_path)
    rid = resident_id()
    with open_back_office(settings) as backoffice:
        office = backoffice.office
        office.issue_card(stories.issue(rid, card_number(), region="110000"))
        office.pre_report_loss(stories.pre_report(rid))
        today = datetime.now(BEIJING).date()
        for _ in range(4):
            bill = claim_steps.bill(total=1_500_000)
            filed = claims.submit_claim(office, claim_steps.submit(rid, today, amounts=bill))
            claim = UUID(filed.claim_id)
            approved = claims.approve_claim(office, claim_steps.approve(claim))
            if approved.payable_fen:
                claims.pay_claim(office, claim_steps.pay(claim, f"PAY-{claim.hex[:8]}"))
        evidence = Evidence()
        read_store(backoffice, Topics(settings.topic_prefix), evidence)
    verdict = no_holder_over_annual_cap(evidence)
    assert verdict.holds, verdict.violations
    assert verdict.checked == 1
    assert sum(a.payable_fen for a in evidence.approvals) == CAP
    assert sum(evidence.paid_fen.values()) == CAP


def _claim(status: int, claim: str = "c-1", replayed: bool = False) -> Reply:
    return Reply(status, {"status": "recorded", "claim_id": claim, "version": 1}, replayed)


TAKEN = Reply(409, {"status": "refused", "code": "invoice_already_claimed"}, False)


def test_a_race_whose_winner_lost_its_201_is_answered_by_replays():
    # Seed 22 (PostgreSQL, 3 min): the recorded filing's answer was lost (a server killed, a
    # 503 after the commit); its retry was answered by replay. Both are right.
    same_key = [(_claim(200, replayed=True), True), (_claim(200, replayed=True), False)]
    winner, problem = race_outcome(True, same_key)
    assert problem is None
    assert winner == same_key[0][0]
    two_keys = [(TAKEN, False), (_claim(200, replayed=True), True)]
    assert race_outcome(False, two_keys) == (two_keys[1][0], None)
    assert race_outcome(False, [(_claim(201), False), (TAKEN, False)]) == (_claim(201), None)
    assert (
        race_outcome(True, [(_claim(201), False), (_claim(200, replayed=True), False)])[1] is None
    )


def test_a_race_that_records_the_invoice_twice_or_refuses_a_retry_is_a_finding():
    twice = [(_claim(201, "c-1"), False), (_claim(201, "c-2"), False)]
    assert race_outcome(False, twice)[1].startswith("2 claims acknowledged")
    same_claim_twice = [(_claim(201), False), (_claim(201), False)]
    assert race_outcome(True, same_claim_twice)[1].startswith("recorded twice")
    refused_retry = [(_claim(201), False), (TAKEN, False)]
    assert race_outcome(True, refused_retry)[1].startswith("refused")
    # With two keys, a replay needs a lost try of its own: else another request used its key.
    foreign = [(TAKEN, False), (_claim(200, replayed=True), False)]
    assert race_outcome(False, foreign)[1].startswith("a replay of a key never sent before")
    unreplayed = [(_claim(201), False), (_claim(200), False)]
    assert race_outcome(True, unreplayed)[1].startswith("a 200 that is no replay")
