"""``sscard bench views --events N``: the read models at scale, end to end, and their audit.

A history of N card events is written through the card office into a store of the bench's own
(temporary SQLite, or a scratch PostgreSQL schema), published by the relay to topics of the
bench's own, applied by each read model's Kafka consumer, then:

- ``sscard verify``'s comparison: every view rebuilt from the store into a scratch store and
  compared with the one fed from Kafka, row by row and digest by digest;
- a settlement subscriber started after the history bootstraps from the compacted topic, and
  its blocklist is compared with the projection's, card by card.

The last line: ``events=<N> verify_equal=<0|1> subscriber_equal=<0|1> ...`` with the seconds of
each stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.relay import _delete_topics, scratch
from bench.workload import BENCH_BIRTHS, populate
from consumers.settlement_client import Contract, SettlementSubscriber
from projections.catalogue import VIEW_NAMES
from projections.public_fields import instant
from projections.settlement_blocklist import blocklist
from relay.contracts import settlement_schema
from relay.topics import Topics
from replay.views import VerifyReport
from samples.stories import Identities
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for
from service.settings import Settings
from service.views import (
    consumer_lag,
    feed_topic,
    model_named,
    topic_end_offsets,
    verify,
    view_consumer,
)
from tracking.runner import Pulse

Say = Callable[[str], None]


def _consume(settings: Settings, name: str, say: Say) -> float:
    """One consumer of ``name`` per topic it reads, each until it has read its topic to the
    end as it was when it started."""
    started = time.perf_counter()
    with open_back_office(settings) as backoffice:
        for feed in model_named(settings, name).feeds:
            consumer = view_consumer(settings, backoffice.views, name, feed)
            consumer.prepare()
            ends = topic_end_offsets(settings, feed_topic(settings, feed))
            pulse = Pulse.quiet()
            try:
                while (lag := consumer_lag(consumer.positions.load(name), ends)) > 0:
                    consumer.follower.step(pulse)
                    if time.perf_counter() - started > 3600:
                        raise RuntimeError(f"{name} still {lag} behind after an hour")
            finally:
                consumer.close()
    seconds = time.perf_counter() - started
    say(f"consumer {name}: caught up in {seconds:.1f} s")
    return seconds


def _audit(
    bench: Settings, prefix: str, stages: dict[str, float], say: Say
) -> tuple[list[VerifyReport], list[str]]:
    """Every view against its rebuild; a new subscriber's blocklist against the projection's."""
    started = time.perf_counter()
    reports = verify(bench, VIEW_NAMES, wait=120)
    stages["verify_s"] = time.perf_counter() - started
    for report in reports:
        verdict = "equal" if report.equal else "DIFFERENT"
        rows = sum(t.live_rows for t in report.tables)
        say(f"verify {report.view}: {verdict} to its rebuild ({rows:,} rows)")
        for table in report.tables:
            for line in table.differences:
                say(f"  {line}")
        for note in report.notes:
            say(f"  note: {note}")
    started = time.perf_counter()
    subscriber = SettlementSubscriber(
        bench.bootstrap_servers,
        Contract(settlement_schema()),
        topic=Topics(prefix).settlement,
    ).start()
    try:
        subscriber.wait_caught_up(600)
        seen = {c: (s, instant(t), r) for c, (s, t, r) in subscriber.cards().items()}
    finally:
        subscriber.stop()
    stages["subscriber_s"] = time.perf_counter() - started
    with open_back_office(bench) as backoffice, backoffice.views.reading() as tx:
        projected = blocklist(tx)
    differing = sorted(c for c in set(seen) | set(projected) if seen.get(c) != projected.get(c))
    say(
        f"subscriber: {len(seen):,} cards, {len(differing)} differ from the projection's "
        f"{len(projected):,}" + (f" (first: {differing[:5]})" if differing else "")
    )
    return reports, differing


def run_scale_bench(
    settings: Settings, events: int = 100_000, store: str = "sqlite", say: Say = print
) -> bool:
    with scratch(settings, store) as own:
        bench, prefix = own.settings, own.prefix
        say(f"bench: store {own.where}")
        stages: dict[str, float] = {}
        try:
            ensure_topics(bench)
            started = time.perf_counter()
            with open_back_office(bench) as backoffice:
                populate(
                    backoffice.office, events, Identities("110105", "V", born=BENCH_BIRTHS), say
                )
                stages["populate_s"] = time.perf_counter() - started
                started = time.perf_counter()
                relay = relay_for(backoffice)
                try:
                    relay.publish_pending()
                finally:
                    relay.close()
                stages["relay_s"] = time.perf_counter() - started
                say(f"relay: published in {stages['relay_s']:.1f} s")
            stages["consume_s"] = sum(_consume(bench, name, say) for name in VIEW_NAMES)
            reports, differing = _audit(bench, prefix, stages, say)
        finally:
            _delete_topics(bench, [prefix], say)
    equal = all(r.equal for r in reports)
    timings = " ".join(f"{k}={v:.1f}" for k, v in stages.items())
    say(
        f"events={events} store={store} verify_equal={int(equal)} "
        f"subscriber_equal={int(not differing)} {timings}"
    )
    return equal and not differing
