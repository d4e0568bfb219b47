"""Read models fed from the real broker: store -> relay -> Kafka -> consumers, checked against a
replay of the store; sequenced dead letters; the settlement subscriber against the projection."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from consumers import dead_letters
from consumers.settlement_client import Contract, SettlementSubscriber
from domain.errors import DomainError
from domain.identifiers import holder_stream_id
from projections.catalogue import VIEW_NAMES
from projections.public_fields import instant
from projections.settlement_blocklist import blocklist
from relay.contracts import settlement_schema
from relay.publisher import RELAY
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, topics
from service.settings import Settings
from service.views import replay
from tests.back_office import SSCARD, sscard_env
from tests.conftest import make_settings
from tests.kafka_support import read_topic
from tests.support import (
    HOLDER_ID_KEY,
    Clock,
    activate,
    authorize,
    cancel,
    collect,
    issue,
    pre_report,
    pre_report_online,
    produce,
    report,
    resident_id,
)
from tests.views_support import assert_views_equal_replay, consume_until_caught_up, publish_all

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

STEPS = (
    "issue",
    "pre_report",
    "pre_report_online",
    "cancel",
    "lapse",
    "authorize",
    "report",
    "report_by_agent",
    "replace_damaged",
    "produce",
    "collect",
    "activate",
)


def run_step(office, clock: Clock, step: str, rid: str, agent: str) -> None:
    """One command, valid or not: a refused one writes nothing, which is part of the test."""
    from samples.stories import replace_damaged

    state = None
    with contextlib.suppress(DomainError):
        state = office.holder(rid)
    case = None if state is None else state.case
    certificate = case.certificate_number if case is not None else "110000-0000000000"
    clock.advance(hours=3)
    try:
        match step:
            case "issue":
                office.issue_card(issue(rid))
            case "pre_report":
                office.pre_report_loss(pre_report(rid))
            case "pre_report_online":
                office.pre_report_loss(pre_report_online(rid))
            case "cancel":
                office.cancel_pre_report(cancel(rid))
            case "lapse":
                pending = None if state is None else state.pre_report
                if pending is not None:
                    office.lapse_pre_report(state.id, pending.version, clock.advance(days=11))
            case "authorize":
                office.authorize_proxy(authorize(rid, agent))
            case "report":
                office.report_loss_formally(report(rid))
            case "report_by_agent":
                office.report_loss_formally(report(rid, agent=agent))
            case "replace_damaged":
                office.replace_damaged_card(replace_damaged(rid))
            case "produce":
                office.record_production(produce(certificate))
            case "collect":
                office.record_collection(collect(rid, certificate))
            case "activate":
                new_card = case.new_card_number if case is not None else "Z00000000"
                office.activate_card(activate(rid, new_card or "Z00000000"))
    except DomainError:
        pass


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(STEPS), st.integers(min_value=0, max_value=3)),
        min_size=10,
        max_size=60,
    ),
    resend=st.floats(min_value=0.0, max_value=1.0),
)
def test_every_view_fed_from_kafka_equals_its_replay_from_the_store(kafka_bootstrap, steps, resend):
    with tempfile.TemporaryDirectory() as folder:
        settings_ = make_settings(Path(folder), kafka_bootstrap_servers=kafka_bootstrap)
        ensure_topics(settings_)
        holders = [resident_id() for _ in range(4)]
        agent = resident_id()
        clock = Clock()
        with open_back_office(settings_, clock=clock) as backoffice:
            for step, who in steps:
                run_step(backoffice.office, clock, step, holders[who], agent)
        publish_all(settings_)
        for name in VIEW_NAMES:
            consume_until_caught_up(settings_, name)
        # A relay that crashed before recording its position sends a stretch again: the views
        # must drop every duplicate (the per-stream event counts would show one applied twice).
        with open_back_office(settings_) as backoffice, backoffice.views.transaction() as tx:
            tx.move_position(RELAY, tx.position(RELAY), int(tx.position(RELAY) * resend))
        publish_all(settings_)
        for name in VIEW_NAMES:
            consume_until_caught_up(settings_, name)
        assert_views_equal_replay(settings_)


def regions_file(folder: Path, without: str | None = None) -> Path:
    from domain.region_policy import RegionPolicies

    regions = RegionPolicies.packaged()
    kept = [r.model_dump(mode="json") for r in regions.regions if r.region_code != without]
    path = folder / f"regions-{without or 'all'}.json"
    path.write_text(json.dumps({"regions": kept}), encoding="utf-8")
    return path


def sscard(settings_: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSCARD, *args],
        env=sscard_env(settings_, SSCARD_METRICS_PORT="0", **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


VIEW = "settlement_blocklist"


def parked(settings_: Settings, key: str | None = None) -> list[dead_letters.Parked]:
    with open_back_office(settings_) as backoffice:
        return dead_letters.listed(backoffice.views, VIEW, None if key is None else key.encode())


def cards_of(settings_: Settings) -> dict[str, tuple[str, str, str]]:
    with open_back_office(settings_) as backoffice, backoffice.views.reading() as tx:
        return blocklist(tx)


def stream(rid: str) -> str:
    return str(holder_stream_id(rid, HOLDER_ID_KEY.encode()))


def send_raw(settings_: Settings, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=settings_.bootstrap_servers)
    producer.send(topics(settings_).card_events, key=key, value=value)
    producer.flush()
    producer.close()


def operator_discards_fixes_and_retries(
    settings_: Settings, tmp_path: Path, stuck: str, other: str, broken: dead_letters.Parked
) -> None:
    """Through the CLI: list, discard the broken message, fix the configuration, retry."""
    listed = sscard(settings_, "dead-letters", "list", "--view", VIEW)
    assert listed.stdout.splitlines()[-1] == "7 parked messages", listed
    as_json = json.loads(sscard(settings_, "dead-letters", "list", "--view", VIEW, "--json").stdout)
    assert (as_json["status"], as_json["count"]) == ("ok", 7)
    assert {m["view"] for m in as_json["messages"]} == {VIEW}
    where = ["--partition", str(broken.partition), "--offset", str(broken.offset)]
    dropped = sscard(settings_, "dead-letters", "discard", "--view", VIEW, *where, "--json")
    assert json.loads(dropped.stdout) == {"status": "ok", "view": VIEW, "discarded": 1}, dropped

    fixed = {"SSCARD_REGION_POLICIES": str(regions_file(tmp_path))}
    retried = sscard(settings_, "dead-letters", "retry", "--view", VIEW, "--json", **fixed)
    assert retried.returncode == 1, retried  # the garbage cannot be applied by any fix
    keys = {k["key"]: (k["applied"], k["still_parked"]) for k in json.loads(retried.stdout)["keys"]}
    assert keys == {stuck: (4, 0), other: (1, 0), "garbage": (0, 1)}, keys
    garbage = ["--view", VIEW, "--key", "garbage"]
    assert sscard(settings_, "dead-letters", "discard", *garbage).returncode == 0
    again = sscard(settings_, "dead-letters", "discard", *garbage)
    assert again.returncode == 1
    assert again.stdout == ""


def test_a_poison_message_parks_its_key_others_flow_and_retry_applies_it_in_order(
    tmp_path, kafka_bootstrap
):
    office_settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    # The consumers' configuration does not know Shanghai yet: its holders cannot be shown.
    consumer_settings = office_settings.model_copy(
        update={"region_policies": regions_file(tmp_path, without="310000")}
    )
    ensure_topics(office_settings)
    beijing, shanghai, other = resident_id(), resident_id("310104"), resident_id()
    clock = Clock()
    with open_back_office(office_settings, clock=clock) as backoffice:
        office = backoffice.office
        office.issue_card(issue(beijing))
        office.issue_card(issue(shanghai, region="310000"))
        office.pre_report_loss(pre_report(shanghai))
        office.pre_report_loss(pre_report(beijing))
        office.cancel_pre_report(cancel(shanghai))
    publish_all(office_settings)
    send_raw(office_settings, b"garbage", b"{not json")
    consume_until_caught_up(consumer_settings, VIEW)

    stuck = stream(shanghai)
    by_key: dict[str, list[dead_letters.Parked]] = {}
    for item in parked(consumer_settings):
        by_key.setdefault(item.key_text, []).append(item)
    assert set(by_key) == {stuck, "garbage"}
    assert [p.failed for p in by_key[stuck]] == [True, False, False]
    assert "unknown region 310000" in by_key[stuck][0].reason
    assert "undecodable" in by_key["garbage"][0].reason

    # Other keys keep flowing; the parked key's newer events queue up behind.
    with open_back_office(office_settings, clock=clock) as backoffice:
        backoffice.office.cancel_pre_report(cancel(beijing))
        backoffice.office.issue_card(issue(other))
        backoffice.office.pre_report_loss(pre_report(shanghai))
    publish_all(office_settings)
    # A broken message in the middle of a holder's stream: their next event, valid on its
    # own, must wait behind it (never applied out of order).
    send_raw(office_settings, stream(other).encode(), b"[]")
    with open_back_office(office_settings, clock=clock) as backoffice:
        backoffice.office.pre_report_loss(pre_report(other))
    publish_all(office_settings)
    consume_until_caught_up(consumer_settings, VIEW)
    cards = cards_of(consumer_settings)
    assert {s for s, _, _ in cards.values()} == {"active"}  # Beijing's cancel applied
    assert len(cards) == 2  # nothing of the Shanghai holder, not the other's pre-report
    assert len(parked(consumer_settings, stuck)) == 4
    behind = parked(consumer_settings, stream(other))
    assert [(p.failed, "behind" in p.reason) for p in behind] == [(True, False), (False, True)]

    operator_discards_fixes_and_retries(
        consumer_settings, tmp_path, stuck, stream(other), behind[0]
    )

    cards = cards_of(office_settings)
    assert len(cards) == 3
    assert sum(s == "blocked" for s, _, _ in cards.values()) == 2
    assert_views_equal_replay(office_settings, [VIEW])

    # Every parked message also reached the dead-letter topic, with its reason.
    letters = read_topic(kafka_bootstrap, topics(office_settings).dead_letter)
    reasons = [orjson.loads(r.value)["reason"] for r in letters]
    assert any("unknown region 310000" in r for r in reasons)
    assert sum("behind" in r for r in reasons) >= 3


def test_a_subscriber_started_after_the_history_sees_the_projections_blocklist(
    tmp_path, kafka_bootstrap
):
    settings_ = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings_)
    clock = Clock()
    holders = [resident_id() for _ in range(12)]
    agent = resident_id()
    with open_back_office(settings_, clock=clock) as backoffice:
        for i, rid in enumerate(holders):
            for step in STEPS[: 3 + i]:
                run_step(backoffice.office, clock, step, rid, agent)
    publish_all(settings_)
    consume_until_caught_up(settings_, "settlement_blocklist")
    subscriber = SettlementSubscriber(
        kafka_bootstrap, Contract(settlement_schema()), topic=topics(settings_).settlement
    ).start()
    try:
        assert subscriber.wait_caught_up(60)
        seen = {card: (s, instant(since), r) for card, (s, since, r) in subscriber.cards().items()}
    finally:
        subscriber.stop()
    with open_back_office(settings_) as backoffice, backoffice.views.reading() as tx:
        projected = blocklist(tx)
    assert seen == projected
    assert any(status == "blocked" for status, _, _ in seen.values())
    assert subscriber.invalid == 0


def test_replay_swaps_the_view_and_its_consumer_goes_on_from_its_offsets(tmp_path, kafka_bootstrap):
    settings_ = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings_)
    clock = Clock()
    first, second = resident_id(), resident_id()
    with open_back_office(settings_, clock=clock) as backoffice:
        backoffice.office.issue_card(issue(first))
        backoffice.office.pre_report_loss(pre_report(first))
    publish_all(settings_)
    consume_until_caught_up(settings_, "outlet_queue")
    report_ = replay(settings_, "outlet_queue")
    assert report_.rows > 0
    with open_back_office(settings_, clock=clock) as backoffice:
        backoffice.office.issue_card(issue(second))
        backoffice.office.cancel_pre_report(cancel(first))
    publish_all(settings_)
    consume_until_caught_up(settings_, "outlet_queue")
    assert_views_equal_replay(settings_, ["outlet_queue"])


def test_verify_names_a_view_that_differs_from_its_history(tmp_path, kafka_bootstrap):
    settings_ = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings_)
    with open_back_office(settings_, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(resident_id()))
    publish_all(settings_)
    consume_until_caught_up(settings_, "settlement_blocklist")
    from projections.settlement_blocklist import blocklist_table

    with open_back_office(settings_) as backoffice, backoffice.views.transaction() as tx:
        tx.execute(blocklist_table.update().values(status="blocked"))
    result = sscard(settings_, "verify", "settlement_blocklist", "--wait", "5")
    assert result.returncode == 1, result
    assert "settlement_blocklist: DIFFERENT" in result.stdout
    assert "status live 'blocked', rebuilt 'active'" in result.stdout


def readme_follower() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("### The settlement subscriber", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    [follower] = [b for b in blocks if b.startswith("# settlement_follower.py")]
    return follower


def test_the_readme_example_subscriber_runs_against_the_schema_alone(tmp_path, kafka_bootstrap):
    settings_ = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings_)
    blocked_holder, active_holder = resident_id(), resident_id()
    with open_back_office(settings_, clock=Clock()) as backoffice:
        backoffice.office.issue_card(issue(blocked_holder))
        backoffice.office.issue_card(issue(active_holder))
        backoffice.office.pre_report_loss(pre_report(blocked_holder))
        blocked_card = backoffice.office.holder(blocked_holder).card.number
    publish_all(settings_)
    script = tmp_path / "settlement_follower.py"
    script.write_text(readme_follower(), encoding="utf-8")
    schema = Path(__file__).resolve().parents[2] / "contracts/schemas/settlement-status.schema.json"
    process = subprocess.Popen(
        [sys.executable, str(script), kafka_bootstrap, topics(settings_).settlement, str(schema)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        process.kill()
        process.wait(timeout=10)
    assert line == f"caught up: 1 cards blocked: ['{blocked_card}']\n", process.stderr


def test_views_from_kafka_equal_their_replay_on_both_backends(settings, kafka_bootstrap):
    """A fixed mix of stories on SQLite and on PostgreSQL, with a stretch sent twice."""
    from samples.stories import Identities, population_story

    settings_ = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    ensure_topics(settings_)
    ids = Identities("110106", "Q")  # a store of its own: its numbers are its own
    with open_back_office(settings_, clock=Clock()) as backoffice:
        for i in range(40):
            for _ in population_story(backoffice.office, ids, i):
                pass
    publish_all(settings_)
    for name in VIEW_NAMES:
        consume_until_caught_up(settings_, name)
    with open_back_office(settings_) as backoffice, backoffice.views.transaction() as tx:
        tx.move_position(RELAY, tx.position(RELAY), tx.position(RELAY) // 3)
    publish_all(settings_)
    for name in VIEW_NAMES:
        consume_until_caught_up(settings_, name)
    assert_views_equal_replay(settings_)
    replay(settings_, "lifecycle_analytics")  # a swap on this backend too
    assert_views_equal_replay(settings_, ["lifecycle_analytics"])


def test_the_claims_view_fed_from_both_topics_equals_its_replay(kafka_bootstrap):
    """Claims from reimbursement-events, windows from card-events, one consumer per topic; on
    SQLite here, and on PostgreSQL through the suite's view tests of every view."""
    from datetime import date

    from projections import claims as claims_view
    from samples.claims import approve, pay, reject, submit

    with tempfile.TemporaryDirectory() as folder:
        settings_ = make_settings(Path(folder), kafka_bootstrap_servers=kafka_bootstrap)
        ensure_topics(settings_)
        rid = resident_id()
        clock = Clock()
        with open_back_office(settings_, clock=clock) as backoffice:
            office = backoffice.office
            office.issue_card(issue(rid))
            office.pre_report_loss(pre_report(rid))
            clock.advance(days=1)
            paid = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
            office.approve_claim(approve(paid))
            office.pay_claim(pay(paid, "BANK-0001"))
            rejected = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
            office.reject_claim(reject(rejected))
        publish_all(settings_)
        consume_until_caught_up(settings_, "claims")
        with open_back_office(settings_) as backoffice, backoffice.views.reading() as tx:
            statuses = {c["claim_id"]: c["status"] for c in claims_view.claims(tx)}
            assert statuses == {str(paid): "paid", str(rejected): "rejected"}
            [window] = claims_view.holder_windows(tx, str(backoffice.office.holder_id(rid)))
            assert window["ended_on"] is None
        assert_views_equal_replay(settings_, ["claims"])
