"""The domain stays pure: standard library, pydantic and eventsourcing's domain/application only;
the published language (``src/contract/``) adds only the domain to that, and does no I/O.

import-linter (``make lint``) guards the layers; this test guards the finer rules it cannot
express (which parts of eventsourcing, which standard modules), and fails with the offending
file and line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
DOMAIN = SRC / "domain"
CONTRACT = SRC / "contract"
ALLOWED_THIRD_PARTY = ("pydantic", "eventsourcing.domain", "eventsourcing.application")
# Standard modules that reach files, processes or the network: the published language derives
# and parses, it never reads or sends.
IO_MODULES = frozenset(
    {"io", "os", "pathlib", "shutil", "socket", "sqlite3", "subprocess", "tempfile", "threading",
     "urllib", "http", "asyncio", "selectors", "ssl", "mmap", "multiprocessing"}
)  # fmt: skip


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in {"domain", "__future__"}:
        return True
    return any(module == a or module.startswith(a + ".") for a in ALLOWED_THIRD_PARTY)


def test_the_domain_imports_only_what_it_may():
    offences = [
        f"{path.relative_to(DOMAIN.parent)}:{line}: {module}"
        for path in sorted(DOMAIN.rglob("*.py"))
        for line, module in _imports(path)
        if not _allowed(module)
    ]
    assert offences == []


def _allowed_in_contract(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in {"domain", "contract", "__future__", "pydantic"}:
        return True
    return top in sys.stdlib_module_names and top not in IO_MODULES


def test_the_published_language_imports_only_what_it_may():
    offences = [
        f"{path.relative_to(SRC)}:{line}: {module}"
        for path in sorted(CONTRACT.rglob("*.py"))
        for line, module in _imports(path)
        if not _allowed_in_contract(module)
    ]
    assert offences == []


def test_the_contract_check_itself_catches_io_and_the_rooms_above():
    for module in ("pathlib", "socket", "orjson", "kafka", "relay.wire", "tracking.envelopes"):
        assert not _allowed_in_contract(module), module
    assert _allowed_in_contract("domain.event")
    assert _allowed_in_contract("zoneinfo")


def test_the_check_itself_catches_infrastructure_imports():
    assert not _allowed("eventsourcing.persistence")
    assert not _allowed("kafka")
    assert not _allowed("service.settings")
    assert _allowed("eventsourcing.application")
