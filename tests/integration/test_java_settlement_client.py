"""The Java settlement client (clients/java) against a real broker, driven through its main
class's line protocol: bootstrap, follow, a card blocked within the latency bound, a contract
breach made suspect, staleness while a private broker is stopped and fresh again after it
returns, and a refusal once its thread has died.

It is built once per run with the machine's Maven (offline when ~/.m2 holds every jar, else
online). Without Java or Maven it fails, as every test that lacks its server does (the local
broker needs both as well)."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import used_real_server
from tests.integration.test_settlement_subscriber import (
    BOUND_S,
    BROKER_STOP_S,
    SCHEMA,
    new_topic,
    send,
    value,
)
from tests.kafka_support import private_broker

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# From the record's write to the Java client's change line, on a loaded 2-core machine (the
# README's figure for the Python subscriber's p99 is tens of milliseconds).
LATENCY_BOUND_S = 2.0


class JavaClient:
    """The main class as a process: its lines, each with the time it was read."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def expect(self, prefix: str | tuple[str, ...], timeout: float = 30.0) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                at, line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                tail = "".join(self.stderr[-10:])
                raise AssertionError(f"no line {prefix!r} in {timeout} s; stderr: {tail}") from None
            if line.startswith(prefix):
                return at, line

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        verb, card = command.split()
        _, line = self.expect(("blocked", "stale", "suspect") if verb == "blocked" else "status")
        assert line.split()[1] == card, line
        return line

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def until_answer(client: JavaClient, command: str, prefix: str, timeout: float) -> float:
    started = time.monotonic()
    while not client.ask(command).startswith(prefix):
        assert time.monotonic() - started < timeout, f"{command}: no {prefix!r} in {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - started


@contextmanager
def started(command: list[str], bootstrap: str, topic: str, *options: str) -> Iterator[JavaClient]:
    client = JavaClient(
        [
            *command,
            bootstrap,
            str(SCHEMA),
            topic,
            "--stale-after-ms",
            str(int(BOUND_S * 1000)),
            "--confirm-every-ms",
            "500",
            *options,
        ]
    )
    try:
        yield client
    finally:
        client.close()


def test_the_java_client_follows_blocks_in_time_and_fails_safe_while_the_broker_is_away(
    java_client: list[str], tmp_path: Path, request: pytest.FixtureRequest
):
    used_real_server(request, "kafka")
    with private_broker(tmp_path / "broker") as broker:
        bootstrap = broker.bootstrap_servers
        topic = new_topic(bootstrap)
        send(
            bootstrap,
            topic,
            [
                (b"A00000001", value("A00000001", "blocked")),
                (b"A00000002", value("A00000002", "active")),
            ],
        )
        with started(java_client, bootstrap, topic) as client:
            client.expect("caught-up cards=2", timeout=90)
            assert client.ask("blocked A00000001") == "blocked A00000001 true"
            assert client.ask("blocked A00000002") == "blocked A00000002 false"
            # Following: a card blocked now is seen within the bound.
            written = time.monotonic()
            send(bootstrap, topic, [(b"A00000002", value("A00000002", "blocked", 2))])
            seen, _ = client.expect("change A00000002 blocked")
            latency = seen - written
            assert latency < LATENCY_BOUND_S, f"{latency:.2f} s"
            assert client.ask("blocked A00000002") == "blocked A00000002 true"
            # A message breaking the contract (a date that is none): suspect, blocked.
            broken = value("A00000003", "active", 3).replace(b"2026-11-26T", b"yesterdayT")
            send(bootstrap, topic, [(b"A00000003", broken)])
            client.expect("change A00000003 suspect")
            assert client.ask("blocked A00000003") == "blocked A00000003 true"
            # The broker away: stale past the bound, refusing until it is back.
            broker.stop()
            stopped = time.monotonic()
            took = until_answer(client, "blocked A00000001", "stale", BOUND_S + 10)
            assert took <= BOUND_S + 3, f"stale only after {took:.1f} s"
            while time.monotonic() - stopped < BROKER_STOP_S:
                assert client.ask("blocked A00000001").startswith("stale A00000001 not confirmed")
                time.sleep(0.5)
            status = client.ask("status A00000001").split()
            assert status[2] == "blocked"
            assert int(status[3].removeprefix("age_ms=")) > (BROKER_STOP_S - 1) * 1000
            broker.start(timeout=120)
            until_answer(client, "blocked A00000001", "blocked A00000001 true", 90)
            send(bootstrap, topic, [(b"A00000001", value("A00000001", "active", 4))])
            client.expect("change A00000001 active")
            assert client.ask("blocked A00000001") == "blocked A00000001 false"
    print(
        f"\njava client: change seen {latency * 1000:.0f} ms after the write; stale "
        f"{took:.1f} s after the broker stopped (bound {BOUND_S} s, stopped {BROKER_STOP_S:.0f} "
        "s); fresh again without a restart"
    )


def test_the_java_client_refuses_once_its_thread_has_died(
    java_client: list[str], kafka_bootstrap: str
):
    topic = new_topic(kafka_bootstrap)
    send(kafka_bootstrap, topic, [(b"A00000001", value("A00000001", "blocked"))])
    with started(java_client, kafka_bootstrap, topic, "--fail-on", "A00000002") as client:
        client.expect("caught-up cards=1", timeout=90)
        assert client.ask("blocked A00000001") == "blocked A00000001 true"
        send(kafka_bootstrap, topic, [(b"A00000002", value("A00000002", "blocked"))])
        until_answer(client, "blocked A00000001", "stale A00000001 the subscriber's thread", 30)


def test_the_java_client_reads_its_security_settings_from_the_environment(
    java_client: list[str], kafka_bootstrap: str
):
    topic = new_topic(kafka_bootstrap)
    for env, variable in (
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent.pem"}, "CAFILE"),
    ):
        refused = subprocess.run(
            [*java_client, kafka_bootstrap, str(SCHEMA), topic],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert refused.returncode == 2, refused.stderr
        assert variable in refused.stderr
        assert "Exception" not in refused.stderr
