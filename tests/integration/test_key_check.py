"""Each key is checked against the store at start: another key exits 2 naming its variable and
writes nothing. A store made before identifiers records them once its records agree."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from domain.errors import ConfigurationError
from service.bootstrap import open_back_office
from service.settings import Settings
from store.key_check import HOLDER_ID_KEY, MASTER_KEY, holder_id_key_id
from store.keystore import KEY_IDS_TABLE
from tests.conftest import make_settings
from tests.integration.test_upgrade import FACTS, FIXTURES
from tests.support import HOLDER_ID_KEY as TEST_HOLDER_ID_KEY
from tests.support import Clock, issue, pre_report, resident_id

pytestmark = pytest.mark.integration

OTHER_HOLDER_ID_KEY = SecretStr("another-holder-id-key-0000")
OTHER_MASTER_KEY = SecretStr("another-master-key-" + "x" * 20)


def _rows(settings: Settings) -> tuple[Any, ...]:
    """Everything the store holds that a start could write: events, data keys, identifiers."""
    queries = (
        "SELECT count(*) FROM {events}",
        "SELECT count(*), count(wrapped) FROM sscard_data_keys",
        f"SELECT variable, key_id FROM {KEY_IDS_TABLE} ORDER BY variable",
    )
    if settings.uses_postgres:
        schema = settings.postgres().db_schema or "public"
        with psycopg.connect(settings.postgres().dsn()) as conn:
            return tuple(
                conn.execute(
                    q.format(events="cardoffice_events").replace(" FROM ", f" FROM {schema}.")
                ).fetchall()
                for q in queries
            )
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        return tuple(conn.execute(q.format(events="stored_events")).fetchall() for q in queries)
    finally:
        conn.close()


def _refused(settings: Settings) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as refused:
        open_back_office(settings, clock=Clock()).close()
    return refused.value


@pytest.mark.parametrize(
    ("variable", "field", "other"),
    [
        (HOLDER_ID_KEY, "holder_id_key", OTHER_HOLDER_ID_KEY),
        (MASTER_KEY, "master_key", OTHER_MASTER_KEY),
    ],
)
def test_another_key_is_refused_naming_its_variable_and_writes_nothing(
    settings: Settings, variable: str, field: str, other: SecretStr
):
    rid = resident_id()
    with open_back_office(settings, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(rid))
        recorded = backoffice.personal_data.table.key_ids()
    assert set(recorded) == {HOLDER_ID_KEY, MASTER_KEY}
    before = _rows(settings)
    refused = _refused(settings.model_copy(update={field: other}))
    assert refused.variable == variable
    assert str(refused).startswith(f"{variable} does not match the key this store was made with")
    assert recorded[variable] in str(refused)
    assert _rows(settings) == before
    with open_back_office(settings, clock=Clock()) as backoffice:  # the right keys still work
        backoffice.office.pre_report_loss(pre_report(rid))


def _forget_identifiers(settings: Settings) -> None:
    conn = sqlite3.connect(settings.sqlite_path)
    conn.execute(f"DELETE FROM {KEY_IDS_TABLE}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("variable", "field", "other"),
    [
        (HOLDER_ID_KEY, "holder_id_key", OTHER_HOLDER_ID_KEY),
        (MASTER_KEY, "master_key", OTHER_MASTER_KEY),
    ],
)
def test_a_store_without_identifiers_is_checked_against_its_records(
    tmp_path: Path, variable: str, field: str, other: SecretStr
):
    settings = make_settings(tmp_path)
    with open_back_office(settings, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(resident_id()))
    _forget_identifiers(settings)  # as a store made before identifiers were recorded
    refused = _refused(settings.model_copy(update={field: other}))
    assert refused.variable == variable
    assert _rows(settings)[2] == []  # nothing recorded under the wrong key
    with open_back_office(settings, clock=Clock()) as backoffice:
        recorded = backoffice.personal_data.table.key_ids()
    assert recorded[HOLDER_ID_KEY] == holder_id_key_id(TEST_HOLDER_ID_KEY)
    assert _refused(settings.model_copy(update={field: other})).variable == variable


def test_the_release_before_encryption_records_its_keys_at_first_start(tmp_path: Path):
    settings = make_settings(tmp_path, holder_id_key=FACTS["holder_id_key"])
    settings.data_dir.mkdir(parents=True)
    conn = sqlite3.connect(settings.sqlite_path)
    conn.executescript((FIXTURES / "store_v1.sql").read_text(encoding="utf-8"))
    conn.close()
    wrong = settings.model_copy(update={"holder_id_key": OTHER_HOLDER_ID_KEY})
    assert _refused(wrong).variable == HOLDER_ID_KEY  # the plain records show the key is wrong
    with open_back_office(settings) as backoffice:
        assert set(backoffice.personal_data.table.key_ids()) == {HOLDER_ID_KEY, MASTER_KEY}
    assert _refused(wrong).variable == HOLDER_ID_KEY


def test_the_cli_with_another_holder_id_key_exits_2_with_one_line(tmp_path: Path):
    rid = resident_id()
    settings = make_settings(tmp_path)
    with open_back_office(settings, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(rid))
    before = _rows(settings)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SSCARD_DATA_DIR": str(settings.data_dir),
        "SSCARD_STATE_DIR": str(settings.state_dir),
        "SSCARD_HOLDER_ID_KEY": OTHER_HOLDER_ID_KEY.get_secret_value(),
    }
    sscard = str(Path(sys.executable).parent / "sscard")
    result = subprocess.run(
        [sscard, "holder", "show", "--resident-id", rid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SSCARD_HOLDER_ID_KEY does not match the key this store was made with" in lines[0]
    assert _rows(settings) == before
    env["SSCARD_HOLDER_ID_KEY"] = TEST_HOLDER_ID_KEY
    shown = subprocess.run(
        [sscard, "holder", "show", "--resident-id", rid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
