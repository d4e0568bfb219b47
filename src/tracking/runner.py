"""The one runner every follower runs under: it owns waiting, back-off, outages, the
single-active lock and standby, so that no follower has a retry loop of its own.

Everything a step does is inside the error handling: the source's idle wait, its reads, the
handler, the position write, the lock check. An error of a dependency (the database, Kafka) is
an outage: logged once when it starts, with its real length when it ends; the step is retried
with back-off on fresh connections. A source that finds a dependency gone without an error of
its own (a Kafka consumer's poll just returns nothing while the broker is down) raises
``DependencyDown`` with the moment it lost it, so the outage is dated from then. A source may
also report a condition in which it runs but does no work (``Conditioned``: a consumer holding
no partition); the board shows it in place of "running".

The single-active lock (a PostgreSQL advisory lock dies with its session) is checked before
every batch and taken again after an outage, or the runner stands by. Any other error ends
``run``; the supervisor decides whether to start it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from tracking.board import RUNNING, STANDBY, STARTING, STOPPED, Board
from tracking.follow import Follower
from tracking.store import ExclusiveLock, is_store_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dependency:
    """Something a runner waits out while it is down."""

    name: str  # as a sentence says it: "the database", "Kafka"
    matches: Callable[[BaseException], bool] = field(compare=False)

    @property
    def waiting_state(self) -> str:
        return f"waiting for {self.name}"


DATABASE = Dependency("the database", is_store_error)


class DependencyDown(Exception):
    """Raised by a source that noticed a dependency gone by itself: ``since`` (on
    time.monotonic) is when it was last seen, the start of the outage."""

    def __init__(self, message: str, since: float) -> None:
        super().__init__(message)
        self.since = since


@runtime_checkable
class Conditioned(Protocol):
    """A source that can tell it runs without doing its work."""

    def condition(self) -> tuple[str, str] | None:
        """(board state, detail) while it does no work; None while all is well."""


class Unrecoverable(Exception):
    """A fault no retry can mend (e.g. a topic whose settings contradict ours): the process
    must stop and say why."""


class Abandoned(Exception):
    """Asked to stop in the middle of a batch: the batch was left unrecorded, so it is sent
    again by whichever runner comes next (a duplicate at worst, never a loss)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}".strip()


class Pulse:
    """What a handler may ask of, or tell, its runner while it works on a batch."""

    def __init__(self, runner: Runner | None, stop: threading.Event) -> None:
        self._runner = runner
        self._stop = stop

    @classmethod
    def quiet(cls) -> Pulse:
        """For a follower driven outside a runner (a one-off catch-up)."""
        return cls(None, threading.Event())

    def stopping(self) -> bool:
        return self._stop.is_set()

    def waiting(self, dependency: Dependency, since: float, reason: str) -> None:
        """The handler is blocked on ``dependency`` since ``since`` (time.monotonic)."""
        if self._runner is not None:
            self._runner.outage(dependency, since, reason)

    def note(self, message: str) -> None:
        name = self._runner.name if self._runner is not None else "follower"
        log.info("%s: %s", name, message)


class Runner:
    """Runs one worker until ``stop``: a follower, an optional periodic task, or both."""

    MIN_BACKOFF = 0.25

    def __init__(
        self,
        name: str,
        *,
        follower: Follower[Any, Any] | None = None,
        board: Board | None = None,
        lock: ExclusiveLock | None = None,
        dependencies: Sequence[Dependency] = (DATABASE,),
        prepare: Callable[[], None] | None = None,
        reset: Callable[[Dependency], None] | None = None,
        every: tuple[float, Callable[[], None]] | None = None,
        live: bool = True,
        idle_wait: float = 0.5,
        standby_retry: float = 2.0,
        # A database restart or a broker bounce takes seconds: retry at least this often.
        max_backoff: float = 5.0,
        heartbeat: float = 5.0,
    ) -> None:
        self.name = name
        self.follower = follower
        self.board = board
        self.lock = lock
        self.dependencies = tuple(dependencies)
        self._prepare = prepare
        self._reset = reset
        self._every = every
        self._live = live
        self.idle_wait = idle_wait
        self.standby_retry = standby_retry
        self.max_backoff = max_backoff
        self.heartbeat = heartbeat
        # dependency name -> (dependency, when its outage began, on time.monotonic)
        self._outages: dict[str, tuple[Dependency, float]] = {}
        self._standing_by = False
        self._announced = False

    # ---- the loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        pulse = Pulse(self, stop)
        backoff = self.MIN_BACKOFF
        prepared = False
        next_tick = time.monotonic()
        self._state(STARTING)
        try:
            while not stop.is_set():
                attempt = time.monotonic()
                try:
                    if not prepared:
                        self._prepare_once()
                        prepared = True
                    if self.lock is not None and not self._active(stop):
                        continue
                    handled = self._step(pulse)
                    if self._every is not None and time.monotonic() >= next_tick:
                        self._every[1]()
                        next_tick = time.monotonic() + self._every[0]
                    self._recovered()
                    backoff = self.MIN_BACKOFF
                    if handled is not None:
                        continue  # more may be waiting: no idle wait while behind
                    self._idle(stop, next_tick)
                except (Abandoned, Unrecoverable):
                    raise
                except Exception as exc:
                    dependency = self._dependency_of(exc)
                    if dependency is None:
                        raise
                    since = exc.since if isinstance(exc, DependencyDown) else attempt
                    self.outage(dependency, since, _reason(exc))
                    log.debug("%s: %s still unavailable: %s", self.name, dependency.name, exc)
                    self._after_error(dependency)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
        except Abandoned:
            log.info("%s: stopped mid-batch; the batch is sent again on the next start", self.name)
        finally:
            self._release()

    def _prepare_once(self) -> None:
        if self._prepare is not None:
            self._prepare()
        if self.follower is not None:
            self.follower.prepare()

    def _step(self, pulse: Pulse) -> int | None:
        if self.follower is None:
            return None
        if self.lock is not None:
            self.lock.check()  # a lock that died with its session must not publish
        handled = self.follower.step(pulse)
        if not self._announced:
            self._announced = True
            log.info(
                "%s running: position %s, %d behind",
                self.name,
                self.follower.position(),
                self.follower.lag(),
            )
        self._state(*self._condition())
        return handled

    def _condition(self) -> tuple[str, str]:
        source = self.follower.source if self.follower is not None else None
        if isinstance(source, Conditioned):
            found = source.condition()
            if found is not None:
                return found
        return RUNNING, ""

    def _idle(self, stop: threading.Event, next_tick: float) -> None:
        now = time.monotonic()
        timeout = min(self.heartbeat, self.idle_wait) if self._live else self.heartbeat
        if self._every is not None:
            # Without a periodic task there is no tick to wake for: waiting on a tick long
            # past would never wait at all (a busy loop).
            timeout = min(timeout, max(next_tick - now, 0))
        if self._live and self.follower is not None:
            self.follower.source.wait(self.follower.position(), timeout)
        else:
            stop.wait(timeout)
        if self.board is not None:
            self.board.set(self.board.state, self.board.detail)  # the heartbeat, when it is due

    # ---- single-active ---------------------------------------------------------------------

    def _active(self, stop: threading.Event) -> bool:
        assert self.lock is not None
        if self.lock.acquire():
            if self._standing_by:
                log.info("%s: the other %s is gone; this one is active now", self.name, self.name)
                self._standing_by = False
            return True
        if not self._standing_by:
            log.info("%s: another %s is active on this store; standing by", self.name, self.name)
            self._standing_by = True
        self._state(STANDBY, f"another {self.name} is active")
        stop.wait(self.standby_retry)
        return False

    def _release(self) -> None:
        if self.lock is not None:
            try:
                self.lock.release()
            except Exception:  # the session is gone, and the lock with it
                log.debug("%s: releasing the lock failed", self.name, exc_info=True)
        self._state(STOPPED)

    # ---- outages ---------------------------------------------------------------------------

    def _dependency_of(self, exc: BaseException) -> Dependency | None:
        return next((d for d in self.dependencies if d.matches(exc)), None)

    def outage(self, dependency: Dependency, since: float, reason: str) -> None:
        """Log an outage once, when it is first seen; ``since`` is when the failing attempt
        began, so the length reported at the end is the real one."""
        if dependency.name not in self._outages:
            self._outages[dependency.name] = (dependency, since)
            log.warning(
                "%s: %s unavailable (%s); waiting for it, retrying with back-off",
                self.name,
                dependency.name,
                reason[:200],
            )
        began = self._outages[dependency.name][1]
        self._state(dependency.waiting_state, reason[:200], _wall_clock(began))

    def _recovered(self) -> None:
        if not self._outages:
            return
        now = time.monotonic()
        for dependency, since in self._outages.values():
            behind = f"; {self.follower.lag()} behind" if self.follower is not None else ""
            log.info("%s: %s back after %.1f s%s", self.name, dependency.name, now - since, behind)
        self._outages.clear()
        self._state(*self._condition())

    def _after_error(self, dependency: Dependency) -> None:
        if self.follower is not None:
            self.follower.forget()
            self.follower.source.reset()
        if dependency is DATABASE and self.lock is not None:
            try:
                self.lock.check()  # a dead session drops the lock: taken again on the next step
            except Exception:
                log.debug("%s: the lock's session is gone", self.name)
        if self._reset is not None:
            self._reset(dependency)

    def _state(self, state: str, detail: str = "", since: datetime | None = None) -> None:
        if self.board is not None:
            self.board.set(state, detail, since)


def _wall_clock(monotonic: float) -> datetime:
    """A time.monotonic() instant on the wall clock (UTC)."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - monotonic)
