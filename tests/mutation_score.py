"""The mutation score of ``src/domain`` from mutmut's results; ``make mutation`` prints it last.

Run from the repository root after ``mutmut run``. A mutant counts as

- killed when a test failed on it, or it hung until mutmut's time limit, or it crashed the test
  process, or the type checker refused it;
- survived when every test passed on it, when no unit test runs the code it changed ("no tests":
  nothing guards that code), or when mutmut could not tell (suspicious, not checked).

Only the file that ``[tool.mutmut] equivalent_mutants`` in ``pyproject.toml`` names takes a
survivor out of the count: one mutant per line, its name, then why no test can tell it from the
original. A listed mutant that a test kills is not equivalent, and fails the report; so does a
listed name that mutmut no longer generates (the code moved on, and the reason may no longer hold).

``--check-list`` generates the mutants only (seconds, in a scratch copy of the tree, no test run)
and fails on listed names that are no longer generated; the unit suite runs it.

The last line is ``killed=<k> survived=<s> score=<x>`` with score = killed / (killed + survived).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious", "not checked", "skipped"}
# mutmut's exit codes (mutmut.stats.status_by_exit_code, 3.8.1).
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
    None: "not checked",
}


def equivalent_mutants(root: Path) -> dict[str, str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    listed: dict[str, str] = {}
    path = root / config["equivalent_mutants"]
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: {name} is listed without a reason")
        listed[name] = reason.strip()
    return listed


def results(root: Path) -> dict[str, str]:
    status: dict[str, str] = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status[name] = STATUS.get(code, "suspicious")
    return status


_GENERATE = """
import os
import mutmut.__main__ as m
m.set_mutant_under_test("mutant_generation")
os.makedirs("mutants", exist_ok=True)
m.copy_src_dir()
m.copy_also_copy_files()
m.setup_source_paths()
m.create_mutants(os.cpu_count() or 2)
"""


def generated_names(root: Path) -> set[str]:
    """Every mutant name mutmut generates for the tree at ``root``, without running a test:
    mutmut's own generation step, in a scratch copy so that ``mutants/`` of a real run stays."""
    with tempfile.TemporaryDirectory(prefix="sscard-mutants-") as scratch:
        copy = Path(scratch)
        for part in ("src", "tests", "contracts", "pyproject.toml"):
            source = root / part
            if source.is_dir():
                shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
            elif source.exists():
                shutil.copy(source, copy / part)
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        subprocess.run(
            [sys.executable, "-c", _GENERATE], cwd=copy, env=env, check=True, capture_output=True
        )
        return set(results(copy))


def stale_names(root: Path) -> list[str]:
    """Names in the equivalent list that mutmut no longer generates."""
    generated = generated_names(root)
    return sorted(n for n in equivalent_mutants(root) if n not in generated)


def check_list() -> int:
    stale = stale_names(Path.cwd())
    for name in stale:
        print(f"listed as equivalent but no longer generated: {name}")
    print(f"stale={len(stale)}")
    return 1 if stale else 0


def main() -> int:
    if sys.argv[1:] == ["--check-list"]:
        return check_list()
    root = Path.cwd()
    status = results(root)
    if not status:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 1
    equivalent = equivalent_mutants(root)
    killed_but_listed = sorted(n for n in equivalent if status.get(n) in KILLED)
    gone = sorted(n for n in equivalent if n not in status)
    survivors = sorted(n for n, s in status.items() if s in SURVIVED and n not in equivalent)
    killed = sum(1 for s in status.values() if s in KILLED)
    for name in survivors:
        print(f"survived ({status[name]}): {name}")
    for name in gone:
        print(f"listed as equivalent but no longer generated: {name}")
    excluded = sum(1 for n in equivalent if status.get(n) in SURVIVED)
    print(f"equivalent mutants excluded: {excluded} (listed with reasons in the file above)")
    score = killed / (killed + len(survivors)) if killed + len(survivors) else 0.0
    print(f"killed={killed} survived={len(survivors)} score={score:.3f}")
    if killed_but_listed:
        print(f"listed as equivalent but killed by a test: {', '.join(killed_but_listed)}")
    return 1 if killed_but_listed or gone else 0


if __name__ == "__main__":
    sys.exit(main())
