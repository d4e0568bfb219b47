"""Every shell block of README.md runs as it stands (issue 20, Build 7).

A new user runs ``make run`` (the broker, then ``sscard run`` until Ctrl-C) and pastes the
README's blocks into another shell. The test does the same: it starts ``sscard run`` against the
suite's broker under a topic prefix and data directory of its own, then runs each section's
shell blocks, in order, in a new ``bash`` whose environment is a user's (no ``sscard`` on PATH,
no ``SSCARD_*`` but the data directory and topic prefix the test isolates itself with). The
README's own first line puts ``sscard`` on PATH; later sections, each in a new shell, start with
that same line, as the README tells its reader.

A shell block that is not meant to be pasted says why in an HTML comment just above it
(``<!-- not run: why -->``); any other ``sh``/``bash``/``shell`` block is run, and a fence
without a language fails the test (it could hide a command)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHELL_LANGUAGES = {"sh", "bash", "shell"}
NOT_RUN = re.compile(r"^<!-- not run: (?P<why>\S.*?) -->$")
ACTIVATE = ". .venv/bin/activate"


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    section: str  # the heading it sits under
    body: str
    not_run: str | None  # why it is not run, from its marker

    @property
    def runs(self) -> bool:
        return self.language in SHELL_LANGUAGES and self.not_run is None


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text``, each with its heading and its ``not run`` marker."""
    blocks: list[Block] = []
    section = ""
    previous = ""  # the last non-blank line before a fence
    opened: tuple[int, str, str | None] | None = None
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if opened is None:
            if line.startswith("```"):
                marker = NOT_RUN.match(previous)
                opened = (number, line[3:].strip(), marker["why"] if marker else None)
                body = []
            elif line.startswith("#"):
                section = line.lstrip("#").strip()
            if line.strip():
                previous = line.strip()
        elif line.startswith("```"):
            start, language, why = opened
            blocks.append(Block(start, language, section, "\n".join(body) + "\n", why))
            opened = None
            previous = ""
        else:
            body.append(line)
    assert opened is None, f"README.md:{opened[0]}: a fence is never closed"
    return blocks


def sections_to_run() -> list[tuple[str, str]]:
    """(section, its shell blocks joined), in README order: a section's blocks depend on each
    other (shell variables), sections only on what the store holds."""
    sections: dict[str, list[str]] = {}
    for block in readme_blocks(README.read_text(encoding="utf-8")):
        if block.runs:
            sections.setdefault(block.section, []).append(block.body)
    return [(name, "".join(bodies)) for name, bodies in sections.items()]


# ---- what a pasted block must look like (no server) ---------------------------------------------


def test_every_block_says_whether_it_runs():
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    for block in blocks:
        where = f"README.md:{block.line} ({block.section})"
        assert block.language, f"{where}: a fence needs a language (sh, text, console, python)"
        if block.not_run is not None:
            assert block.language in SHELL_LANGUAGES, f"{where}: only shell blocks are run"
    shell = [b for b in blocks if b.language in SHELL_LANGUAGES]
    assert sum(b.runs for b in shell) >= 4, "the quick start, cards, claims, dead letters"
    assert len(sections_to_run()) >= 4


def test_the_blocks_that_run_hold_nothing_to_fill_in():
    from domain.identifiers import validate_resident_id

    runs = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.runs]
    ids: set[str] = set()
    for block in runs:
        where = f"README.md:{block.line} ({block.section})"
        assert not re.search(r"<[^>]*>", block.body), f"{where}: a <placeholder> cannot be pasted"
        assert not re.search(r"\[--", block.body), f"{where}: [--optional] cannot be pasted"
        # A block that never ends cannot be pasted before the next one (make run is the
        # reader's other shell; the test starts the same sscard run itself).
        commands = re.sub(r"(^|\s)#.*$", "", block.body, flags=re.M)  # not the comments
        assert not re.search(
            r"^\s*make\b|\bsscard (run|consumers run|relay run)\b", commands, re.M
        ), f"{where}: a make target or a server never ends: mark it not run, and why"
        # A fixed date goes out of every window and deadline: dates are computed from today.
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", block.body), f"{where}: a fixed date"
        ids |= set(re.findall(r"\b\d{17}[\dX]\b", block.body))
    assert len(ids) >= 4
    for rid in ids:
        validate_resident_id(rid)


def test_the_first_block_puts_sscard_on_path_as_make_run_says():
    first = next(b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.runs)
    assert first.body.startswith(ACTIVATE + " "), first.body.splitlines()[0]
    # What `make run` would do, expanded by make itself (-n: nothing runs).
    run = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert f"In another shell: cd {ROOT} && {ACTIVATE}  # sscard on PATH" in run, run


# ---- every block, pasted into new shells after `make run` ---------------------------------------


def user_environment(tmp_path: Path, kafka: str) -> dict[str, str]:
    """A user's environment: nothing of the suite's (its venv, its servers, its keys), plus the
    data directory and topic prefix that keep this run apart on the shared broker."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SSCARD_", "POSTGRES_", "KAFKA_", "PERSISTENCE_"))
        and k not in {"DATABASE_URL", "VIRTUAL_ENV", "CI"}
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if part != venv_bin
    )
    return env | {
        "HOME": str(tmp_path / "home"),
        "SSCARD_DATA_DIR": str(tmp_path / "data"),
        "SSCARD_STATE_DIR": str(tmp_path / "state"),
        "SSCARD_TOPIC_PREFIX": f"readme{uuid.uuid4().hex[:10]}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "SSCARD_METRICS_PORT": "0",  # the suite's processes run side by side
    }


def checkout(tmp_path: Path) -> Path:
    """Where the user's shell stands: the checkout, whose ``.venv`` is the one running this
    test (or, run from another venv, a folder whose ``.venv`` is that one)."""
    if (ROOT / ".venv").resolve() == Path(sys.prefix).resolve():
        return ROOT
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / ".venv").symlink_to(sys.prefix)
    return folder


@pytest.fixture
def back_office(tmp_path: Path, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """``sscard run`` as ``make run`` starts it, up to its ``ready:`` line; stopped after."""
    env = user_environment(tmp_path, kafka_bootstrap)
    (tmp_path / "home").mkdir()
    log = tmp_path / "run.log"
    with log.open("ab") as out:
        run = subprocess.Popen(
            [str(Path(sys.prefix) / "bin" / "sscard"), "run"],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready: topics" not in log.read_text(encoding="utf-8"):
            assert run.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.2)
        yield env
        # The reader's other shell still runs it: nothing in the blocks stopped the back office.
        assert run.poll() is None, log.read_text(encoding="utf-8")[-3000:]
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.kafka
def test_every_shell_block_runs_in_a_new_shell_after_make_run(
    back_office: dict[str, str], tmp_path: Path
):
    here = checkout(tmp_path)
    said: dict[str, str] = {}
    for number, (section, blocks) in enumerate(sections_to_run()):
        # Each section in a new shell: the first activates as the README's first line does,
        # later ones start with that line, as the quick start tells the reader.
        script = blocks if number == 0 else f"{ACTIVATE}\n{blocks}"
        # -e: the first failing line stops the section; -u: an unset variable is an error;
        # -x: the log says which line it was; pipefail: `sscard ... --json | python3` too.
        result = subprocess.run(
            ["bash", "-c", "set -euxo pipefail\n" + script],
            cwd=here,
            env=back_office,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"{section}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        assert "Traceback" not in result.stderr, f"{section}:\n{result.stderr[-4000:]}"
        said[section] = result.stdout
    quick_start, cards, claims, dead_letters = (
        said["Two commands"],
        said["Working with cards"],
        said["Reimbursement claims"],
        said["Dead letters, in sequence"],
    )
    assert "equal to its rebuild" in quick_start
    assert "DIFFERENT" not in quick_start
    assert "usage: sscard" in quick_start
    assert "already recorded" in cards  # the production retry
    assert "CardActivated" in cards
    assert "DamagedCardReplacementApplied" in cards
    assert "+08:00" in cards
    assert "intact" in cards
    # (5000 in scope - the 1800 deductible) x 70 %: approved, shown in yuan, and paid.
    assert "2240.00" in claims
    assert "documents_illegible" in claims  # the rejection
    assert "withdrawn" in claims
    assert "no parked messages" in dead_letters


def test_the_configuration_table_gives_the_topic_prefix_pattern_settings_enforce():
    from service.settings import Settings

    pattern = Settings.model_json_schema()["properties"]["topic_prefix"]["pattern"]
    row = next(
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `SSCARD_TOPIC_PREFIX` |")
    )
    assert f"(`{pattern}`)" in row, row
    assert "lower-case" in row
