"""``sscard bench http``, tiny: a real ``sscard serve`` process on a SQLite store of its own, the
load client in a process of its own, one second per phase. What it must get right whatever the
figures: every command the client saw acknowledged is on record, no more and no fewer, and the
last line is the machine-readable one. A bad option is one line and exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.http_load import run_http_bench
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration]

LAST_LINE = re.compile(r"http_ratio=\d+\.\d\d http_p99_ms=\d+\.\d queries_per_s=\d+")


def test_a_tiny_run_loses_and_invents_no_writes(tmp_path: Path) -> None:
    lines: list[str] = []

    [result] = run_http_bench(
        make_settings(tmp_path),
        "sqlite",
        [1],
        seconds=1.0,
        workers=2,
        warmup=0.3,
        say=lines.append,
    )

    acknowledged = result.commands.pre_reports + result.commands.cancellations
    assert acknowledged > 0, lines
    assert result.commands.pre_reports > 0
    assert result.commands.cancellations > 0
    assert (result.stored_pre_reports, result.stored_cancellations) == (
        result.commands.pre_reports,
        result.commands.cancellations,
    ), lines
    assert result.commands.errors == result.queries.errors == 0
    assert result.commands.timed > 0
    assert result.queries.timed > 0
    assert result.baseline.commands_rate > 0
    assert any(line.startswith("  commands over HTTP:") for line in lines)  # progress shown
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]


@pytest.mark.parametrize(
    "option",
    [
        ["--servers", "3"],
        ["--seconds", "0"],
        ["--seconds", "nan"],
        ["--workers", "0"],
        ["--store", "oracle"],
    ],
)
def test_a_bad_option_is_one_line_and_exit_two(option: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "bench", "http", *option],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SSCARD_DATA_DIR": str(tmp_path / "data"), "SSCARD_STATE_DIR": str(tmp_path)},
    )
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
