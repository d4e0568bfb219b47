"""The HTTP API's part of a run: two ``sscard serve`` processes of the run's own, their clients
(``chaos.http_workload``), and what they contribute to the evidence and the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chaos.evidence import scan_logs
from chaos.http_workload import HttpWorkload
from chaos.invariants import Evidence
from chaos.journal import Journal
from chaos.serve import ServeProcess, mint_tokens, serve_processes
from service.settings import Settings

Say = Callable[[str], None]

SERVERS = 2


class HttpSide:
    def __init__(
        self, settings: Settings, journal: Journal, workdir: Path, seed: int, pace: float
    ) -> None:
        self.settings, self.journal, self.workdir = settings, journal, workdir
        self.seed, self.pace = seed, pace
        self.serves: list[ServeProcess] = []
        self.workload: HttpWorkload | None = None

    def start(self, say: Say) -> None:
        """The servers up (tokens minted first), then the clients; nothing where development
        tokens are refused (a production caller's run has no token to give them)."""
        if not self.settings.dev_tokens_allowed:
            say("chaos: development tokens are refused here: no HTTP clients in this run")
            return
        tokens = mint_tokens(self.settings)
        self.serves = serve_processes(self.settings, self.workdir, SERVERS)
        for serve in self.serves:
            serve.start()
        if not all(serve.wait_up() for serve in self.serves):
            return  # a finding each; the run goes on without HTTP clients
        ports = ", ".join(str(s.port) for s in self.serves)
        say(f"chaos: sscard serve is up on ports {ports}; HTTP clients start")
        self.workload = HttpWorkload(
            [s.port for s in self.serves], tokens, self.journal, self.seed, self.pace
        )
        self.workload.start()

    @property
    def acknowledged(self) -> int:
        return 0 if self.workload is None else self.workload.tally.acknowledged

    def progress(self) -> str:
        if self.workload is None:
            return ""
        t = self.workload.tally
        return f" http={t.acknowledged} (retried {t.retried}, reads {t.reads})"

    def stop(self) -> None:
        if self.workload is not None:
            self.workload.stop.set()
            self.workload.join(timeout=180)
            if self.workload.is_alive():
                self.workload.findings.append("the HTTP clients did not stop within 180 s")

    def finish(self) -> None:
        """An operator's stop at the end (each must exit 0), or a kill if the run failed."""
        for serve in self.serves:
            serve.note_if_dead()
            serve.terminate()

    def kill(self) -> None:
        self.stop()
        for serve in self.serves:
            if serve.alive():
                serve.kill()

    def contribute(self, evidence: Evidence) -> None:
        if self.workload is not None:
            w = self.workload
            evidence.client_findings += [f"http: {finding}" for finding in w.findings]
            if w.error is not None:
                evidence.client_findings.append(f"the HTTP clients stopped: {w.error!r}")
            evidence.retries_checked += w.tally.resent + w.tally.reads
        for serve in self.serves:
            evidence.processes_checked += serve.starts
            evidence.process_findings += serve.findings
        scan_logs([serve.log for serve in self.serves], evidence)

    def report(self, say: Say) -> None:
        if self.workload is None:
            return
        t = self.workload.tally
        refused = ", ".join(f"{what} {n}" for what, n in sorted(t.refused.items()))
        say(
            f"HTTP commands acknowledged: {t.acknowledged} (retried through errors {t.retried}, "
            f"of which answered as replays {t.replayed_after_error}; sent again with the same "
            f"key {t.resent}); reads after writes: {t.reads} checked, {t.view_behind} "
            f"view_behind; duplicate-invoice races {t.duplicate_races}, approval races "
            f"{t.approval_races}; refused: {refused or 'none'}"
        )
