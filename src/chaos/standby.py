"""On PostgreSQL, a second ``sscard run`` on the same store standing by: its relay waits on the
single-active lock (an advisory lock that dies with its session). The fault kills the active
run with -9 and measures how long the standby takes to become active; the killed one starts
again and stands by; then the spare stops (SIGTERM) and the first takes over again.

Who is active is read from the logs of each start (``tracking.runner``'s lines), not guessed: a
spare that started while the active one was itself starting may have won the lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.processes import RunProcess

STANDING_BY = "another relay is active on this store; standing by"
TOOK_OVER = "this one is active now"
# A standby retries the lock every 2 s (tracking.runner); a dead session's lock is free at once.
TAKEOVER_BOUND = 30.0
# Two `sscard run` (each worker with pools of its own) and the harness overran PostgreSQL's
# default of 100 connections ("too many clients", seed 60).
STANDBY_CONNECTIONS = 300
# Starting `sscard run` (imports, the store, the broker) on a busy machine.
START_BOUND = 180.0

Hold = Callable[[float], None]


@dataclass
class Takeovers:
    """Each takeover's seconds, and what went wrong (findings of the no-dead-worker check)."""

    seconds: list[float] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def timed(
        self, process: RunProcess, signalled: float, wait: Hold, say: Callable[[str], None],
        who: str, signal: str,
    ) -> None:  # fmt: skip
        """``process``'s takeover after the signal sent at ``signalled``: its seconds, or a
        finding if it did not come within the bound."""
        took = _since(signalled, wait_logged(process, TOOK_OVER, TAKEOVER_BOUND, wait))
        if took is None:
            bound = f"{TAKEOVER_BOUND:.0f} s"
            self.findings.append(f"{who} did not take over within {bound} of {signal}")
        else:
            self.seconds.append(took)
            say(f"  {who} took over {took:.1f} s after {signal}")


def wait_logged(process: RunProcess, text: str, bound: float, hold: Hold) -> float | None:
    """Seconds until this start of ``process`` logged ``text``; None if not within ``bound``."""
    started = time.monotonic()
    while not process.logged(text):
        if time.monotonic() - started >= bound or not process.alive():
            return None
        hold(0.2)
    return time.monotonic() - started


def _since(moment: float, logged: float | None) -> float | None:
    """Seconds from ``moment`` (the signal) to the takeover, if it came."""
    return None if logged is None else time.monotonic() - moment


def _standing_by(run: RunProcess, spare: RunProcess, hold: Hold) -> RunProcess | None:
    """The one of the two standing by, once one says so."""
    deadline = time.monotonic() + START_BOUND
    while time.monotonic() < deadline:
        for process in (spare, run):
            if process.alive() and process.logged(STANDING_BY):
                return process
        hold(0.5)
    return None


def take_over(
    run: RunProcess, spare: RunProcess, hold: float, wait: Hold, say: Callable[[str], None]
) -> Takeovers:
    found = Takeovers()
    spare.start()
    standby = _standing_by(run, spare, wait)
    if standby is None:
        found.findings.append(
            f"no sscard run stood by within {START_BOUND:.0f} s of the spare's start"
        )
        spare.terminate()
        return found
    active = spare if standby is run else run
    killed = time.monotonic()
    active.kill()
    found.timed(standby, killed, wait, say, "the standby sscard run", "the active one's kill -9")
    if active is spare:  # the spare had won the lock: the harness's run is active again
        return found
    run.start()  # the killed one comes back as the standby
    if wait_logged(run, STANDING_BY, START_BOUND, wait) is None:
        found.findings.append("the restarted sscard run did not stand by")
    wait(hold)
    stopped = time.monotonic()
    spare.terminate()  # the spare leaves cleanly: the first one is the active one again
    found.timed(run, stopped, wait, say, "sscard run", "the spare's SIGTERM")
    return found
