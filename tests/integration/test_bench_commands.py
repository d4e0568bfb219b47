"""``sscard bench commands`` on real SQLite and PostgreSQL, small: both sides do the same number
of commands on events of the same size, and the scratch schemas are gone afterwards. The
threshold (ratios >= 0.8) is the full-size command's business (noisy on a shared machine)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from bench.command_throughput import run_commands_bench
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_a_small_run_measures_both_stores_and_leaves_nothing_behind(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url=postgres_url)
    with psycopg.connect(postgres_url) as conn:
        schemas_before = _schemas(conn)
    lines: list[str] = []

    results = run_commands_bench(settings, holders=10, commands=100, say=lines.append)

    assert [r.store for r in results] == ["sqlite", "postgres"]
    for result in results:
        assert result.commands == 100
        # The same size, to a byte or two (timestamps drop trailing zeros, versions grow).
        assert abs(result.office_event_bytes - result.bare_event_bytes) < 3
        assert result.office_seconds > 0
        assert result.bare_seconds > 0
    assert re.fullmatch(
        r"commands_ratio_sqlite=\d+\.\d\d commands_ratio_postgres=\d+\.\d\d", lines[-1]
    )
    with psycopg.connect(postgres_url) as conn:
        schemas_after = _schemas(conn)
    assert schemas_after == schemas_before


def _schemas(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    """The database's schemas but the per-test ones (``t_``, conftest.postgres_schema) that
    tests on another xdist worker create and drop meanwhile."""
    return {
        r[0] for r in conn.execute("SELECT nspname FROM pg_namespace") if not r[0].startswith("t_")
    }


def test_it_asks_for_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        run_commands_bench(make_settings(tmp_path), holders=1, commands=1, say=lambda _: None)
