"""``sscard bench replay|replay-memory --keep-store DIR / --from-store DIR``, small: a kept store
replays as the one it was populated for did (the same checks, the same rows, the same last
line), with the keys it was written with whatever the caller's are; a PostgreSQL store keeps its
SQLite twin, itself a store of the same events; and a folder that is not the store asked for is
refused in one line, exit 2, with nothing written."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bench.kept_stores import RECORD, populate_only
from bench.views import run_replay_bench, run_replay_memory_bench
from cli.main import main
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration]

LAST_LINE = re.compile(r"ratio=\S+ ratio_workers=\S+ peak_rss_mb=\d+")
MEMORY_LINE = re.compile(r"peak_rss_mb_small=\d+ peak_rss_mb_large=\d+ memory_ratio=[\d.]+")


def checks(lines: list[str]) -> list[str]:
    """The rebuilds' comparisons, row counts included (``check: ... equal (N rows)``)."""
    return [line for line in lines if line.startswith("check:")]


def record_of(folder: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((folder / RECORD).read_text())
    return loaded


def test_a_kept_sqlite_store_replays_as_when_it_was_populated(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    populated: list[str] = []
    first = run_replay_bench(
        make_settings(tmp_path / "a"), events=300, workers=2, say=populated.append, keep=kept
    )
    record = record_of(kept)
    assert stat.S_IMODE((kept / RECORD).stat().st_mode) == 0o600
    assert "generated people" in str(record["what"])
    assert (record["store"], record["events"]) == ("sqlite", 300)

    # Another caller's holder-id key: the store is opened with the keys it was written with.
    again: list[str] = []
    second = run_replay_bench(
        make_settings(tmp_path / "b", holder_id_key="another-callers-holder-id-key"),
        events=300,
        workers=2,
        say=again.append,
        reuse=kept,
        per_view=False,
    )

    assert not [line for line in again if line.startswith("setup: writing")], again
    assert any("not written again" in line for line in again), again
    assert second.events == first.events
    assert checks(again) == checks(populated)[:1]  # the split's check, rows for rows
    assert all(line.endswith(" rows)") and ": equal (" in line for line in checks(populated))
    assert second.per_view_seconds == {}
    assert any("one view after another" in line and "skipped" in line for line in again)
    assert LAST_LINE.fullmatch(populated[-1]), populated[-1]
    assert LAST_LINE.fullmatch(again[-1]), again[-1]
    assert record_of(kept) == record  # replaying changes nothing of the kept store


def test_a_kept_postgres_store_and_its_sqlite_twin_hold_the_same_events(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = make_settings(tmp_path / "run", database_url=postgres_url)
    kept = tmp_path / "kept"
    lines: list[str] = []
    populate_only(settings, "postgres", 300, kept, lines.append)
    record = record_of(kept)
    schema = str(record["postgres_schema"])
    try:
        twin = record_of(kept / "sqlite")
        assert (record["store"], twin["store"], twin["events"]) == ("postgres", "sqlite", 300)
        assert stat.S_IMODE((kept / "sqlite" / RECORD).stat().st_mode) == 0o600
        on_postgres: list[str] = []
        run_replay_bench(
            settings,
            events=300,
            store="postgres",
            workers=2,
            say=on_postgres.append,
            reuse=kept,
            per_view=False,
        )
        on_twin: list[str] = []
        run_replay_bench(
            settings,
            events=300,
            store="sqlite",
            workers=2,
            say=on_twin.append,
            reuse=kept / "sqlite",
            per_view=False,
        )
        assert checks(on_postgres) == checks(on_twin), (on_postgres, on_twin)
        assert ": equal (" in checks(on_twin)[0]
        assert LAST_LINE.fullmatch(on_postgres[-1]), on_postgres[-1]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            left = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
        assert left is not None, "the kept schema must stay in the database"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_the_memory_bench_keeps_both_histories_and_replays_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    kept = tmp_path / "memory"
    code = main(
        [
            "bench",
            "replay-memory",
            "--events",
            "150",
            "--times",
            "2",
            "--keep-store",
            str(kept),
            "--populate-only",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert not [line for line in out.splitlines() if line.startswith("replay:")], out
    assert [record_of(kept / n)["events"] for n in ("150", "300")] == [150, 300]

    lines: list[str] = []
    figures = run_replay_memory_bench(
        make_settings(tmp_path / "run"), events=150, times=2, say=lines.append, reuse=kept
    )
    assert figures.events == (150, 300)
    assert not [line for line in lines if line.startswith("setup: writing")], lines
    assert MEMORY_LINE.fullmatch(lines[-1]), lines[-1]


# ---- refusals ---------------------------------------------------------------------------------


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "SSCARD_DATABASE_URL", "PERSISTENCE_MODULE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SSCARD_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kept SQLite store of 60 events (the refusals only read it)."""
    base = tmp_path_factory.mktemp("kept")
    populate_only(make_settings(base / "run"), "sqlite", 60, base / "store", lambda _: None)
    return base / "store"


def contents(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a digest of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def tampered_head(store: Path, into: Path) -> Path:
    """A copy of ``store`` whose record names another last position."""
    shutil.copytree(store, into)
    record = record_of(into)
    record["head"] = int(str(record["head"])) + 1
    (into / RECORD).write_text(json.dumps(record))
    return into


REFUSED = {
    "no record": (["replay", "--events", "60", "--from-store", "{empty}"], "holds no bench store"),
    "another kind": (
        ["replay", "--store", "postgres", "--events", "60", "--from-store", "{store}"],
        "holds a sqlite store, not postgres",
    ),
    "another count": (
        ["replay", "--events", "61", "--from-store", "{store}"],
        "holds 60 events, not 61 (--events)",
    ),
    "unreadable record": (
        ["replay", "--events", "60", "--from-store", "{garbled}"],
        "unreadable",
    ),
    "changed since": (
        ["replay", "--events", "60", "--from-store", "{tampered}"],
        "changed since",
    ),
    "keep into a store": (
        ["replay", "--events", "60", "--keep-store", "{store}"],
        "not empty",
    ),
    "populate only, nowhere": (["replay", "--events", "60", "--populate-only"], "needs --keep"),
    "memory, one size missing": (
        ["replay-memory", "--events", "30", "--times", "2", "--from-store", "{memory}"],
        "holds no bench store",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_folder_not_the_store_asked_for_is_refused_in_one_line(
    case: str,
    small_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolate(monkeypatch, tmp_path)
    (tmp_path / "empty").mkdir()
    garbled = tmp_path / "garbled"
    shutil.copytree(small_store, garbled)
    (garbled / RECORD).write_text('{"store": "sqlite", "events": "many"}')
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "60").symlink_to(small_store)  # 30 and 60 events asked: 30 missing
    places = {
        "empty": tmp_path / "empty",
        "store": small_store,
        "garbled": garbled,
        "tampered": tampered_head(small_store, tmp_path / "tampered"),
        "memory": memory,
    }
    argv, reason = REFUSED[case]
    before = {name: contents(place) for name, place in places.items()}

    code = main(["bench", *(arg.format(**places) for arg in argv)])

    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sscard: invalid input: "), err
    assert reason in err, err
    assert {name: contents(place) for name, place in places.items()} == before
    assert not (tmp_path / "data").exists()
