"""The nemesis: applies the schedule's faults to the run's own processes, one at a time, each no
earlier than its time, and leaves everything running when it is done."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.process_faults import ProcessFaults
from chaos.processes import PrivateBroker, RunProcess
from chaos.schedule import Fault, FaultKind
from chaos.serve import ServeProcess
from chaos.subscriber_watch import BrokerTimeline
from devinfra.pg_cluster import PrivateCluster


@dataclass
class Nemesis:
    run: RunProcess
    broker: PrivateBroker
    # The run's own PostgreSQL cluster (None on SQLite: no database faults are drawn then).
    database: PrivateCluster | None = None
    # Called often while the nemesis waits (the terminal's progress line, the run's health).
    tick: Callable[[], None] = lambda: None
    applied: list[Fault] = field(default_factory=list)
    # chaos-procs: the faults of processes beside `sscard run` (chaos.process_faults).
    processes: ProcessFaults | None = None
    # chaos-http: the run's `sscard serve` processes (none: serve kills change nothing).
    serves: list[ServeProcess] = field(default_factory=list)
    # The broker's outages as the settlement subscriber's freshness is judged against them
    # (chaos.freshness): down once the fault has taken it away, up when it is brought back.
    timeline: BrokerTimeline = field(default_factory=BrokerTimeline)
    # The switch to a new topic set (chaos.fresh_topics), given the hold; None: not drawn.
    fresh_topics: Callable[[Callable[[], None]], None] | None = None

    def apply(self, schedule: list[Fault], started: float, until: float) -> None:
        """Every fault whose time comes before ``until`` (monotonic seconds); a fault that comes
        late because the previous one took long (a broker's restart) is applied at once."""
        for fault in schedule:
            if started + fault.at >= until:
                break
            self._wait_until(started + fault.at)
            self.run.note_if_dead()
            self._inflict(fault)
            self.applied.append(fault)
        self._wait_until(until)

    def _inflict(self, fault: Fault) -> None:
        kind = fault.kind
        # chaos-procs: a second consumer, a poison message, a standby's takeover.
        if self.processes is not None and self.processes.inflict(fault, self._hold):
            return
        if kind is FaultKind.RUN_KILL:
            self.run.kill()
            self._hold(fault.hold)
            self.run.start()
        elif kind is FaultKind.RUN_TERM:
            self.run.terminate()
            self._hold(fault.hold)
            self.run.start()
        elif kind is FaultKind.BROKER_KILL:
            self.broker.kill()
            self.timeline.down(kind.value)
            self._hold(fault.hold)
            self.timeline.up()
            self.broker.start()
        elif kind is FaultKind.BROKER_STOP:
            self.broker.stop()
            self.timeline.down(kind.value)
            self._hold(fault.hold)
            self.timeline.up()
            self.broker.start()
        elif kind is FaultKind.BROKER_PAUSE:
            self.broker.pause()
            self.timeline.down(kind.value)
            try:
                self._hold(fault.hold)
            finally:
                self.timeline.up()
                self.broker.resume()
        elif kind is FaultKind.POSTGRES_RESTART and self.database is not None:
            self.database.restart()
            self._hold(fault.hold)
        elif kind is FaultKind.POSTGRES_STOP and self.database is not None:
            self.database.stop()
            try:
                self._hold(fault.hold)
            finally:
                self.database.start()
        elif kind is FaultKind.SERVE_KILL and self.serves:  # chaos-http
            # Which server: from the fault's time, so that a replayed seed kills the same one.
            serve = self.serves[round(fault.at * 10) % len(self.serves)]
            serve.kill()
            self._hold(fault.hold)
            serve.start()
        # Fresh topics (chaos.fresh_topics): the operator's switch to a new topic set.
        elif kind is FaultKind.FRESH_TOPICS and self.fresh_topics is not None:
            self.fresh_topics(lambda: self._hold(fault.hold))

    def restore(self) -> None:
        """Everything running again, whatever the last fault left (the settling starts here)."""
        self.broker.resume()
        self.broker.start()
        self.run.note_if_dead()
        for serve in self.serves:  # chaos-http
            serve.note_if_dead()

    def _hold(self, seconds: float) -> None:
        self._wait_until(time.monotonic() + seconds)

    def _wait_until(self, moment: float) -> None:
        while (left := moment - time.monotonic()) > 0:
            self.tick()
            time.sleep(min(left, 1.0))
