"""The run's own ``sscard serve`` processes (the HTTP API) and the development tokens their clients
carry: each on a free port, over the run's store, killed with -9 by the nemesis and started again
on the same port (a client of a dead server turns to the other one, or waits for the restart)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from application.dev_tokens import issue_development_token
from application.tokens import TokenRequest, dev_key_dir
from chaos.processes import _dies_with_harness, run_environment, sscard_executable
from devinfra.ports import free_ports
from domain.authority import AccessRole, Principal
from service.settings import Settings

# The outlet of the HTTP clerks: an outlet of their own, so that the queue they read back holds
# their holders alone (the in-process clerks work at samples.stories.OUTLET).
HTTP_OUTLET = "BJ-HD-003"
# The longest a development token may live: a run of up to a day (one that expired mid-run
# would be refused, 401).
_TOKEN_TTL = timedelta(days=1)
_UP_WITHIN = 120.0


@dataclass(frozen=True)
class Tokens:
    """A bearer token per role the HTTP workload acts in."""

    clerk: str
    officer: str
    settlement: str


def mint_tokens(settings: Settings) -> Tokens:
    """Development tokens signed with the run's own key pair (in its state directory), made
    before any server starts so that each reads the key set once it exists."""

    def token(role: AccessRole, subject: str, outlet: str | None = None) -> str:
        principal = Principal(subject=subject, role=role, outlet=outlet)
        request = TokenRequest(principal=principal, ttl=_TOKEN_TTL)
        key_dir = dev_key_dir(settings.state_dir)
        return issue_development_token(request, key_dir, datetime.now(UTC)).token

    return Tokens(
        clerk=token(AccessRole.OUTLET_CLERK, "clerk-77", HTTP_OUTLET),
        officer=token(AccessRole.CLAIMS_OFFICER, "officer-77"),
        settlement=token(AccessRole.SETTLEMENT, "his-77"),
    )


class ServeProcess:
    """One ``sscard serve`` on a fixed port: started, killed -9 and started again; every start
    appends to one log. ``findings``: a server that died by itself or did not come up."""

    def __init__(self, settings: Settings, port: int, log: Path) -> None:
        self.settings, self.port, self.log = settings, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.findings: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== chaos: start {self.starts + 1} ===\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [*_dies_with_harness(), sscard_executable(), "serve", "--port", str(self.port)],
                env=run_environment(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_up(self, seconds: float = _UP_WITHIN) -> bool:
        """Whether it answers ``/healthz`` within ``seconds`` (a finding when it does not)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                break
            if _healthy(self.port):
                return True
            time.sleep(0.3)
        self.findings.append(
            f"sscard serve on port {self.port} did not come up (start {self.starts})"
        )
        return False

    def note_if_dead(self) -> None:
        """A server that exited although nobody stopped it: a finding, then started again."""
        if self.process is not None and self.process.poll() is not None:
            self.findings.append(
                f"sscard serve on port {self.port} (start {self.starts}) exited by itself "
                f"with code {self.process.returncode}"
            )
            self.start()

    def kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> None:
        """SIGTERM at the end of the run: it must exit 0 (uvicorn's graceful shutdown)."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.findings.append(f"sscard serve on port {self.port} ignored SIGTERM")
            self.kill()
            return
        if code != 0:
            self.findings.append(f"sscard serve on port {self.port} exited {code} on SIGTERM")


def serve_processes(settings: Settings, workdir: Path, count: int) -> list[ServeProcess]:
    ports = free_ports(count)
    return [
        ServeProcess(settings, port, workdir / f"serve-{n + 1}.log") for n, port in enumerate(ports)
    ]


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
