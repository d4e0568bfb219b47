"""The claims and audit commands' modules and their result models load none of the heavy
packages at import: ``sscard --help`` imports them all, and a handler loads the store's
packages itself, when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("kafka", "sqlalchemy", "pyarrow", "cryptography", "psycopg")
LIGHT_MODULES = (
    "cli.claims",
    "cli.claim_output",
    "cli.audit",
    "application.claim_results",
    "application.audit_results",
)


def test_the_claims_and_audit_command_modules_load_no_heavy_package():
    probe = (
        "import importlib, sys\n"
        f"for name in {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "", f"loaded at import: {loaded}"
