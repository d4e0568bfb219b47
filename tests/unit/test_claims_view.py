"""The claims view, fed from an in-memory store through the relay's own envelope function.

Checked against an independent account of the same history (the claims the office holds, the
windows of the holder's own state), and, as a property, fed the relay's messages in any
interleaving of its two topics (each topic in its own order, as two consumers read them): it
always equals a rebuild from the store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.envelope import CARD_EVENTS, CLAIM_EVENTS
from domain.application import CardOffice
from domain.claims.errors import TreatmentOutsideWindow
from domain.region_policy import RegionPolicies
from projections import claims as view
from projections.catalogue import VIEW_NAMES, read_models
from projections.public_fields import zones_of
from relay.topics import Topics
from relay.wire import messages_for
from replay.views import rebuild, replay_feed
from samples.claims import BEIJING_HOSPITAL, approve, bill, pay, reject, submit, withdraw
from tests.support import (
    Clock,
    activate,
    card_number,
    collect,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)
from tracking.envelopes import apply_all, view_tables
from tracking.rows import table_rows
from tracking.source import StoreEventSource
from tracking.store import ViewStore

MODEL = read_models(zones_of(RegionPolicies.packaged()))["claims"]
TOPICS = Topics("t")


@pytest.fixture
def views(tmp_path: Path) -> Iterator[ViewStore]:
    store = ViewStore.sqlite(tmp_path / "views.sqlite")
    yield store
    store.close()


def claims_story(office: CardOffice, clock: Clock) -> dict[str, UUID]:
    """A holder whose card is replaced (one window, closed at activation) with one claim of each
    outcome, and a second holder still blocked with one claim waiting."""
    rid, other = resident_id(), resident_id()
    office.issue_card(issue(rid))
    office.issue_card(issue(other))
    office.pre_report_loss(pre_report(rid))
    office.pre_report_loss(pre_report(other))
    clock.advance(days=1)
    application = office.report_loss_formally(report(rid))
    new_card = card_number()
    clock.advance(days=2)
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(rid, application.certificate_number))
    office.activate_card(activate(rid, new_card))
    clock.advance(days=1)
    day = date(2026, 3, 4)  # inside both windows
    paid = office.submit_claim(
        submit(rid, day, bill(total=520_000, in_scope=500_000))
    ).originator_id
    office.approve_claim(approve(paid))
    office.pay_claim(pay(paid, "BANK-0001"))
    rejected = office.submit_claim(submit(rid, day)).originator_id
    office.reject_claim(reject(rejected))
    withdrawn = office.submit_claim(submit(rid, day)).originator_id
    office.withdraw_claim(withdraw(withdrawn, rid))
    waiting = office.submit_claim(submit(other, day)).originator_id
    return {"paid": paid, "rejected": rejected, "withdrawn": withdrawn, "waiting": waiting}


def rows(store: ViewStore) -> dict[str, list[dict[str, Any]]]:
    with store.reading() as tx:
        return {t.name: list(table_rows(tx, t)) for t in view_tables(MODEL)}


def test_the_claims_view_is_a_view_of_the_catalogue_reading_both_topics():
    assert "claims" in VIEW_NAMES
    assert set(MODEL.feeds) == {CARD_EVENTS, CLAIM_EVENTS}


def test_the_replay_feed_hands_claims_the_reimbursement_events_messages_byte_for_byte():
    clock = Clock()
    office = memory_office(clock)
    claims_story(office, clock)
    source = StoreEventSource(office)
    replayed = list(replay_feed(source, MODEL.feeds).read(0, 10_000).items)
    sent = [
        orjson.loads(m.value)
        for n in source.notifications(0, 10_000)
        for m in messages_for(source.stored_form(n), TOPICS)
        if m.topic in (TOPICS.card_events, TOPICS.reimbursement_events)
    ]
    assert replayed == sent
    assert {e["event_type"] for e in replayed} >= {
        "ReimbursementClaimSubmitted",
        "ReimbursementClaimPaid",
        "CardActivated",
    }
    # the card views still see card events only
    card_only = list(replay_feed(source).read(0, 10_000).items)
    assert all(not e["event_type"].startswith("Reimbursement") for e in card_only)
    office.close()


def test_the_queue_totals_and_windows_follow_the_claims(views: ViewStore):
    clock = Clock()
    office = memory_office(clock)
    ids = claims_story(office, clock)
    rebuild(StoreEventSource(office), views, MODEL)
    with views.reading() as tx:
        listed = {UUID(c["claim_id"]): c for c in view.claims(tx)}
        assert {k: listed[v]["status"] for k, v in ids.items()} == {
            "paid": "paid",
            "rejected": "rejected",
            "withdrawn": "withdrawn",
            "waiting": "submitted",
        }
        for name, claim_id in ids.items():
            assert listed[claim_id]["holder_id"] == str(office.claim(claim_id).holder_id), name
        paid = listed[ids["paid"]]
        approved = office.claim(ids["paid"]).payable_fen
        assert approved
        assert paid["payable_fen"] == paid["paid_fen"] == approved
        assert listed[ids["rejected"]]["reason"] == "documents_illegible"
        assert [c["claim_id"] for c in view.claims(tx, status="submitted")] == [str(ids["waiting"])]
        holder = str(office.claim(ids["paid"]).holder_id)
        assert len(view.claims(tx, holder_id=holder)) == 3
        [window] = view.holder_windows(tx, holder)
        assert window["outcome"] == "new_card_activated"
        assert (window["started_on"], window["ended_on"]) == ("2026-03-02", "2026-03-05")
        waiting_holder = str(office.claim(ids["waiting"]).holder_id)
        [open_window] = view.holder_windows(tx, waiting_holder)
        assert open_window["ended_on"] is None
        [month] = view.totals(tx)
        assert (month["region_code"], month["month"]) == ("110000", "2026-03")
        assert (month["submitted"], month["approved"], month["rejected"]) == (4, 1, 1)
        assert (month["withdrawn"], month["paid"]) == (1, 1)
        assert month["approved_fen"] == month["paid_fen"] == approved
        assert view.age_in_days(listed[ids["waiting"]], date(2026, 3, 15)) == 9  # filed on 6 March
        assert view.age_in_days(listed[ids["rejected"]], date(2026, 3, 15)) == 0
    office.close()


def test_no_medical_detail_reaches_the_view(views: ViewStore):
    clock = Clock()
    office = memory_office(clock)
    ids = claims_story(office, clock)
    rebuild(StoreEventSource(office), views, MODEL)
    text = repr(rows(views))
    for claim_id in ids.values():
        claim = office.claim(claim_id)
        assert claim.invoice_number not in text
    assert BEIJING_HOSPITAL not in text
    assert "treatment" not in text
    assert "itemised" not in text
    office.close()


def test_a_claim_step_before_its_submission_cannot_be_applied(views: ViewStore):
    clock = Clock()
    office = memory_office(clock)
    claims_story(office, clock)
    source = StoreEventSource(office)
    items = [
        e
        for e in replay_feed(source, MODEL.feeds).read(0, 10_000).items
        if e["event_type"] == "ReimbursementClaimPaid"
    ]
    views.create(view_tables(MODEL))
    with pytest.raises(Exception, match="no submission seen"), views.transaction() as tx:
        apply_all(MODEL, items, tx)
    office.close()


def _interleaved(source: StoreEventSource, seed: int, resend: bool) -> list[dict[str, Any]]:
    """The relay's messages as two consumers deliver them: each topic in its own order, the two
    topics mixed at random, and (``resend``) a stretch of one topic delivered again."""
    per_topic: dict[str, list[dict[str, Any]]] = {
        TOPICS.card_events: [],
        TOPICS.reimbursement_events: [],
    }
    for n in source.notifications(0, 100_000):
        for m in messages_for(source.stored_form(n), TOPICS):
            if m.topic in per_topic:
                per_topic[m.topic].append(orjson.loads(m.value))
    rng = random.Random(seed)
    queues = [list(q) for q in per_topic.values()]
    if resend and queues[1]:
        cut = rng.randrange(len(queues[1]))
        queues[1] = queues[1][: cut + 1] + queues[1][: cut + 1][-3:] + queues[1][cut + 1 :]
    mixed = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        mixed.append(queue.pop(0))
    return mixed


def run_claims(office: CardOffice, clock: Clock, commands: list[tuple[str, int, int]]) -> None:
    """Three blocked holders; claims filed, decided and paid, windows closed and opened again."""
    holders = [resident_id() for _ in range(3)]
    for rid in holders:
        office.issue_card(issue(rid))
        office.pre_report_loss(pre_report(rid))
    blocked = set(holders)
    clock.advance(hours=2)
    pending: list[tuple[UUID, str]] = []
    approved: list[UUID] = []
    for action, pick, amount in commands:
        clock.advance(minutes=7)
        rid = holders[pick % len(holders)]
        if action == "submit":
            try:
                claim = office.submit_claim(submit(rid, date(2026, 3, 2), bill(total=amount)))
            except TreatmentOutsideWindow:  # a later window only: refused, nothing written
                continue
            pending.append((claim.originator_id, rid))
        elif action == "activate":  # the window closes; the next one opens with a pre-report
            if rid in blocked:
                application = office.report_loss_formally(report(rid))
                new_card = card_number()
                office.record_production(produce(application.certificate_number, new_card))
                office.record_collection(collect(rid, application.certificate_number))
                office.activate_card(activate(rid, new_card))
                blocked.discard(rid)
            else:
                office.pre_report_loss(pre_report(rid))
                blocked.add(rid)
        elif action == "pay" and approved:
            claim_id = approved.pop(pick % len(approved))
            if office.claim(claim_id).payable_fen:
                office.pay_claim(pay(claim_id, f"PAY-{claim_id.hex[:8]}"))
        elif pending and action in ("approve", "reject", "withdraw"):
            claim_id, owner = pending.pop(pick % len(pending))
            if action == "approve":
                office.approve_claim(approve(claim_id))
                approved.append(claim_id)
            elif action == "reject":
                office.reject_claim(reject(claim_id))
            else:
                office.withdraw_claim(withdraw(claim_id, owner))


commands = st.lists(
    st.tuples(
        st.sampled_from(["submit", "approve", "reject", "withdraw", "pay", "activate"]),
        st.integers(0, 50),
        st.integers(1, 400_000),
    ),
    min_size=1,
    max_size=25,
)


@given(commands=commands, seed=st.integers(0, 2**32), resend=st.booleans(), batch=st.integers(1, 7))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_live_claims_view_equals_its_rebuild_whatever_the_order_of_the_topics(
    tmp_path_factory: pytest.TempPathFactory,
    commands: list[tuple[str, int, int]],
    seed: int,
    resend: bool,
    batch: int,
):
    clock = Clock()
    office = memory_office(clock)
    run_claims(office, clock, commands)
    source = StoreEventSource(office)
    folder = tmp_path_factory.mktemp("claims")
    live, rebuilt = ViewStore.sqlite(folder / "live.sqlite"), ViewStore.sqlite(folder / "re.sqlite")
    try:
        live.create(view_tables(MODEL))
        messages = _interleaved(source, seed, resend)
        for start in range(0, len(messages), batch):
            with live.transaction() as tx:
                apply_all(MODEL, messages[start : start + batch], tx)
        rebuild(source, rebuilt, MODEL)
        assert rows(live) == rows(rebuilt)
    finally:
        live.close()
        rebuilt.close()
        office.close()
