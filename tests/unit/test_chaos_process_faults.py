"""The checks of the faults beside ``sscard run``: a worker unhealthy, left dead (its name no
longer run by the live process) or lingering (a gone process's worker still shown running), a
dead letter left; the second consumer's view and way of leaving replayed by the seed."""

from __future__ import annotations

import time
from typing import cast

from application.status_results import WorkerState
from chaos.health import worker_findings
from chaos.invariants import Evidence, check_all, no_dead_letter_left
from chaos.members import drawn
from chaos.poison import is_poison
from chaos.processes import RunProcess
from chaos.schedule import POSTGRES_ONLY, Fault, FaultKind, draw_schedule
from chaos.standby import TAKEOVER_BOUND, TOOK_OVER, Takeovers
from projections.catalogue import VIEW_NAMES

LIVE, GONE = 4242, 1717


def _worker(name: str, pid: int, state: str = "running", silent: bool = False) -> WorkerState:
    return WorkerState(
        worker=f"{name}@host:{pid}",
        state=state,
        detail="" if state == "running" else "why",
        since="2026-12-07T10:00:00+08:00",
        seconds_in_state=1.0,
        silent_seconds=20.0 if silent else 1.0,
        silent=silent,
        healthy=state not in ("failed", "holding no partition") or silent,
    )


def _live() -> list[WorkerState]:
    return [_worker("relay", LIVE), _worker("lapses", LIVE), _worker("outlet_queue", LIVE)]


def test_a_live_run_with_every_worker_running_has_no_finding():
    gone = [_worker("relay", GONE, silent=True), _worker("outlet_queue", GONE, "stopped")]
    assert worker_findings(_live() + gone, LIVE) == []


def test_a_consumer_holding_no_partition_is_a_finding():
    workers = [*_live()[:2], _worker("outlet_queue", LIVE, "holding no partition")]
    (finding,) = worker_findings(workers, LIVE)
    assert "outlet_queue@host:4242 is holding no partition" in finding


def test_a_worker_the_live_run_no_longer_runs_is_left_dead():
    workers = [*_live()[:2], _worker("outlet_queue", GONE, silent=True)]
    assert worker_findings(workers, LIVE) == [
        "outlet_queue: no worker of that name in the live sscard run (pid 4242)"
    ]


def test_a_worker_of_a_gone_process_still_shown_running_lingers():
    (finding,) = worker_findings([*_live(), _worker("relay", GONE, "standby")], LIVE)
    assert finding.startswith("relay@host:1717 still shown standby")


def test_a_dead_letter_left_is_a_violation_among_all_checks():
    evidence = Evidence(dead_letters_checked=3)
    assert no_dead_letter_left(evidence).holds
    evidence.dead_letters_left = ["outlet_queue: key chaos-poison-1 parked"]
    verdicts = {v.name: v for v in check_all(evidence)}
    assert not verdicts["no dead letter left"].holds


def test_the_seed_draws_the_second_consumer_s_view_and_way_of_leaving():
    fault = Fault(12.5, FaultKind.CONSUMER_JOIN, 9.0)
    assert drawn(31, fault) == drawn(31, fault)
    draws = {drawn(seed, fault) for seed in range(40)}
    assert {view for view, _ in draws} == set(VIEW_NAMES)
    assert {killed for _, killed in draws} == {True, False}


def test_the_standby_is_drawn_on_postgresql_only():
    assert FaultKind.STANDBY_TAKEOVER in POSTGRES_ONLY
    assert all(f.kind is not FaultKind.STANDBY_TAKEOVER for f in draw_schedule(5, 30))


def test_only_the_nemesis_s_poison_keys_are_left_out_of_the_topic_checks():
    assert is_poison("chaos-poison-31-1")
    assert not is_poison("00000000-0000-0000-0000-000000000001")


class _Logging:
    """A started ``sscard run`` as ``chaos.standby`` sees it: its log, polled, and whether it
    lives; it logs the takeover on the poll given (never: None)."""

    def __init__(self, logs_on: int | None, alive: bool = True) -> None:
        self.polls, self.logs_on, self.lives = 0, logs_on, alive

    def logged(self, text: str) -> bool:
        self.polls += 1
        return text == TOOK_OVER and self.logs_on is not None and self.polls >= self.logs_on

    def alive(self) -> bool:
        return self.lives


def test_a_takeover_is_timed_from_the_signal_and_one_that_never_comes_is_a_finding():
    found, said = Takeovers(), []
    signalled = time.monotonic() - 2.0  # the signal went two seconds ago
    came, never = _Logging(logs_on=3), _Logging(logs_on=None, alive=False)
    found.timed(cast(RunProcess, came), signalled, lambda _s: None, said.append, "spare", "kill")
    assert len(found.seconds) == 1
    assert found.seconds[0] >= 2.0
    assert found.findings == []
    assert said[0].startswith("  spare took over 2.")
    found.timed(cast(RunProcess, never), signalled, lambda _s: None, said.append, "run", "stop")
    assert found.findings == [f"run did not take over within {TAKEOVER_BOUND:.0f} s of stop"]
    assert len(found.seconds) == 1
    assert len(said) == 1
