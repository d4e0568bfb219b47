"""``sscard bench http``, tiny: a real ``sscard serve`` process on a SQLite store of its own, the
load client in a process of its own, one second per phase. What it must get right whatever the
figures: every command the client saw acknowledged is on record, no more and no fewer, and the
last line is the machine-readable one. A bad option is one line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.http_load import run_http_bench
from cli.main import main
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
        ["--store", "postgres"],  # without DATABASE_URL
    ],
)
def test_a_bad_option_is_one_line_and_exit_two(
    option: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DATABASE_URL", "SSCARD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SSCARD_STATE_DIR", str(tmp_path / "state"))
    try:
        code = main(["bench", "http", *option])
    except SystemExit as exc:  # argparse's own exit
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len((out + err).strip().splitlines()) == 1, (out, err)
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()
