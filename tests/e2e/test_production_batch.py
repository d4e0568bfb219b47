"""Issue 12, item 8: the production centre sends a batch file (制卡批次)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, formal_report, issue
from tests.support import card_number, resident_id


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def produce_batch(cli: Cli, path: Path, *extra: str):
    return cli("card", "produce", "--batch", str(path), "--staff", "centre-01", *extra)


def test_a_batch_records_each_row_and_is_idempotent_when_sent_again(cli: Cli, tmp_path: Path):
    holders, certificates, new_cards = [], [], []
    for _ in range(3):
        rid = resident_id()
        issue(cli, rid)
        holders.append(rid)
        certificates.append(formal_report(cli, rid))
        new_cards.append(card_number())
    produced_at = datetime.now(UTC).isoformat()
    batch = tmp_path / "batch-0001.csv"
    rows = [f"{c},{n},{produced_at}" for c, n in zip(certificates, new_cards, strict=True)]
    batch.write_text("certificate,new_card_number,produced_at\n" + "\n".join(rows) + "\n")

    first = produce_batch(cli, batch, "--batch-id", "B-2026-11-0001")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert [line.endswith("recorded") for line in lines[:3]] == [True] * 3
    assert "3 rows, 3 recorded, 0 already recorded, 0 refused" in lines[-1]

    # The first card moves on (collected, activated): its row, sent again, is still on record.
    pickup = ["--outlet", "BJ-HD-003", "--staff", "clerk-01", "--resident-id", holders[0]]
    cli.ok("card", "collect", *pickup, "--certificate", certificates[0])
    cli.ok("card", "activate", *pickup, "--card-number", new_cards[0])
    head = cli.head()
    again = produce_batch(cli, batch, "--batch-id", "B-2026-11-0001", "--json")
    assert again.returncode == 0, again.stdout
    answer = json.loads(again.stdout)
    assert (answer["status"], answer["already_recorded"], answer["complete"]) == (
        "already_recorded",
        3,
        True,
    )
    assert cli.head() == head


def test_a_bad_row_is_refused_with_its_reason_and_the_exit_code_says_so(cli: Cli, tmp_path: Path):
    rid, other = resident_id(), resident_id()
    issue(cli, rid)
    issue(cli, other)
    certificate = formal_report(cli, rid)
    other_certificate = formal_report(cli, other)
    now = datetime.now(UTC)
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "certificate,new_card_number,produced_at\n"
        f"{certificate},{card_number()},{now.isoformat()}\n"
        f"110000-0000000001,{card_number()},{now.isoformat()}\n"
        f"{certificate},not-a-card,{now.isoformat()}\n"
        f"{other_certificate},{card_number()},{(now + timedelta(days=3)).isoformat()}\n"
        f"{'x' * 500},{card_number()},yesterday\n"
        "only,two\n"
    )
    result = produce_batch(cli, batch, "--json")
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1, "one JSON object"
    batch_result = json.loads(result.stdout)
    rows = batch_result["results"]
    statuses = [row["status"] for row in rows]
    assert statuses == ["recorded", "refused", "refused", "refused", "refused", "refused"]
    assert rows[1]["code"] == "no_open_application"
    assert "future" in rows[3]["message"]
    assert "+08:00" in rows[3]["message"], "people read local time"
    counts = {k: batch_result[k] for k in ("status", "code", "rows", "recorded", "refused")}
    assert counts == {
        "status": "refused",
        "code": "rows_refused",
        "rows": 6,
        "recorded": 1,
        "refused": 5,
    }
    assert batch_result["complete"] is False
    assert all(len(json.dumps(row)) < 1000 for row in rows)


def test_a_production_dated_before_the_application_is_refused(cli: Cli, tmp_path: Path):
    rid = resident_id()
    issue(cli, rid)
    certificate = formal_report(cli, rid)
    batch = tmp_path / "early.csv"
    early = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    batch.write_text(
        f"certificate,new_card_number,produced_at\n{certificate},{card_number()},{early}\n"
    )
    result = produce_batch(cli, batch)
    assert result.returncode == 1
    assert "before the holder's previous event" in result.stdout


def test_a_file_that_is_not_a_batch_is_bad_input(cli: Cli, tmp_path: Path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("cert,card\n1,2\n")
    line = cli.refused(2, "card", "produce", "--batch", str(wrong), "--staff", "centre-01")
    assert "certificate,new_card_number,produced_at" in line
    cli.refused(2, "card", "produce", "--batch", str(tmp_path / "missing.csv"), "--staff", "c1")


def test_a_long_batch_shows_progress_on_stderr_when_asked(cli: Cli, tmp_path: Path):
    batch = tmp_path / "long.csv"
    now = datetime.now(UTC).isoformat()
    batch.write_text(
        "certificate,new_card_number,produced_at\n"
        + "".join(f"110000-{n:010d},{card_number()},{now}\n" for n in range(40))
    )
    quiet = produce_batch(cli, batch)
    assert "rows:" not in quiet.stderr  # not a terminal, not asked: no progress
    shown = produce_batch(cli, batch, "--progress")
    assert "rows: 40/40 (100%)" in shown.stderr
    assert "\r" not in shown.stderr, "no redraws into a file: plain lines"
    # Into a log, a line every 10 s and the last count: a short batch gives the first and last.
    assert 1 <= len(shown.stderr.splitlines()) <= 3
    assert shown.stdout.count("\n") == 41
