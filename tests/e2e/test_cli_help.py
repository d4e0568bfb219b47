"""What a new user meets first: ``--version``, and a help page with an example on every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli.help_texts import EXAMPLES, leaves
from cli.main import build_parser
from tests.e2e.test_cli import SSCARD as SSCARD_SCRIPT
from tests.e2e.test_cli import Cli, issue
from tests.support import resident_id

SSCARD = [sys.executable, "-m", "cli.main"]


def test_every_command_has_a_description_and_an_example():
    parser = build_parser(load_all_tools=True)
    paths = []
    for path, leaf, _ in leaves(parser):
        paths.append(path)
        assert leaf.description, f"sscard {path} --help has no description"
        assert path in EXAMPLES, f"sscard {path} --help has no example"
        page = leaf.format_help()
        for example in EXAMPLES[path]:
            assert (
                example.startswith(f"sscard {path} ")
                or example == f"sscard {path}"
                or (example.startswith("sscard --json "))
            ), f"the example of sscard {path} runs another command: {example}"
            assert f"  {example}\n" in page + "\n", f"sscard {path} --help lacks {example!r}"
    assert sorted(set(EXAMPLES) - set(paths)) == [], "examples of commands that do not exist"


def test_the_version_is_printed():
    done = subprocess.run([*SSCARD, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sscard ")
    assert done.stdout.split()[1][0].isdigit()


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path):
    """``sscard ... | head``: stdout closed before the command writes. No traceback, no
    "infrastructure error", the shell's code for a command ended by SIGPIPE."""
    cli = Cli(tmp_path)
    number = issue(cli, resident_id())  # an answer to print (an unknown card is a refusal)
    process = subprocess.Popen(
        [SSCARD_SCRIPT, "card", "whose", "--card-number", number],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert stderr == "", stderr
