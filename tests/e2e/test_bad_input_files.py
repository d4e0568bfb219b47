"""Files that are not what they should be: one line, exit 2, nothing written, bounded time and
memory. A configuration file that is not UTF-8 (or not a file at all), and a production batch
that is a device, a FIFO, too large, too long a line or too many rows."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

from application.batch_file import MAX_BATCH_BYTES, MAX_LINE_BYTES
from application.production_batch import MAX_ROWS
from tests.e2e.test_cli import SSCARD, Cli

REGISTRIES = (
    "SSCARD_REGION_POLICIES",
    "SSCARD_HOSPITAL_REGISTRY",
    "SSCARD_OUTLETS",
    "SSCARD_HOLIDAY_CALENDAR",
)
HEADER = "certificate,new_card_number,produced_at\n"
# What the CLI may take to start and refuse on a busy machine, and the memory it may use: the
# whole of a batch file read first was 2.3 GB after 4 s of /dev/zero.
SECONDS = 20.0
MAX_RSS_MB = 400
# The child's address space: reading /dev/zero whole fails here instead of taking the machine.
ADDRESS_SPACE = 3 * 2**30


def _bounded_run(
    cli: Cli, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, float, float]:
    """Run ``sscard``; its exit code, stderr, seconds and peak memory (MB), measured by the
    kernel for this child alone."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    started = time.monotonic()
    child = subprocess.Popen(
        [SSCARD, *args],
        env=env or cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=limit,  # noqa: PLW1509
    )
    assert child.stderr is not None
    try:
        status, usage = _waited(child.pid, started + SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode()
    child.stderr.close()
    return child.returncode, stderr, time.monotonic() - started, usage.ru_maxrss / 1024


def _waited(pid: int, deadline: float) -> tuple[int, resource.struct_rusage]:
    """The child's exit status and its own resource usage (``wait4``), or a failure at the
    deadline."""
    while time.monotonic() < deadline:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        time.sleep(0.05)
    raise AssertionError(f"sscard did not end within {SECONDS:.0f} s")


def _assert_one_line(code: int, stderr: str, *words: str) -> str:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ---- configuration files ----------------------------------------------------------------------


@pytest.mark.parametrize("variable", REGISTRIES)
@pytest.mark.parametrize(
    ("content", "says"),
    [(b'\xff\xfe{"regions": []}', "not UTF-8"), (b'{"name": "\xe5\xbc"}', "not UTF-8")],
)
def test_a_configuration_file_that_is_not_utf8_is_one_line_and_writes_nothing(
    tmp_path: Path, variable: str, content: bytes, says: str
):
    bad = tmp_path / "registry.json"
    bad.write_bytes(content)
    cli = Cli(tmp_path)
    env = cli.env | {variable: str(bad)}
    code, stderr, _, _ = _bounded_run(cli, "card", "whose", "--card-number", "T1", env=env)
    _assert_one_line(code, stderr, variable, says)
    assert not (tmp_path / "data").exists(), "a refused configuration made the store"


@pytest.mark.parametrize("variable", REGISTRIES)
def test_a_configuration_that_names_a_device_is_refused_at_once(tmp_path: Path, variable: str):
    cli = Cli(tmp_path)
    env = cli.env | {variable: "/dev/zero"}
    code, stderr, _, rss = _bounded_run(cli, "card", "whose", "--card-number", "T1", env=env)
    _assert_one_line(code, stderr, variable, "not a regular file")
    assert rss < MAX_RSS_MB
    assert not (tmp_path / "data").exists()


# ---- production batches -----------------------------------------------------------------------


def _refused_batch(cli: Cli, path: Path | str, *words: str) -> tuple[str, float, float]:
    before = cli.head()
    code, stderr, seconds, rss = _bounded_run(
        cli, "card", "produce", "--batch", str(path), "--staff", "centre-01"
    )
    line = _assert_one_line(code, stderr, *words)
    assert cli.head() == before, "a refused batch changed the store"
    return line, seconds, rss


def test_a_batch_from_dev_zero_ends_at_once_in_bounded_memory(tmp_path: Path):
    _, seconds, rss = _refused_batch(Cli(tmp_path), "/dev/zero", "not a regular file")
    assert seconds < SECONDS
    assert rss < MAX_RSS_MB, f"{rss:.0f} MB resident"


def test_a_batch_from_a_fifo_nobody_writes_is_refused_without_waiting(tmp_path: Path):
    fifo = tmp_path / "batch.csv"
    os.mkfifo(fifo)
    _refused_batch(Cli(tmp_path), fifo, "not a regular file")


def test_a_batch_that_names_a_directory_is_refused(tmp_path: Path):
    _refused_batch(Cli(tmp_path), tmp_path, "not a regular file")


def test_a_batch_larger_than_the_bound_is_refused_before_it_is_read(tmp_path: Path):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as file:  # sparse: 6 GB said, nothing written
        file.write(HEADER.encode())
        file.truncate(6 * 2**30)
    _, _, rss = _refused_batch(Cli(tmp_path), huge, "larger than", "split the file")
    assert rss < MAX_RSS_MB


def test_a_batch_line_longer_than_the_bound_is_refused(tmp_path: Path):
    long_line = tmp_path / "long.csv"
    long_line.write_bytes(HEADER.encode() + b"x" * (MAX_BATCH_BYTES // 2) + b"\n")
    line, _, rss = _refused_batch(Cli(tmp_path), long_line, "line 2", f"{MAX_LINE_BYTES} bytes")
    assert rss < MAX_RSS_MB
    assert len(line) < 300


def test_a_batch_with_more_rows_than_the_bound_is_refused_and_records_none(tmp_path: Path):
    cli = Cli(tmp_path)
    rows = tmp_path / "many.csv"
    row = "110000-0000000001,T00000001,2026-11-26T09:00:00+08:00\n"
    rows.write_text(HEADER + row * (MAX_ROWS + 1))
    _refused_batch(cli, rows, f"at most {MAX_ROWS} rows")
