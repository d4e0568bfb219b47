"""One room per job (DESIGN.md 5), measured: no top-level package under src/ holds more than
30% of src/'s lines, and no runtime room imports the development tools.

Lines are counted as physical lines of every ``*.py`` file under each top-level package
(blank lines and comments included, like ``wc -l``); ``make layout-check`` prints the table.
import-linter (``make lint``) keeps the layers; this test checks the share and, independently of
it, the tools rule by reading every import.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
RUNTIME = (
    "domain",
    "contract",
    "tracking",
    "store",
    "projections",
    "relay",
    "consumers",
    "replay",
    "application",
    "service",
    "cli",
    "api",
)
TOOLS = ("bench", "chaos", "devinfra", "samples")
MAX_SHARE = 0.30


def lines_per_package() -> dict[str, int]:
    return {
        package.name: sum(len(f.read_text().splitlines()) for f in package.rglob("*.py"))
        for package in sorted(SRC.iterdir())
        if package.is_dir() and (package / "__init__.py").exists()
    }


def test_no_package_holds_more_than_thirty_percent_of_the_lines():
    lines = lines_per_package()
    total = sum(lines.values())
    shares = {name: count / total for name, count in lines.items()}
    assert max(shares.values()) <= MAX_SHARE, {n: f"{s:.0%}" for n, s in shares.items()}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    # importlib.import_module("bench.commands") and the like: names as strings count too.
    found |= {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.split(".")[0] in TOOLS
        and "." in node.value
        and " " not in node.value
    }
    return found


def test_no_runtime_room_imports_the_benchmarks_or_the_local_servers():
    offences = sorted(
        f"{path.relative_to(SRC)} imports {name}"
        for room in RUNTIME
        for path in (SRC / room).rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in TOOLS
    )
    # The CLI names the tools' modules in its TOOLS table, loaded only when asked for.
    allowed = {
        "cli/main.py imports bench.commands",
        "cli/main.py imports chaos.commands",
        "cli/main.py imports devinfra.commands",
        "cli/main.py imports samples.commands",
    }
    assert [o for o in offences if o not in allowed] == []


if __name__ == "__main__":
    counts = lines_per_package()
    everything = sum(counts.values())
    for room, count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{room:<12} {count:>6} lines  {count / everything:>5.1%}")
    print(f"{'total':<12} {everything:>6} lines  (limit per package {MAX_SHARE:.0%})")
