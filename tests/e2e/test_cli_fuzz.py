"""Issue 12, item 4: arbitrary text in every option of the real CLI entry point.

Hypothesis drives ``cli.main.main(argv)`` in process, on a data directory of its own, with any
text in place of any option's value. Whatever comes in: the exit code is 0, 1 or 2; a refusal
is one line on stderr (under --json one JSON object on stdout, with its code); nothing is ever a
traceback; a refusal writes nothing. Derandomized and bounded, so it is part of every run and
takes seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from tests.support import HOLDER_ID_KEY

HOLDER = "11010519491231002X"
AGENT = "110108197911020154"
CERT = "110000-0000000001"
CLERK = [("--outlet", "BJ-DC-001"), ("--staff", "clerk-01")]
DOCS = "holder_id_original,holder_id_copy"

# Every command a clerk, the production centre or an auditor types, with valid values; each
# option's value is what the fuzzer may replace.
TEMPLATES: list[tuple[list[str], list[tuple[str, str]]]] = [
    (
        ["card", "issue"],
        [
            ("--resident-id", "110105198005170018"),
            ("--name", "张三"),
            ("--region", "110000"),
            ("--card-number", "F00000001"),
            ("--kind", "social_security_card"),
            ("--issued-on", "2020-01-01"),
            *CLERK,
            ("--request-id", "fuzz-1"),
        ],
    ),
    (
        ["loss", "pre-report"],
        [("--resident-id", HOLDER), *CLERK, ("--document", "household_register")],
    ),
    (["loss", "pre-report"], [("--resident-id", HOLDER), ("--channel", "online")]),
    (["loss", "cancel"], [("--resident-id", HOLDER), *CLERK, ("--reason", "card_found")]),
    (
        ["proxy", "authorize"],
        [
            ("--resident-id", HOLDER),
            *CLERK,
            ("--agent", AGENT),
            ("--agent-name", "李四"),
            ("--scope", "apply,collect"),
            ("--grounds", "elderly"),
            ("--documents", DOCS + ",agent_id_original,agent_id_copy,power_of_attorney"),
            ("--relationship", "son"),
            ("--request-id", "fuzz-2"),
        ],
    ),
    (
        ["loss", "report"],
        [
            ("--resident-id", HOLDER),
            *CLERK,
            ("--collection-outlet", "BJ-HD-003"),
            ("--documents", DOCS),
            ("--fee-waiver", "warranty_defect"),
        ],
    ),
    (
        ["card", "replace-damaged"],
        [
            ("--resident-id", HOLDER),
            *CLERK,
            ("--cause", "card_defect"),
            ("--collection-outlet", "BJ-HD-003"),
            ("--documents", DOCS),
        ],
    ),
    (
        ["card", "produce"],
        [
            ("--certificate", CERT),
            ("--new-card-number", "F00000002"),
            ("--batch-id", "B1"),
            ("--staff", "centre-01"),
        ],
    ),
    (["card", "produce"], [("--batch", "/nonexistent.csv"), ("--staff", "centre-01")]),
    (
        ["card", "collect"],
        [("--resident-id", HOLDER), *CLERK, ("--certificate", CERT), ("--agent", AGENT)],
    ),
    (["card", "activate"], [("--resident-id", HOLDER), *CLERK, ("--card-number", "F00000002")]),
    (["card", "whose"], [("--card-number", "A12345678")]),
    (["holder", "show"], [("--resident-id", HOLDER)]),
    (["holder", "history"], [("--resident-id", HOLDER)]),
    (["tick"], [("--at", "2021-01-01T00:00:00+08:00")]),
]

# Any text a shell can pass (argv never holds NUL), and the nasty kinds on purpose.
ANY_TEXT = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "Z" * 5000,
            "\x1b[31mred\x1b[0m",
            "line\r\nbreak",
            "\u202eevil",
            "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",
            "nan",
            "-1",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+08:00",
            "--help-me",
            "'quote\"",
        ]
    ),
)


@contextlib.contextmanager
def environment(data_dir: Path) -> Iterator[None]:
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("SSCARD_", "POSTGRES_")) or key in ("DATABASE_URL",):
            del os.environ[key]
    os.environ |= {
        "SSCARD_DATA_DIR": str(data_dir),
        "SSCARD_STATE_DIR": str(data_dir / "state"),
        "SSCARD_HOLDER_ID_KEY": HOLDER_ID_KEY,
    }
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def head(data_dir: Path) -> int:
    path = data_dir / "sscard.sqlite"
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
    return int(row[0] or 0)


DATA = Path(tempfile.mkdtemp(prefix="sscard-fuzz-"))


def setup_module() -> None:
    with environment(DATA):
        code, _, err = run(
            ["card", "issue", "--resident-id", HOLDER, "--name", "张三", "--region", "110000",
             "--card-number", "A12345678", "--outlet", "BJ-DC-001", "--staff", "clerk-01"]
        )  # fmt: skip
        assert code == 0, err


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    template=st.sampled_from(TEMPLATES),
    replace=st.sets(st.integers(min_value=0, max_value=10), min_size=1, max_size=3),
    values=st.lists(ANY_TEXT, min_size=3, max_size=3),
    json_output=st.booleans(),
)
def test_any_text_in_any_option_gets_a_clean_answer(template, replace, values, json_output):
    command, options = template
    argv = (["--json"] if json_output else []) + list(command)
    chosen = sorted(i % len(options) for i in replace)
    for index, (option, valid) in enumerate(options):
        value = values[chosen.index(index) % len(values)] if index in chosen else valid
        argv += [option, value] if not value.startswith("-") else [f"{option}={value}"]
    with environment(DATA):
        before = head(DATA)
        code, out, err = run(argv)
        after = head(DATA)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err + out, argv
    if code != 0:
        # Under --json the refusal is one JSON object on stdout (the output contract), else one
        # line on stderr.
        answer = out if json_output else err
        assert len(answer.strip().splitlines()) == 1, (argv, out, err)
        assert len(answer) < 600, (argv, answer)
        if json_output:
            refusal = json.loads(answer)
            assert refusal["status"] in ("refused", "invalid"), (argv, refusal)
            assert refusal["code"], (argv, refusal)
        assert after == before, (argv, "a refused command wrote to the store")
