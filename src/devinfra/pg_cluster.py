"""A PostgreSQL cluster of a caller's own (a test, a chaos run), to restart and stop without
disturbing anyone else.

Debian's cluster tools make one in seconds (notes/postgresql.md): a unique name, a free port,
dropped at the end. Needs root (this project's machines run tests as root).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from devinfra.local_postgres import runuser
from devinfra.ports import free_ports

MAX_CONNECTIONS = 300


def _version() -> str:
    """The installed major version: the folder under /etc/postgresql (Debian's layout)."""
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: int(v.split(".")[0]))
    return versions[-1]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@dataclass
class PrivateCluster:
    name: str = field(default_factory=lambda: f"sscard_{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=lambda: free_ports(1)[0])
    version: str = field(default_factory=_version)
    database: str = "faults"

    @property
    def url(self) -> str:
        return f"postgresql://sscard:sscard@127.0.0.1:{self.port}/{self.database}"

    def create(self) -> None:
        _run(
            "pg_createcluster",
            self.version,
            self.name,
            "--port",
            str(self.port),
            # A chaos run's `sscard run` alone holds some 75 connections (its workers' pools),
            # its `sscard serve` processes and the harness more: Debian's 100 is too few.
            "-o",
            f"max_connections={MAX_CONNECTIONS}",
        )
        self.start()
        for statement in (
            "CREATE ROLE sscard LOGIN PASSWORD 'sscard' SUPERUSER",
            f"CREATE DATABASE {self.database} OWNER sscard",
        ):
            _run(runuser(), "-u", "postgres", "--", "psql", "-p", str(self.port), "-c", statement)

    def _ctl(self, action: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action)

    def start(self) -> None:
        self._ctl("start")
        self.wait_until_answering()

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("restart")

    def wait_until_answering(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres "
                    "password=unused connect_timeout=2",
                ):
                    return
            except psycopg.OperationalError as exc:
                # Refused or starting up: wait. A password failure means it answers.
                if "password" in str(exc) or "authentication" in str(exc):
                    return
                if time.monotonic() > deadline:
                    raise

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name],
            check=False,
            capture_output=True,
            timeout=120,
        )
