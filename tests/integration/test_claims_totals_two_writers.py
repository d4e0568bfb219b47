"""Two writers of the claims view at once on PostgreSQL (two members of one consumer group, or a
standby's consumers, each holding other partitions): every claim counts in the totals per region
and month, a row every writer adds to. A chaos run found one approval lost there (seed 13)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from consumers.dead_letters import dead_letters_table
from consumers.view_consumer import Record, apply_records
from contract.envelope import CLAIM_EVENTS
from domain.region_policy import RegionPolicies
from projections.catalogue import read_models
from projections.claims import totals_table
from projections.public_fields import zones_of
from relay.topics import Topics
from replay.views import replay_feed
from samples.claims import submit
from service.bootstrap import view_store
from tests.conftest import make_settings
from tests.support import Clock, issue, memory_office, pre_report, resident_id
from tracking.envelopes import view_tables
from tracking.rows import table_rows
from tracking.source import StoreEventSource
from tracking.store import ViewStore

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CLAIMS = 40


@pytest.fixture
def views(postgres_url: str, postgres_schema: str, tmp_path: Path) -> Iterator[ViewStore]:
    settings = make_settings(tmp_path, database_url=postgres_url, postgres_schema=postgres_schema)
    store = view_store(settings)
    yield store
    store.close()


def test_two_writers_at_once_lose_no_claim_in_the_totals(views: ViewStore) -> None:
    clock = Clock(datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC))
    office = memory_office(clock)
    for _ in range(CLAIMS):
        rid = resident_id()
        office.issue_card(issue(rid, region="110000"))
        office.pre_report_loss(pre_report(rid))
        office.submit_claim(submit(rid, date(2026, 3, 2)))
    topic = Topics("twowriters").reimbursement_events
    records = [
        Record(topic, 0, n, e["stream_id"].encode(), orjson.dumps(e))
        for n, e in enumerate(
            replay_feed(StoreEventSource(office), (CLAIM_EVENTS,)).read(0, 10_000).items
        )
        if e["event_type"] == "ReimbursementClaimSubmitted"
    ]
    office.close()
    assert len(records) == CLAIMS
    model = read_models(zones_of(RegionPolicies.packaged()))["claims"]
    views.create((*view_tables(model), dead_letters_table))  # as the consumers' runner does

    def writer(share: list[Record]) -> None:
        for record in share:  # a batch each, as a member applies what it polled
            with views.transaction() as tx:
                apply_records(model, "claims", [record], tx)

    threads = [threading.Thread(target=writer, args=(records[n::2],)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with views.reading() as tx:
        totals = list(table_rows(tx, totals_table))
    assert [(t["region_code"], t["submitted"]) for t in totals] == [("110000", CLAIMS)]
