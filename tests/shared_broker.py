"""One Kafka broker for every worker of a run (``make test`` runs the suite on pytest-xdist
workers), started by the first worker that needs one and stopped once none uses it.

A worker's session fixture would otherwise start a broker per worker: half a gigabyte of heap
and a JVM start each. The workers agree through a record in the run's shared temporary folder
(``tmp_path_factory.getbasetemp().parent`` under xdist), read and written under an exclusive
file lock. The broker ends with the worker that started it (``die_with_parent``: a killed run
leaves no JVM behind), so that worker, once its own tests are done, waits until every other
live user is done too before it stops the broker.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import BaseModel

from devinfra.local_kafka import LocalKafka
from tests.ports import free_ports

_POLL_S = 0.5


class _Record(BaseModel):
    """The run's broker: where it listens, its state, who started it and who uses it."""

    bootstrap_servers: str
    port: int
    controller_port: int
    state_dir: Path
    owner: int
    users: list[int]


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with (root / "kafka.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> _Record | None:
    return _Record.model_validate_json(path.read_text()) if path.exists() else None


def _write(path: Path, record: _Record) -> None:
    path.write_text(record.model_dump_json())


def _broker(record: _Record) -> LocalKafka:
    return LocalKafka(
        port=record.port,
        controller_port=record.controller_port,
        state_dir=record.state_dir,
        die_with_parent=True,
    )


def _join(root: Path, path: Path) -> _Record:
    """Register this process as a user of the run's broker, starting one if none is running
    (none yet, or its owner died and took it along)."""
    with _locked(root):
        record = _read(path)
        if record is None or not _alive(record.owner):
            port, controller_port = free_ports(2)
            record = _Record(
                bootstrap_servers=f"127.0.0.1:{port}",
                port=port,
                controller_port=controller_port,
                state_dir=root / "kafka-state" / f"kafka-{port}",
                owner=os.getpid(),
                users=[],
            )
            _broker(record).start(timeout=120)
        record.users.append(os.getpid())
        _write(path, record)
        return record


def _leave(root: Path, path: Path) -> None:
    """Deregister; the owner then waits for the live users left and stops the broker."""
    me = os.getpid()
    while True:
        with _locked(root):
            record = _read(path)
            if record is None:
                return
            record.users = [pid for pid in record.users if pid != me and _alive(pid)]
            if record.owner != me:
                _write(path, record)
                return
            if not record.users:
                _broker(record).stop()
                path.unlink()
                return
            _write(path, record)
        time.sleep(_POLL_S)


@contextmanager
def run_wide_broker(root: Path) -> Iterator[str]:
    """The bootstrap servers of the broker that every worker of the run whose shared temporary
    folder is ``root`` uses."""
    path = root / "kafka.json"
    record = _join(root, path)
    try:
        yield record.bootstrap_servers
    finally:
        _leave(root, path)


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the run's workers share: the parent of a worker's base temporary folder
    under xdist (a fresh one for each run), the base folder itself in a run of one process."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
