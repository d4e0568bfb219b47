"""The supervisor of ``sscard run``: runs each worker (the relay, the lapse scheduler; later the
consumers and the HTTP server) in a thread of its own, restarts one that fails, with back-off,
and ends the process non-zero when one cannot be restarted, so that a process manager restarts
the whole back office rather than leaving it running and doing nothing.

"Cannot be restarted" means: a fault no retry can mend (``Unrecoverable``, e.g. a topic whose
settings contradict ours), or ``max_failures`` failures of the same worker within
``window_seconds``. Outages of the database or Kafka are not failures: the workers' runners wait
them out themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tracking.runner import Unrecoverable

log = logging.getLogger(__name__)

EXIT_GAVE_UP = 3


@dataclass(frozen=True)
class Worker:
    name: str
    # Runs until the event is set; returning early or raising is a failure.
    run: Callable[[threading.Event], None]


@dataclass
class _Running:
    worker: Worker
    thread: threading.Thread | None = None
    error: BaseException | None = None
    failures: list[float] = field(default_factory=list)
    restart_at: float | None = None

    def start(self, stop: threading.Event) -> None:
        self.error, self.restart_at = None, None

        def target() -> None:
            try:
                self.worker.run(stop)
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, name=self.worker.name, daemon=True)
        self.thread.start()


class Guard(Protocol):
    """A fault under every worker at once (the view store's file deleted or replaced): checked
    on every round, and mended with every worker stopped (``tracking.store_identity``)."""

    def fault(self) -> str | None:
        """What is wrong, if anything."""

    def restore(self) -> bool:
        """Mend it (every worker is stopped); False if it cannot be."""


@dataclass
class Outcome:
    exit_code: int
    # Workers still running when the stop grace ran out (abandoned mid-step, which is safe:
    # positions move only after the effect, so the step is redone by the next start).
    abandoned: list[str]


class Supervisor:
    def __init__(
        self,
        workers: Sequence[Worker],
        *,
        max_failures: int = 5,
        window_seconds: float = 300.0,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stop_grace: float = 1.5,
        poll: float = 0.1,
        guard: Guard | None = None,
        mend_grace: float = 30.0,
    ) -> None:
        self._workers = [_Running(w) for w in workers]
        self._guard = guard
        self.mend_grace = mend_grace
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.stop_grace = stop_grace
        self.poll = poll

    def run(self, stop: threading.Event) -> Outcome:
        """Until ``stop`` is set (exit 0) or a worker cannot be restarted (exit 3)."""
        workers_stop = threading.Event()
        for running in self._workers:
            running.start(workers_stop)
        exit_code = 0
        while not stop.wait(self.poll):
            mended = self._guarded(workers_stop)
            if mended is None or self._check(mended):
                exit_code = EXIT_GAVE_UP
                break
            workers_stop = mended
        workers_stop.set()
        return Outcome(exit_code, self._join())

    def _guarded(self, workers_stop: threading.Event) -> threading.Event | None:
        """The workers' stop event: the same, or a new one when they were stopped for the
        guard to mend its fault and started again; None when it could not be mended."""
        fault = None if self._guard is None else self._guard.fault()
        if fault is None or self._guard is None:
            return workers_stop
        log.error("%s: stopping every worker to restore it", fault)
        workers_stop.set()
        busy = self._join(self.mend_grace)
        if busy:
            log.error(
                "%s still busy after %.0f s; cannot restore", ", ".join(busy), self.mend_grace
            )
        if busy or not self._guard.restore():
            log.error(
                "the view store cannot be restored; stopping the back office. Start it again "
                "and run `sscard replay VIEW` for every view (the relay publishes again from "
                "the start, and the log chain is made anew)"
            )
            return None
        fresh = threading.Event()
        for running in self._workers:
            running.failures.clear()
            running.start(fresh)
        log.info("every worker started again on the restored view store")
        return fresh

    def _check(self, workers_stop: threading.Event) -> bool:
        now = time.monotonic()
        for running in self._workers:
            if running.restart_at is not None:
                if now >= running.restart_at:
                    log.info("%s: starting again", running.worker.name)
                    running.start(workers_stop)
                continue
            assert running.thread is not None
            if running.thread.is_alive():
                continue
            name, error = running.worker.name, running.error
            if isinstance(error, Unrecoverable):
                log.error("%s cannot continue: %s; stopping the back office", name, error)
                return True
            reason = (
                "returned although nobody asked it to stop"
                if error is None
                else f"{type(error).__name__}: {error}"
            )
            running.failures = [t for t in running.failures if now - t < self.window_seconds]
            running.failures.append(now)
            count = len(running.failures)
            if count >= self.max_failures:
                log.error(
                    "%s failed %d times within %.0f s (last: %s); giving up, stopping the back "
                    "office",
                    name,
                    count,
                    self.window_seconds,
                    reason,
                )
                return True
            delay = min(self.first_backoff * 2 ** (count - 1), self.max_backoff)
            log.error(
                "%s failed (%s); restarting in %.0f s (failure %d of %d allowed within %.0f s)",
                name,
                reason,
                delay,
                count,
                self.max_failures,
                self.window_seconds,
                exc_info=error,
            )
            running.restart_at = now + delay
        return False

    def _join(self, grace: float | None = None) -> list[str]:
        deadline = time.monotonic() + (self.stop_grace if grace is None else grace)
        abandoned = []
        for running in self._workers:
            if running.thread is None:
                continue
            running.thread.join(timeout=max(deadline - time.monotonic(), 0))
            if running.thread.is_alive():
                abandoned.append(running.worker.name)
        return abandoned
