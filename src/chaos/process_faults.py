"""The faults of processes beside ``sscard run``'s own (a second consumer joining a view's
group, a poison message on a view's topic, a standby run taking over on PostgreSQL), and what is
checked of them once the run settled: ``sscard status`` healthy with no worker left dead or
lingering, the poison parked and then discarded, no dead letter left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from application.operations import status
from application.results import plural
from chaos import members, poison, standby
from chaos.evidence import scan_logs
from chaos.health import worker_findings
from chaos.invariants import Evidence
from chaos.processes import RunProcess
from chaos.schedule import Fault, FaultKind
from projections.catalogue import VIEW_NAMES
from service.settings import Settings
from tracking.board import SILENT_SECONDS

Say = Callable[[str], None]
Hold = Callable[[float], None]

KINDS = frozenset({FaultKind.CONSUMER_JOIN, FaultKind.POISON, FaultKind.STANDBY_TAKEOVER})
# After the settling: how long the live run may take to show every worker healthy (a member
# killed -9 near the end leaves its partitions after the session timeout, its row silent after
# SILENT_SECONDS).
_HEALTHY_BOUND = 4 * SILENT_SECONDS + 30.0


@dataclass
class ProcessFaults:
    settings: Settings
    workdir: Path
    run: RunProcess
    seed: int
    say: Say = print
    poisons: set[str] = field(default_factory=set)
    discarded: int = 0
    takeovers: list[float] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    members: int = 0

    def __post_init__(self) -> None:
        self.spare = RunProcess(self.settings, self.workdir / "standby.log")

    def use(self, settings: Settings) -> None:
        """After a fresh start on new topics: what starts or sends from now on uses them."""
        self.settings = settings
        self.spare.settings = settings

    @property
    def logs(self) -> list[Path]:
        return [self.workdir / "members.log", self.spare.log]

    def inflict(self, fault: Fault, hold: Hold) -> bool:
        """Apply ``fault`` if it is one of these kinds (True), else leave it (False)."""
        if fault.kind is FaultKind.CONSUMER_JOIN:
            log = self.workdir / "members.log"
            self.findings += members.join_and_leave(
                self.settings, log, self.seed, fault, hold, self.say
            )
            self.members += 1
        elif fault.kind is FaultKind.POISON:
            key = f"{poison.KEY_PREFIX}{self.seed}-{len(self.poisons) + 1}"
            try:
                poison.inject(self.settings, key)
            except Exception as error:  # the nemesis's own producer; not the back office's fault
                self.say(f"  the poison could not be sent: {error}")
            else:
                self.poisons.add(key)
            hold(fault.hold)
            self._discard()
        elif fault.kind is FaultKind.STANDBY_TAKEOVER:
            found = standby.take_over(self.run, self.spare, fault.hold, hold, self.say)
            self.takeovers += found.seconds
            self.findings += found.findings
            self.findings += [f"the standby: {finding}" for finding in self.spare.findings]
            self.spare.findings.clear()
        else:
            return False
        return True

    def _discard(self) -> None:
        """The operator's discard of every poison parked so far; one not parked yet (its views
        behind a fault) is discarded later."""
        try:
            self.discarded += poison.discard(self.settings, self.poisons)
        except Exception as error:  # the store or broker down under another fault's wake
            self.say(f"  discarding the poison failed for now: {error}")

    def stop_all(self) -> None:
        if self.spare.alive():
            self.spare.kill()

    def settled(self, evidence: Evidence) -> None:
        """After the views were verified (their consumers caught up) and before `sscard run`
        stops: the poison's last parked copies discarded, then no dead letter left and every
        worker healthy, none left dead or lingering."""
        self.stop_all()
        if self.poisons:
            self._discard()
            self.say(
                f"chaos: {plural(len(self.poisons), 'poison message')} injected, "
                f"{plural(self.discarded, 'parked copy', 'parked copies')} discarded"
            )
        if self.takeovers:
            self.say(
                "chaos: standby takeovers in "
                + ", ".join(f"{s:.1f}" for s in self.takeovers)
                + f" s (bound {standby.TAKEOVER_BOUND:.0f} s)"
            )
        evidence.dead_letters_left = poison.parked(self.settings)
        evidence.dead_letters_checked = len(VIEW_NAMES)
        evidence.processes_checked += self.members + len(self.takeovers)
        evidence.process_findings += self.findings + self._workers()
        scan_logs([log for log in self.logs if log.exists()], evidence)

    def _workers(self) -> list[str]:
        """``sscard status``'s workers, until the live run shows all healthy (bounded)."""
        process = self.run.process
        if process is None or not self.run.alive():
            return ["sscard run is not running at the end"]
        deadline = time.monotonic() + _HEALTHY_BOUND
        while True:
            try:
                found = worker_findings(status(self.settings).workers, process.pid)
            except Exception as error:
                found = [f"sscard status failed: {error}"]
            if not found or time.monotonic() >= deadline:
                return [f"sscard status: {line}" for line in found]
            time.sleep(2.0)
