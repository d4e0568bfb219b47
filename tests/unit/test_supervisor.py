"""The supervisor of ``sscard run``: a failed worker is restarted with back-off; one that cannot
be restarted ends the run non-zero; a stop ends it promptly."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from service.supervisor import EXIT_GAVE_UP, Supervisor, Worker
from tracking.runner import Unrecoverable


def fast(workers: list[Worker], **options: float) -> Supervisor:
    return Supervisor(
        workers, first_backoff=0.01, max_backoff=0.05, stop_grace=0.5, poll=0.005, **options
    )


def test_a_failing_worker_is_restarted_with_back_off_and_logged(caplog: pytest.LogCaptureFixture):
    starts: list[float] = []
    stop = threading.Event()

    def flaky(worker_stop: threading.Event) -> None:
        starts.append(time.monotonic())
        if len(starts) < 3:
            raise ConnectionError("not yet")
        stop.set()  # third time lucky: end the run
        worker_stop.wait()

    supervisor = Supervisor([Worker("flaky", flaky)], first_backoff=0.2, poll=0.005)
    outcome = supervisor.run(stop)
    assert outcome.exit_code == 0
    assert len(starts) == 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4, f"back-off should double: {gaps}"
    failures = [r for r in caplog.records if "failed (ConnectionError: not yet)" in r.message]
    assert len(failures) == 2


def test_a_worker_failing_again_and_again_ends_the_run_non_zero(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)

    def broken(worker_stop: threading.Event) -> None:
        raise RuntimeError("always")

    started = time.monotonic()
    outcome = fast([Worker("broken", broken)], max_failures=4, window_seconds=60).run(
        threading.Event()
    )
    assert outcome.exit_code == EXIT_GAVE_UP
    assert time.monotonic() - started < 5
    assert any("failed 4 times" in r.message for r in caplog.records)


def test_an_unrecoverable_fault_ends_the_run_at_once(caplog: pytest.LogCaptureFixture):
    calls = []

    def conflicting(worker_stop: threading.Event) -> None:
        calls.append(1)
        raise Unrecoverable("topic t.settlement has cleanup.policy=delete")

    def healthy(worker_stop: threading.Event) -> None:
        worker_stop.wait()

    outcome = fast([Worker("relay", conflicting), Worker("lapses", healthy)]).run(threading.Event())
    assert outcome.exit_code == EXIT_GAVE_UP
    assert calls == [1], "an unrecoverable fault is not retried"
    assert outcome.abandoned == []  # the healthy worker was stopped with the run
    assert any("relay cannot continue" in r.message for r in caplog.records)


def test_a_worker_that_returns_on_its_own_counts_as_failed():
    runs = []

    def quitter(worker_stop: threading.Event) -> None:
        runs.append(1)

    outcome = fast([Worker("quitter", quitter)], max_failures=2).run(threading.Event())
    assert outcome.exit_code == EXIT_GAVE_UP
    assert len(runs) == 2


def test_a_stop_ends_the_run_within_the_grace_and_names_what_it_left():
    stop = threading.Event()

    def obedient(worker_stop: threading.Event) -> None:
        worker_stop.wait()

    release, finished = threading.Event(), threading.Event()

    def stuck(worker_stop: threading.Event) -> None:
        release.wait(timeout=120)  # e.g. blocked on a broker that does not answer
        finished.set()

    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    try:
        outcome = fast([Worker("obedient", obedient), Worker("stuck", stuck)]).run(stop)
        # The run ended while the stuck worker was still blocked: it did not wait for it. The
        # bound is only for a run that hangs, far above the 0.5 s grace on a loaded machine.
        assert not finished.is_set()
        assert time.monotonic() - started < 60
    finally:
        release.set()
    assert outcome.exit_code == 0
    assert outcome.abandoned == ["stuck"]


class OneFault:
    """A guard (``service.supervisor.Guard``) that finds one fault, then none."""

    def __init__(self, restores: bool) -> None:
        self.restores = restores
        self.found = False
        self.restored_with_workers_running: list[int] = []
        self.running = 0

    def fault(self) -> str | None:
        if self.found:
            return None
        self.found = True
        return "the view store was deleted"

    def restore(self) -> bool:
        self.restored_with_workers_running.append(self.running)
        return self.restores


def test_a_guarded_fault_stops_every_worker_restores_and_starts_them_again():
    guard = OneFault(restores=True)
    starts: list[str] = []
    stop = threading.Event()

    def worker(name: str) -> Worker:
        def run(worker_stop: threading.Event) -> None:
            starts.append(name)
            guard.running += 1
            try:
                if len(starts) == 4:  # both started twice: end the run
                    stop.set()
                worker_stop.wait()
            finally:
                guard.running -= 1

        return Worker(name, run)

    outcome = fast([worker("a"), worker("b")], guard=guard).run(stop)
    assert outcome.exit_code == 0
    assert sorted(starts) == ["a", "a", "b", "b"]
    assert guard.restored_with_workers_running == [0], "restored while a worker still ran"


def test_a_guarded_fault_that_cannot_be_restored_ends_the_run_non_zero(
    caplog: pytest.LogCaptureFixture,
):
    def idle(worker_stop: threading.Event) -> None:
        worker_stop.wait()

    outcome = fast([Worker("idle", idle)], guard=OneFault(restores=False)).run(threading.Event())
    assert outcome.exit_code == EXIT_GAVE_UP
    assert any("cannot be restored; stopping the back office" in r.message for r in caplog.records)
