"""A real single-node Kafka broker (KRaft) on 127.0.0.1, run from Maven Central's jars.

Why jars and not a tarball or an image: the machines this project runs on have Java and reach
Maven Central, but have no Docker engine and cannot download Apache's release tarballs. The broker
is nothing but jars, so ``infra/kafka/pom.xml`` lists them and Maven fetches them into a per-user
cache.

Everything here is synchronous and does no I/O at import time. The broker outlives the Python
process that started it (new session, pid file), so ``sscard infra up`` can return and tests can
share it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devinfra.kafka_security import BrokerSecurity

Progress = Callable[[str], None]

# The repository's infra/kafka folder, found from this file (src/service/local_kafka.py): the pom
# and the log4j2 configuration are read from the checkout (the Makefile installs it editable).
INFRA_DIR = Path(__file__).resolve().parents[2] / "infra" / "kafka"

DEFAULT_PORT = 19092
DEFAULT_VERSION = "4.3.1"
_LOG_TAIL_LINES = 20

# Brokers started by this process. Holding the Popen lets us reap a broker that died (else it stays
# a zombie that looks alive to kill(pid, 0)) and keeps Popen.__del__ from warning "still running".
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or reached; the message says why."""


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    answering: bool
    pid: int | None
    bootstrap_servers: str
    log_file: Path
    state_dir: Path


@dataclass(frozen=True, kw_only=True)
class LocalKafka:
    """One broker, identified by its state directory (data, properties, pid file, log)."""

    port: int = DEFAULT_PORT
    controller_port: int = DEFAULT_PORT + 1
    state_dir: Path
    kafka_version: str = DEFAULT_VERSION
    heap_mb: int = 512
    # A test's broker ends with the process that started it, even one killed with SIGKILL
    # (each orphan keeps half a gigabyte); `sscard infra up`'s broker outlives its command.
    die_with_parent: bool = False
    # TLS, SASL/SCRAM and ACLs on the clients' listener (devinfra.kafka_security).
    secure: bool = False

    @classmethod
    def default(
        cls,
        port: int = DEFAULT_PORT,
        state_dir: Path | None = None,
        controller_port: int | None = None,
        secure: bool = False,
    ) -> LocalKafka:
        """The developer's broker: state under ``${SSCARD_STATE_DIR:-~/.local/state/sscard}``."""
        if state_dir is None:
            base = os.environ.get("SSCARD_STATE_DIR") or "~/.local/state/sscard"
            state_dir = Path(base).expanduser() / f"kafka-{port}{'-secure' if secure else ''}"
        return cls(
            port=port,
            controller_port=port + 1 if controller_port is None else controller_port,
            state_dir=state_dir,
            secure=secure,
        )

    # -- paths ---------------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def security(self) -> BrokerSecurity:
        """The broker's CA, certificate and passwords (meaningful when ``secure``)."""
        return BrokerSecurity(self.state_dir)

    def client_config(self) -> dict[str, Any]:
        """kafka-python's arguments for the broker's own principal (none when not secure)."""
        return self.security.client_config() if self.secure else {}

    @property
    def log_file(self) -> Path:
        return self.state_dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def properties_file(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.state_dir / "cluster.id"

    @property
    def jars_dir(self) -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
        return Path(base).expanduser() / "sscard" / f"kafka-{self.kafka_version}" / "libs"

    # -- jars ----------------------------------------------------------------------------------

    def ensure_jars(self, progress: Progress = print) -> Path:
        """Fetch the broker's jars once per user and version; return the folder holding them.

        Maven writes into a temporary sibling that is renamed into place only when it succeeded, so
        a download killed halfway never leaves a folder that a later call would trust.
        """
        libs = self.jars_dir
        if _has_kafka_jar(libs, self.kafka_version):
            return libs
        mvn = _require_tool("mvn", "Maven is needed to fetch the Kafka jars: apt-get install maven")
        pom = INFRA_DIR / "pom.xml"
        if not pom.is_file():
            raise LocalKafkaError(f"{pom} not found: run from a checkout of the sscard repository")
        libs.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_downloads(libs)
        tmp = libs.with_name(f"{libs.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        progress(f"fetching Kafka {self.kafka_version} jars from Maven Central into {libs} ...")
        started = time.monotonic()
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={self.kafka_version}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not _has_kafka_jar(tmp, self.kafka_version):
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                libs.parent.rmdir()  # only if empty: no clutter from a mistyped version
            # Maven 3.8 writes colour resets even in batch mode; they would garble the message.
            output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
            tail = _last_lines(output, _LOG_TAIL_LINES)
            raise LocalKafkaError(
                f"Maven could not fetch the Kafka {self.kafka_version} jars "
                f"(exit {result.returncode}): {' '.join(cmd)}\n{tail}"
            )
        try:
            tmp.rename(libs)
        except OSError:
            # Another process finished the same download first; its copy is as good as ours.
            shutil.rmtree(tmp, ignore_errors=True)
            if not _has_kafka_jar(libs, self.kafka_version):
                raise
        progress(f"fetched the Kafka jars in {time.monotonic() - started:.1f} s")
        return libs

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0, progress: Progress = print) -> None:
        """Start the broker unless it already runs, and return once it answers metadata requests."""
        with self._lifecycle_lock():
            self._start(timeout, progress)

    def _start(self, timeout: float, progress: Progress) -> None:
        pid = self._running_pid()
        if pid is not None:
            self._wait_for_own_broker(pid, offset=0, timeout=timeout)
            return
        self.pid_file.unlink(missing_ok=True)  # stale: its process is gone
        for port in (self.port, self.controller_port):
            if not _port_is_free(port):
                raise LocalKafkaError(
                    f"port {port} on 127.0.0.1 is taken by another process; this broker "
                    f"({self.state_dir}) needs ports {self.port} and {self.controller_port}"
                )
        libs = self.ensure_jars(progress)
        java = _require_tool("java", "Java 17+ is needed: apt-get install openjdk-17-jre-headless")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self.security.ensure()
        # It holds the broker's password when secure: readable by its owner only.
        fd = os.open(self.properties_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as properties:
            properties.write(self._server_properties())
        if not (self.data_dir / "meta.properties").exists():
            self._format(java, libs, progress)

        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        cmd = [
            *self._with_parent(),
            java,
            f"-Xms{self.heap_mb}M",
            f"-Xmx{self.heap_mb}M",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.xml'}",
            f"-Dsscard.kafka.log={self.log_file}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(self.properties_file),
        ]
        progress(f"starting Kafka {self.kafka_version} on {self.bootstrap_servers} ...")
        started = time.monotonic()
        # O_APPEND on both sides: the JVM's stdout/stderr (crashes, log4j's own errors) and
        # log4j's file appender share one file without overwriting each other.
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,  # survives the caller's Ctrl-C and exit
            )
        _CHILDREN[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        self._wait_for_own_broker(process.pid, offset=offset, timeout=timeout)
        progress(f"Kafka ready on {self.bootstrap_servers} in {time.monotonic() - started:.1f} s")

    def _with_parent(self) -> list[str]:
        """util-linux's setpriv asks the kernel to kill the broker when its parent dies, then
        runs it in its own place (same pid)."""
        setpriv = shutil.which("setpriv") if self.die_with_parent else None
        return [setpriv, "--pdeathsig", "KILL"] if setpriv else []

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM lets KRaft flush and close), SIGKILL if that takes too long."""
        if self.state_dir.is_dir():
            with self._lifecycle_lock():
                self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        pid = self._running_pid()
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, timeout):
                _signal(pid, signal.SIGKILL)
                _wait_for_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL at once, like a crash: the pid file stays behind, as it would after one."""
        pid = self._running_pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10.0)

    def reset(self) -> None:
        """Stop the broker and forget all its data, for a fresh cluster on the next start."""
        if self.state_dir.is_dir():
            with self._lifecycle_lock():
                self._stop(30.0)
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def status(self) -> KafkaStatus:
        pid = self._running_pid()
        return KafkaStatus(
            running=pid is not None,
            answering=_answers_metadata(self.bootstrap_servers, 5.0, self.client_config()),
            pid=pid,
            bootstrap_servers=self.bootstrap_servers,
            log_file=self.log_file,
            state_dir=self.state_dir,
        )

    # -- internals -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lifecycle_lock(self) -> Iterator[None]:
        """Serialise start/stop/reset across processes, e.g. parallel test workers sharing one
        broker: without it two could both see "not running" and launch two JVMs on one folder."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "lifecycle.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _server_properties(self) -> str:
        listeners = (
            f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
        }
        if self.secure:
            props |= self.security.listener_properties(self.port, self.controller_port)
        else:
            props |= {
                "listeners": listeners,
                "advertised.listeners": listeners,
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            }
        props |= {
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            # Topics are made by `sscard run` (relay.topics) with their settings; one made by a
            # client's metadata request would get the broker's defaults, and a consumer that
            # subscribed to it in the meantime was seen holding no partition for 30 minutes.
            "auto.create.topics.enable": "false",
            # One node: the internal topics cannot have more replicas than that.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            # Tests start consumer groups constantly; the default 3 s delay would slow every one.
            "group.initial.rebalance.delay.ms": "0",
            # After a crash (kill -9) the restarted node finds its own old registration and cannot
            # register until that session expires: 9 s by default. Loopback heartbeats are cheap.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
        }
        lines = ["# Written by src/service/local_kafka.py on every start; edits are lost."]
        lines += [f"{key}={value}" for key, value in props.items()]
        return "\n".join(lines) + "\n"

    def _format(self, java: str, libs: Path, progress: Progress) -> None:
        # The id is kept so that a data folder deleted by hand is re-formatted into the same
        # cluster; it is a hint for humans reading the state folder too.
        if self.cluster_id_file.exists():
            cluster_id = self.cluster_id_file.read_text().strip()
        else:
            cluster_id = new_cluster_id()
            self.cluster_id_file.write_text(cluster_id + "\n")
        progress(f"formatting {self.data_dir} (cluster {cluster_id})")
        cmd = [
            java,
            "-Xmx256M",
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.xml'}",
            f"-Dsscard.kafka.log={self.log_file}",
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
            "--standalone",
            *(self.security.format_arguments() if self.secure else []),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = _last_lines(result.stdout + result.stderr, _LOG_TAIL_LINES)
            raise LocalKafkaError(f"formatting {self.data_dir} failed:\n{tail}")

    def _running_pid(self) -> int | None:
        """The pid from the pid file if that process is alive and is this very broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _is_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # A recycled pid belongs to some other program; only trust our own command line.
        if b"kafka.Kafka" in cmdline and os.fsencode(self.properties_file) in cmdline:
            return pid
        return None

    def _wait_for_own_broker(self, pid: int, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not _is_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise LocalKafkaError(
                    f"the Kafka broker (pid {pid}) exited during startup; "
                    f"last lines of {self.log_file}:\n{self._log_tail(offset)}"
                )
            if _answers_metadata(self.bootstrap_servers, min(5.0, timeout), self.client_config()):
                return
            if time.monotonic() >= deadline:
                raise LocalKafkaError(
                    f"the Kafka broker (pid {pid}) did not answer on {self.bootstrap_servers} "
                    f"within {timeout:.0f} s; it is left running (stop it with stop()); "
                    f"last lines of {self.log_file}:\n{self._log_tail(offset)}"
                )
            time.sleep(0.2)

    def _log_tail(self, offset: int) -> str:
        """The last lines written since ``offset``, so old runs do not muddy the diagnosis."""
        try:
            with self.log_file.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
        except OSError as error:
            return f"(cannot read the log: {error})"
        return _last_lines(text, _LOG_TAIL_LINES) or "(the log is empty)"


def wait_until_ready(
    bootstrap_servers: str, timeout: float, security: dict[str, Any] | None = None
) -> None:
    """Block until a broker at ``bootstrap_servers`` answers a metadata request listing a broker.

    An open port is not enough: a KRaft broker accepts connections before it has registered with
    its controller, and producers fail until it has.
    """
    deadline = time.monotonic() + timeout
    while not _answers_metadata(bootstrap_servers, min(5.0, max(timeout, 0.1)), security):
        if time.monotonic() >= deadline:
            raise LocalKafkaError(
                f"no Kafka broker answered metadata requests on {bootstrap_servers} "
                f"within {timeout:.0f} s"
            )
        time.sleep(0.2)


def new_cluster_id() -> str:
    """22 characters of URL-safe unpadded base64 of a random UUID, the format Kafka expects."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka itself never hands out ids starting with '-': a CLI would read one as an option.
        if not cluster_id.startswith("-"):
            return cluster_id


def _answers_metadata(
    bootstrap_servers: str, timeout: float, security: dict[str, Any] | None = None
) -> bool:
    # A plain TCP probe first: refused connections fail in microseconds and keep kafka-python's
    # connection-error logging out of every poll while the broker is still down.
    if not any(_tcp_open(server, timeout) for server in bootstrap_servers.split(",")):
        return False
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415  (heavy import, only when needed)

    timeout_ms = max(int(timeout * 1000), 100)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="sscard-readiness-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            **(security or {}),
        )
    except Exception:  # any failure to bootstrap means "not ready yet"
        return False
    try:
        admin.list_topics()
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        admin.close()


def _tcp_open(server: str, timeout: float) -> bool:
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            return True
    except (OSError, ValueError):
        return False


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM's own listener: a port in TIME_WAIT after a kill is free to it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _is_alive(pid: int) -> bool:
    """True for a live process; reaps our own dead children and treats zombies as dead."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LocalKafkaError(f"'{name}' is not on PATH. {hint}")
    return path


def _has_kafka_jar(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def _remove_abandoned_downloads(libs: Path) -> None:
    """Delete temp folders of downloads whose process died (killed Maven, Ctrl-C)."""
    for tmp in libs.parent.glob(f"{libs.name}.tmp-*"):
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _is_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])
