"""``sscard --help`` and ``--version`` answer without loading the store, Kafka or the exports:
none of the heavy packages is imported until a command needs it (a clerk's terminal answers at
once, and a broken database driver cannot break the help)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("kafka", "sqlalchemy", "pyarrow", "cryptography", "psycopg")

_PROBE = """
import json, sys
from cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
loaded = sorted({{name.partition(".")[0] for name in sys.modules}} & set({heavy!r}))
print(json.dumps(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["card", "issue", "--help"], ["claims", "--help"]]
)
def test_help_and_version_import_no_heavy_package(argv: list[str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert probe.stdout.strip(), "the help printed nothing"
    loaded = json.loads(probe.stderr.strip().splitlines()[-1])
    assert loaded == [], f"sscard {' '.join(argv)} imported {loaded}"
