"""The processes a run owns and hurts: ``sscard run`` (a subprocess in a group of its own) and a
private Kafka broker on free ports (``devinfra.local_kafka``), so that no fault ever touches a
server anybody else uses."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devinfra.local_kafka import LocalKafka
from devinfra.ports import free_ports
from service.settings import Settings

# What a run's `sscard run` must not inherit from the caller's shell: the caller's store,
# broker, security and tuning are not the run's.
_FOREIGN_PREFIXES = ("SSCARD_", "POSTGRES_", "KAFKA_", "DATABASE_URL")


def sscard_executable() -> str:
    beside = Path(sys.executable).parent / "sscard"
    found = str(beside) if beside.exists() else shutil.which("sscard")
    if found is None:
        raise RuntimeError("the sscard command is not installed beside this Python")
    return found


def run_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes ``sscard`` use exactly the run's store, topics and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
    env |= {
        "SSCARD_ENV": settings.env,
        "SSCARD_DATA_DIR": str(settings.data_dir),
        "SSCARD_STATE_DIR": str(settings.state_dir),
        "SSCARD_HOLDER_ID_KEY": settings.holder_id_key.get_secret_value(),
        "SSCARD_MASTER_KEY": settings.master_key.get_secret_value(),
        "SSCARD_TOPIC_PREFIX": settings.topic_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "SSCARD_METRICS_PORT": "0",
        # Lapses, the chain and the watches looked at often: a short run sees them work.
        "SSCARD_LAPSE_CHECK_SECONDS": "2",
    }
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.postgres_schema:
        env["POSTGRES_SCHEMA"] = settings.postgres_schema
    return env


def _dies_with_harness() -> list[str]:
    """util-linux's setpriv has the kernel kill `sscard run` when the harness's thread that
    started it dies (a harness killed with -9 leaves no back office running on)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


class RunProcess:
    """``sscard run`` started, killed, stopped and started again; every start appends to one
    log. ``findings`` collects what went wrong with the process itself."""

    # What this start logs once its SIGTERM handler is in place (see ``terminate``).
    announcement = b"running on"

    def __init__(self, settings: Settings, log: Path, args: Sequence[str] = ("run",)) -> None:
        self.settings, self.log = settings, log
        # chaos.process_faults starts other commands through it too (a view's consumers), and
        # chaos.serve its `sscard serve` processes.
        self.args = list(args)
        self.label = f"sscard {' '.join(self.args)}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.findings: list[str] = []
        self._log_offset = 0
        # SIGTERMs that came before `sscard run` had installed its handler (see ``terminate``).
        self.stopped_starting = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== chaos: start {self.starts + 1} ===\n".encode())
            out.flush()
            self._log_offset = out.tell()
            self.process = subprocess.Popen(
                [*_dies_with_harness(), sscard_executable(), *self.args],
                env=run_environment(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill -9 takes every thread and child
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def note_if_dead(self) -> None:
        """A run that exited although nobody stopped it: a finding, then it is started again."""
        if self.process is not None and self.process.poll() is not None:
            self.findings.append(
                f"{self.label} (start {self.starts}) exited by itself with code "
                f"{self.process.returncode}"
            )
            self.start()

    def kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> float:
        """SIGTERM, as an operator stops it: it must exit 0 within ``timeout``; returns the
        seconds it took (a finding when it did not stop cleanly)."""
        if self.process is None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.findings.append(f"{self.label} did not stop within {timeout:.0f} s of SIGTERM")
            self.kill()
            return time.monotonic() - started
        if code == -signal.SIGTERM and not self._announced():
            # Still importing and opening the store: the signal's default action ended it, as
            # it would any program; nothing had started, so nothing is left half-done.
            self.stopped_starting += 1
        elif code != 0:
            self.findings.append(f"{self.label} exited with code {code} on SIGTERM")
        return time.monotonic() - started

    def logged(self, text: str) -> bool:
        """Whether this start of the process logged ``text`` (chaos.process_faults waits on it)."""
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            return text.encode() in log.read()

    def _announced(self) -> bool:
        """Whether this start logged that it runs (its handlers are in place)."""
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            return self.announcement in log.read()


class PrivateBroker:
    """A broker of the run's own: killed, stopped, paused and started again on the same ports
    and data. It dies with the thread that started it (the harness's main thread)."""

    def __init__(self, state_dir: Path) -> None:
        port, controller = free_ports(2)
        self.kafka = LocalKafka(
            port=port, controller_port=controller, state_dir=state_dir, die_with_parent=True
        )
        self.paused_pid: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def log_file(self) -> Path:
        return self.kafka.log_file

    def start(self) -> None:
        self.kafka.start(timeout=180, progress=lambda _line: None)

    def kill(self) -> None:
        self.kafka.kill()

    def stop(self) -> None:
        self.kafka.stop()

    def pause(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            self.paused_pid = pid

    def resume(self) -> None:
        if self.paused_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.paused_pid, signal.SIGCONT)
            self.paused_pid = None

    def _pid(self) -> int | None:
        try:
            return int(self.kafka.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
