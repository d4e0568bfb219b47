"""The run's own ``sscard serve`` processes (the HTTP API) and the development tokens their clients
carry: each on a free port, over the run's store, killed with -9 by the nemesis and started again
on the same port (a client of a dead server turns to the other one, or waits for the restart)."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from application.dev_tokens import issue_development_token
from application.tokens import TokenRequest, dev_key_dir
from chaos.processes import RunProcess
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


class ServeProcess(RunProcess):
    """One ``sscard serve`` on a fixed port: started, killed -9 and started again; every start
    appends to one log. ``findings``: a server that died by itself, did not come up or did not
    stop with exit 0 on SIGTERM."""

    announcement = b"Application startup complete"

    def __init__(self, settings: Settings, port: int, log: Path) -> None:
        super().__init__(settings, log, ("serve", "--port", str(port)))
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
