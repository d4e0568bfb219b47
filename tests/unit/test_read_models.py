"""The read models, fed from an in-memory store through the relay's own envelope function.

Each view is checked against an independent account of the same history: the blocklist against
the settlement messages the relay publishes, the suspension windows against the holder's state
in the domain, the queue and the lifecycle against the stories that made the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from contract.envelope import public_envelope
from domain.cardholder.state import Cardholder
from domain.identifiers import holder_stream_id
from domain.region_policy import RegionPolicies
from projections.catalogue import read_models
from projections.claims import holder_windows
from projections.lifecycle import cases_table as lifecycle_cases
from projections.outlet_queue import cases_table as queue_cases
from projections.outlet_queue import holders_table as queue_holders
from projections.outlet_queue import pre_reports_table, queue_counts, queue_page
from projections.public_fields import masked_holder_name, zones_of
from projections.settlement_blocklist import blocklist, windows_of
from relay.topics import Topics
from relay.wire import messages_for
from replay.rebuilds import OnePass, prepare
from replay.views import rebuild, replay_feed
from samples.stories import replacement
from tests.support import (
    HOLDER_ID_KEY,
    IDS,
    Clock,
    every_kind_of_event,
    issue,
    memory_office,
    pre_report,
    resident_id,
)
from tracking.envelopes import ApplyFailed, apply_all, versions_table, view_tables
from tracking.rows import Rows, table_rows
from tracking.source import StoreEventSource
from tracking.store import ViewStore

ZONES = zones_of(RegionPolicies.packaged())
MODELS = read_models(ZONES)


@pytest.fixture
def history() -> Iterator[tuple[Any, StoreEventSource, list[str], Clock]]:
    clock = Clock()
    office = memory_office(clock)
    holders = every_kind_of_event(office, clock)
    yield office, StoreEventSource(office), holders, clock
    office.close()


@pytest.fixture
def views(tmp_path: Path) -> Iterator[ViewStore]:
    store = ViewStore.sqlite(tmp_path / "views.sqlite")
    yield store
    store.close()


def envelopes(source: StoreEventSource) -> list[dict[str, Any]]:
    feed = replay_feed(source)
    return list(feed.read(0, 10_000).items)


def rows_of(store: ViewStore, table: Any) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return list(table_rows(tx, table))


def stream(rid: str) -> str:
    return str(holder_stream_id(rid, HOLDER_ID_KEY.encode()))


def test_a_replayed_envelope_is_the_card_events_message_the_relay_sends(history):
    _, source, _, _ = history
    topics = Topics("t")
    for notification in source.notifications(0, 10_000):
        stored = source.stored_form(notification)
        sent = [m for m in messages_for(stored, topics) if m.topic == topics.card_events]
        if not sent:
            continue
        assert orjson.loads(sent[0].value) == public_envelope(stored)
        # and the round trip through JSON changes nothing the views read
        assert orjson.loads(orjson.dumps(public_envelope(stored))) == public_envelope(stored)


def test_the_blocklist_is_the_latest_settlement_message_of_every_card(history, views):
    _, source, _, _ = history
    rebuild(source, views, MODELS["settlement_blocklist"])
    topics = Topics("t")
    latest: dict[str, tuple[str, str, str]] = {}
    for notification in source.notifications(0, 10_000):
        for message in messages_for(source.stored_form(notification), topics):
            if message.topic == topics.settlement:
                value = orjson.loads(message.value)
                since = value["since"]
                latest[value["card_number"]] = (value["status"], since, value["reason"])
    with views.reading() as tx:
        projected = blocklist(tx)
    assert set(projected) == set(latest)
    for card, (status, since, reason) in latest.items():
        assert projected[card][0] == status
        assert projected[card][2] == reason
        assert projected[card][1][:19] == since[:19]
    assert {s for s, _, _ in projected.values()} == {"active", "cancelled"}


def test_suspension_windows_are_the_holders_own(history, views):
    office, source, holders, _ = history
    rebuild(source, views, MODELS["settlement_blocklist"])
    for rid in holders:
        state: Cardholder = office.holder(rid)
        with views.reading() as tx:
            windows = windows_of(tx, stream(rid))
        assert [(w["card_number"], w["outcome"]) for w in windows] == [
            (s.card_number, s.ended_by) for s in state.suspensions
        ]
        assert [w["ended_at"] is None for w in windows] == [
            s.ended_at is None for s in state.suspensions
        ]


def test_a_window_opened_after_a_replacement_suspends_the_new_card_in_both_views(views):
    """The windows follow the holder's card now (its collection): a pre-report after a
    replacement suspends the new card, in the blocklist's windows and the claims view's, rebuilt
    in one pass (which applies the windows once and copies them into the other view)."""
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid))
    first = office.holder(rid).card.number
    office.pre_report_loss(pre_report(rid))
    for _ in replacement(office, IDS, rid):
        pass
    new = office.holder(rid).card.number
    office.pre_report_loss(pre_report(rid))
    source = StoreEventSource(office)
    both = [MODELS["settlement_blocklist"], MODELS["claims"]]
    prepare(views, both)
    OnePass(source, views, both).run(source.head())
    state: Cardholder = office.holder(rid)
    expected = [(first, "new_card_activated"), (new, None)]
    assert [(s.card_number, s.ended_by) for s in state.suspensions] == expected
    with views.reading() as tx:
        kept = [windows_of(tx, stream(rid)), holder_windows(tx, stream(rid))]
    for windows in kept:
        assert [(w["card_number"], w["outcome"]) for w in windows] == expected
    office.close()


def test_a_lapse_that_cancelled_the_card_leaves_the_window_open(views):
    """Shaoguan cancels a card whose pre-report lapses: settlement stays suspended until a new
    card, so the window stays open, in the views as in the holder's state."""
    clock = Clock()
    office = memory_office(clock)
    rid = resident_id()
    office.issue_card(issue(rid, region="440200"))
    reported = office.pre_report_loss(pre_report(rid))
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, clock.advance(days=16)
    )
    assert lapsed is not None
    assert lapsed.result == "cancelled"
    rebuild(StoreEventSource(office), views, MODELS["settlement_blocklist"])
    with views.reading() as tx:
        windows = windows_of(tx, stream(rid))
    state: Cardholder = office.holder(rid)
    assert [(w["outcome"], w["ended_at"]) for w in windows] == [(None, None)]
    assert [(s.ended_by, s.ended_at) for s in state.suspensions] == [(None, None)]
    office.close()


def test_the_outlet_queue_follows_loss_and_damage_cases_to_activation(history, views):
    _, source, _holders, clock = history
    rebuild(source, views, MODELS["outlet_queue"])
    cases = rows_of(views, queue_cases)
    assert sorted(c["kind"] for c in cases) == ["damage", "loss"]
    assert {c["status"] for c in cases} == {"activated"}
    assert all(c["masked_name"] == "张*" for c in cases)
    statuses = {r["status"] for r in rows_of(views, pre_reports_table)}
    assert statuses == {"cancelled", "lapsed", "formally_reported"}
    with views.reading() as tx:
        counts = queue_counts(tx, "BJ-HD-003", clock().date())
        activated = queue_page(tx, "BJ-HD-003", "activated", clock().date())
    assert counts["activated"] == 2
    assert counts["ready"] == counts["awaiting-production"] == 0
    assert {e.kind for e in activated} == {"loss", "damage"}


def test_lifecycle_cases_record_every_stage(history, views):
    _, source, _, _ = history
    rebuild(source, views, MODELS["lifecycle_analytics"])
    cases = {c["kind"]: c for c in rows_of(views, lifecycle_cases)}
    loss, damage = cases["loss"], cases["damage"]
    assert loss["pre_reported_at"] is not None
    assert damage["pre_reported_at"] is None
    for case in (loss, damage):
        assert case["applied_at"] <= case["produced_at"] <= case["collected_at"]
        assert case["collected_at"] <= case["activated_at"]
        assert case["month"] == case["applied_on"][:7]
    assert loss["applicant"] == "agent"


def test_a_message_seen_again_is_dropped_not_applied_twice(history, views):
    _, source, _, _ = history
    model = MODELS["lifecycle_analytics"]
    views.create(view_tables(model))
    batch = envelopes(source)
    with views.transaction() as tx:
        assert apply_all(model, batch, tx) == len(batch)
    before = {t.name: rows_of(views, t) for t in view_tables(model)}
    with views.transaction() as tx:
        assert apply_all(model, batch[3:9], tx) == 0
    assert {t.name: rows_of(views, t) for t in view_tables(model)} == before
    counted = sum(r["events"] for r in rows_of(views, versions_table))
    assert counted == len(batch)


def test_an_event_that_cannot_be_applied_leaves_the_view_as_it_was(history, views):
    _, source, _, _ = history
    model = MODELS["outlet_queue"]
    views.create(view_tables(model))
    good = envelopes(source)
    with views.transaction() as tx:
        apply_all(model, good, tx)
    before = rows_of(views, queue_holders)
    issued = next(e for e in good if e["event_type"] == "CardIssued")
    stranger = orjson.loads(orjson.dumps(issued))
    stranger["stream_id"] = "00000000-0000-0000-0000-000000000001"
    stranger["payload"]["region_code"] = "990000"  # no region policy covers it
    with pytest.raises(ApplyFailed, match="unknown region 990000"), views.transaction() as tx:
        apply_all(model, [stranger], tx)
    assert rows_of(views, queue_holders) == before


def test_holder_erased_blanks_the_masked_name_in_every_row(history, views):
    _, source, holders, _ = history
    model = MODELS["outlet_queue"]
    views.create(view_tables(model))
    with views.transaction() as tx:
        apply_all(model, envelopes(source), tx)
    holder = stream(holders[0])
    before = {r["stream_id"]: r["masked_name"] for r in rows_of(views, queue_holders)}
    assert before[holder] != "[erased]"
    erased = {
        "event_type": "HolderErased",
        "stream_id": holder,
        "stream_version": 99,
        "position": 999,
        "occurred_at": "2026-04-01T00:00:00Z",
        "actor": {"role": "system"},
        "outlet": None,
        "payload": {},
    }
    with views.transaction() as tx:
        apply_all(model, [erased], tx)
    mine = [r for r in rows_of(views, queue_cases) if r["stream_id"] == holder]
    assert mine
    assert {r["masked_name"] for r in mine} == {"[erased]"}
    after = {r["stream_id"]: r["masked_name"] for r in rows_of(views, queue_holders)}
    assert after == before | {holder: "[erased]"}  # nobody else's name changes


def test_the_views_read_the_public_masked_name_and_never_see_a_name(history):
    _, source, _, _ = history
    issued = [e for e in envelopes(source) if e["event_type"] == "CardIssued"]
    assert issued
    for envelope in issued:
        payload = envelope["payload"]
        assert "holder_name" not in payload
        assert "resident_id" not in payload
        assert masked_holder_name(payload) == payload["holder_masked_name"]


def test_rows_undo_takes_back_one_events_changes(views):
    model = MODELS["outlet_queue"]
    views.create(view_tables(model))
    row = {
        "stream_id": "s",
        "region_code": "110000",
        "masked_name": "张*",
        "card_number": "A00000001",
        "pre_report_version": None,
        "case_version": None,
    }
    with views.transaction() as tx:
        rows = Rows(tx)
        rows.put(queue_holders, row)
        mark = rows.mark()
        rows.put(queue_holders, row | {"masked_name": "x"})
        rows.delete(queue_holders, ("s",))
        rows.undo(mark)
        assert rows.get(queue_holders, ("s",)) == row
        rows.flush()
    assert rows_of(views, queue_holders) == [row]
    with views.transaction() as tx:
        rows = Rows(tx)
        with pytest.raises(ValueError, match="no value for region_code"):
            rows.put(queue_holders, row | {"region_code": None})
        rows.delete(queue_holders, ("s",))
        rows.flush()
    with views.reading() as tx:
        assert tx.execute(select(queue_holders)).all() == []
