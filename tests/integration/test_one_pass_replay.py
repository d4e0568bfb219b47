"""Every read model rebuilt in one pass (``replay.rebuilds``), on SQLite and on PostgreSQL.

The one pass must equal each view rebuilt alone the per-view way (``replay.views.rebuild``, the
follower feeding one view batch by batch), table by table, digest by digest; split across two
worker processes it must equal one worker; ``sscard verify``'s comparison still finds a view
changed behind its back; and the envelope the pass hands the views, built with only the
personal fields its public form needs opened, is the very message the relay publishes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import inspect, select

import tracking.rows
from cli.main import main
from contract.envelope import FEED_EVENTS
from contract.public_form import PUBLIC_NEEDS, public_payload
from domain.disclosure import PERSONAL_FIELDS
from projections.catalogue import VIEW_NAMES
from projections.claims import totals_table
from relay.topics import Topics
from relay.wire import messages_for
from replay.comparisons import compare_tables
from replay.rebuilds import OnePass, all_tables, prepare, rebuild_views, scratch_place
from replay.views import rebuild, scratch_store
from samples.claims import approve, pay, reject, submit, withdraw
from samples.stories import Identities, erase, population_story, replacement
from service.bootstrap import open_back_office, store_location
from service.replay_wiring import ReplayWiring, models
from service.settings import Settings
from service.views import replay_views, verify
from store.erasure import erase_holder
from store.protection import key_encryption_key
from tests.back_office import SSCARD, sscard_env
from tests.conftest import make_settings
from tests.support import Clock, every_kind_of_event, issue, pre_report, resident_id
from tracking.envelopes import view_tables
from tracking.store import ViewStore

ROOT_TIME = datetime(2026, 3, 2, 2, tzinfo=UTC)


def _history(settings: Settings) -> list[uuid.UUID]:
    """Every kind of card event, forty holders' stories, and claims of every outcome filed in
    two months by several holders, until the claims fall to both shares of a two-way split (so
    that the claims per region and month are added up from both). Returns the claim ids."""
    clock = Clock(ROOT_TIME)
    claims: list[uuid.UUID] = []
    with open_back_office(settings, clock=clock) as backoffice:
        office = backoffice.office
        every_kind_of_event(office, clock)
        ids = Identities("110106", "P")
        for holder in range(40):
            for _ in population_story(office, ids, holder):
                pass
        while len({c.int % 2 for c in claims}) < 2 or len(claims) < 6:
            rid = resident_id()
            office.issue_card(issue(rid))
            office.pre_report_loss(pre_report(rid))
            treated = (clock() + timedelta(hours=8)).date()
            paid = office.submit_claim(submit(rid, treated))
            office.approve_claim(approve(paid.originator_id))
            office.pay_claim(pay(paid.originator_id, f"BANK-{len(claims)}"))
            rejected = office.submit_claim(submit(rid, treated))
            office.reject_claim(reject(rejected.originator_id))
            withdrawn = office.submit_claim(submit(rid, treated))
            office.withdraw_claim(withdraw(withdrawn.originator_id, rid))
            claims += [paid.originator_id, rejected.originator_id, withdrawn.originator_id]
            clock.advance(days=32)  # the next holder's claims fall in the next month
    return claims


def _digests(store: ViewStore, other: ViewStore, names: list[str], settings: Settings) -> Any:
    """Per view and table: (rows, digest) on each side."""
    every = models(settings)
    out = {}
    with store.reading() as left, other.reading() as right:
        for name in names:
            for table in compare_tables(left, right, view_tables(every[name]), name, 3):
                out[(name, table.table)] = (
                    (table.live_rows, table.live_digest),
                    (table.rebuilt_rows, table.rebuilt_digest),
                    table.differences,
                )
    return out


def _index_names(store: ViewStore, tables: Any) -> set[str]:
    with store.reading() as tx:
        found = inspect(tx.conn)
        return {str(index["name"]) for table in tables for index in found.get_indexes(table.name)}


def _tables_asked(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names of the tables a row cache asks the database for rows of, from now on."""
    asked: set[str] = set()
    keyed_rows = tracking.rows._keyed_rows

    def counted(tx: Any, cursor: Any, table: Any, keys: Any) -> Any:
        asked.add(table.name)
        return keyed_rows(tx, cursor, table, keys)

    monkeypatch.setattr(tracking.rows, "_keyed_rows", counted)
    return asked


def _one_pass(settings: Settings, workers: int, place: Any) -> ViewStore:
    store = place.open(store_location(settings))
    every = models(settings)
    with open_back_office(settings) as backoffice:
        rebuild_views(
            ReplayWiring(settings),
            backoffice.source,
            place,
            store,
            [every[n] for n in VIEW_NAMES],
            workers=workers,
        )
    return store


def test_one_pass_split_or_not_equals_every_view_rebuilt_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    claims = _history(settings)
    assert {c.int % 2 for c in claims} == {0, 1}
    every = models(settings)
    with (
        scratch_place(store_location(settings)) as one_place,
        scratch_place(store_location(settings)) as two_place,
        scratch_place(store_location(settings)) as small_place,
    ):
        one = _one_pass(settings, 1, one_place)
        two = _one_pass(settings, 2, two_place)
        # Memory held to a few hundred rows: the caches are written out and forgotten many
        # times, and later events find their rows in the scratch store.
        small = small_place.open(store_location(settings))
        chosen = [every[n] for n in VIEW_NAMES]
        prepare(small, chosen)
        asked = _tables_asked(monkeypatch)
        with open_back_office(settings) as backoffice:
            forgetting = OnePass(backoffice.source, small, chosen, batch_size=50, held=300)
            forgetting.run(backoffice.source.head())
        assert asked, "past its first generation, a rebuild asks for rows it may have written"
        # Nothing is asked of the tables copied from their twins, nor of the cards, which the
        # blocklist writes without reading.
        assert not asked & {"sscard_cl_holders", "sscard_cl_windows", "sscard_blocklist"}
        try:
            # Made after the rows (``replay.rebuilds.prepare``), whether in one process or two.
            tables = all_tables(chosen)
            wanted = {str(index.name) for table in tables for index in table.indexes}
            assert wanted
            assert _index_names(one, tables) == wanted
            assert _index_names(two, tables) == wanted
            for name in VIEW_NAMES:
                with (
                    scratch_store(store_location(settings)) as alone,
                    open_back_office(settings) as backoffice,
                ):
                    rebuild(backoffice.source, alone, every[name])
                    for (view, table), (left, right, differences) in _digests(
                        one, alone, [name], settings
                    ).items():
                        assert left == right, (view, table, differences)
                        assert left[0] > 0 or table in ("sscard_claims", "sscard_claims_totals")
            split = _digests(one, two, list(VIEW_NAMES), settings)
            for (view, table), (left, right, differences) in split.items():
                assert left == right, (view, table, differences)
            forgetful = _digests(one, small, list(VIEW_NAMES), settings)
            for (view, table), (left, right, differences) in forgetful.items():
                assert left == right, (view, table, differences)
            assert split[("claims", "sscard_claims_totals")][0][0] >= 2  # two months at least
        finally:
            one.close()
            two.close()
            small.close()


def test_verify_rebuilds_in_one_pass_and_still_finds_a_changed_view(settings: Settings):
    _history(settings)
    reports = replay_views(settings, VIEW_NAMES, workers=2)
    assert [r.view for r in reports] == list(VIEW_NAMES)
    assert all(r.equal for r in verify(settings, VIEW_NAMES, wait=0.1, workers=2))
    with open_back_office(settings) as backoffice, backoffice.views.transaction() as tx:
        first = tx.execute(select(totals_table).limit(1)).mappings().one()
        tx.execute(
            totals_table.update()
            .where(totals_table.c.region_code == first["region_code"])
            .where(totals_table.c.month == first["month"])
            .values(paid=first["paid"] + 1)
        )
    found = {r.view: r for r in verify(settings, VIEW_NAMES, wait=0.1, workers=2)}
    assert not found["claims"].equal
    changed = [t for t in found["claims"].tables if not t.equal]
    assert [t.table for t in changed] == ["sscard_claims_totals"]
    assert all(found[name].equal for name in VIEW_NAMES if name != "claims")


def test_the_one_pass_envelope_is_the_message_the_relay_sends(settings: Settings):
    """Record by record, and batch by batch as the pass reads them: the same bytes, erased
    holders' masks included (a holder replaced by proxy, then erased with their key)."""
    _history(settings)
    ids = Identities("110107", "E")
    with open_back_office(settings) as backoffice:
        erased = ids.resident_id()
        backoffice.office.issue_card(issue(erased, number=ids.card_number()))
        for _ in replacement(backoffice.office, ids, erased, agent=ids.resident_id()):
            pass
        erase_holder(backoffice, erase(erased))
    topics = Topics("t")
    every = models(settings)
    with open_back_office(settings) as backoffice, scratch_store(store_location(settings)) as store:
        source = backoffice.source
        one_pass = OnePass(source, store, [every[n] for n in VIEW_NAMES])
        sent_values = []
        for notification in source.notifications(0, 100_000):
            sent = [
                m
                for m in messages_for(source.stored_form(notification), topics)
                if m.topic in (topics.card_events, topics.reimbursement_events)
            ]
            if not sent:
                continue
            (envelope,) = one_pass.envelopes(source.records(notification.id - 1, 1))
            assert orjson.loads(sent[0].value) == envelope
            assert orjson.dumps(envelope) == sent[0].value  # byte for byte, key order too
            sent_values.append(sent[0].value)
        read = source.records(0, 100_000, [t for f in FEED_EVENTS.values() for t in f])
        assert [orjson.dumps(e) for e in one_pass.envelopes(read)] == sent_values
    assert len(sent_values) > 100
    assert sum(b'"[erased]"' in v for v in sent_values) >= 3  # issued, proxy, formal report


def test_a_replay_opens_only_the_personal_fields_a_public_form_is_made_of():
    for cls, personal in PERSONAL_FIELDS.items():
        if public_payload(cls, _form(cls)) is None:
            continue  # never published
        needed = PUBLIC_NEEDS.get(cls, frozenset())
        assert needed <= set(personal), cls
        full = _form(cls)
        without = {k: v for k, v in full.items() if k in needed or k not in personal}
        assert public_payload(cls, without) == public_payload(cls, full), cls.__name__


def _form(cls: Any) -> dict[str, Any]:
    """A JSON form with every field of ``cls`` given a plausible value."""
    values: dict[str, Any] = {
        "originator_id": str(uuid.UUID(int=1)),
        "originator_version": 2,
        "event_id": str(uuid.UUID(int=2)),
        "occurred_at": ROOT_TIME.isoformat(),
        "actor": {"role": "outlet_clerk", "staff_id": "c1", "channel": None},
        "outlet": "BJ-DC-001",
        "schema_version": 1,
        "holder_id": str(uuid.UUID(int=3)),
        "resident_id": resident_id(),
        "agent_resident_id": resident_id(),
        "holder_name": "王小明",
        "agent_name": "李四",
        "region_code": "110000",
        "filed_on": date(2026, 3, 2).isoformat(),
        "benefit_year": 2026,
        "payable_fen": 100,
        "reason": "not_covered",
    }
    return {name: values.get(name, f"<{name}>") for name in cls.model_fields} | {
        k: values[k] for k in ("originator_id", "originator_version")
    }


def test_workers_is_a_whole_number_from_one_to_sixty_four(capsys):
    for bad in ("0", "65", "two"):
        for command in ("replay", "verify"):
            with pytest.raises(SystemExit) as exit_:
                main([command, "--workers", bad])
            assert exit_.value.code == 2
            error = capsys.readouterr().err
            assert "--workers" in error
            assert "Traceback" not in error


def test_a_data_key_another_master_key_wrapped_is_bad_configuration_in_a_worker_too(
    tmp_path: Path,
):
    """A data key the master key cannot unwrap (restored from another deployment) is met by
    whoever opens that holder's records: the replay's own process (one worker) or a worker
    process (two). Either way it is a configuration error, exit 2 with one line naming the
    setting, and not infrastructure trouble (exit 3)."""
    settings = make_settings(tmp_path)
    with open_back_office(settings) as backoffice:
        for _ in range(4):
            backoffice.office.issue_card(issue(resident_id()))
        live = backoffice.personal_data.table.live_owner()  # the one the start-up check opens
    with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as db, db:
        owners = [r[0] for r in db.execute("SELECT holder_id FROM sscard_data_keys")]
        other = AESGCM(key_encryption_key("another-master-key-" + "x" * 20))
        for owner in owners:
            if owner != live:
                nonce = os.urandom(12)
                wrapped = nonce + other.encrypt(
                    nonce, AESGCM.generate_key(256), b"sscard-data-key:" + owner.encode()
                )
                db.execute(
                    "UPDATE sscard_data_keys SET wrapped = ? WHERE holder_id = ?", (wrapped, owner)
                )
    for workers in ("1", "2"):
        done = subprocess.run(
            [SSCARD, "replay", "--workers", workers],
            env=sscard_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, (workers, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (workers, done.stderr)
        assert lines[0].startswith("sscard: configuration error: SSCARD_MASTER_KEY does not unwrap")
