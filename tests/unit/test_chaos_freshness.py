"""The settlement subscriber's freshness judged against the broker's outages, its final blocked
set against the view's and the store's, and the earlier topic sets of a fresh start."""

from __future__ import annotations

from chaos.fresh_topics import next_prefix
from chaos.freshness import (
    SIGNAL_MARGIN,
    FreshnessEvidence,
    Outage,
    Sample,
    never_fresh_while_away,
    stale_in_long_outages,
    subscriber_equals_view,
)
from chaos.invariants import Evidence, StoredPublic, TopicRecord, earlier_topic_sets_hold_a_prefix
from relay.topics import Topics

BOUND, EVERY = 3.0, 0.5


def _seen(samples: list[Sample], outages: list[Outage]) -> FreshnessEvidence:
    return FreshnessEvidence(bound=BOUND, interval=EVERY, outages=outages, samples=samples)


def _honest(down: float, up: float, confirmed: float) -> list[Sample]:
    """Samples every half second of a subscriber last confirmed at ``confirmed`` (before the
    outage), fresh again a second after the broker came back."""
    samples = []
    at = down - 2.0
    while at < up + 3.0:
        fresh = at - confirmed <= BOUND if at < up + 1.0 else True
        samples.append(Sample(at, fresh))
        at += EVERY
    return samples


def test_an_honest_subscriber_passes_both_checks():
    outage = Outage("broker-kill-9", 100.0, 110.0)
    seen = _seen(_honest(100.0, 110.0, confirmed=99.6), [outage])
    checked, problems = never_fresh_while_away(seen)
    assert checked > 15
    assert problems == []
    assert stale_in_long_outages(seen) == (1, [])


def test_fresh_past_the_bound_into_an_outage_is_caught():
    outage = Outage("broker-pause", 100.0, 110.0)
    lying = [Sample(at, True) for at in (101.0, 102.5, 103.0 + SIGNAL_MARGIN + 0.1, 106.0)]
    checked, problems = never_fresh_while_away(_seen(lying, [outage]))
    assert checked == 4
    assert len(problems) == 1, problems
    assert "2 such samples" in problems[0]
    # Within the bound (plus the signal's margin) fresh is allowed: the last confirmation may be
    # as late as the moment the broker went.
    within = [Sample(100.0 + BOUND + SIGNAL_MARGIN, True)]
    assert never_fresh_while_away(_seen(within, [outage]))[1] == []


def test_a_long_outage_without_a_stale_sample_is_caught_a_short_one_is_not_checked():
    seen = _seen([Sample(101.0, True)], [Outage("broker-stop", 100.0, 100.0 + 5.0)])
    assert seen.tolerance == BOUND + 2 * EVERY + 1.0
    assert stale_in_long_outages(seen) == (0, [])  # 5 s: not past the tolerance
    long = _seen([Sample(101.0, True)], [Outage("broker-stop", 100.0, 106.0)])
    checked, problems = stale_in_long_outages(long)
    assert checked == 1
    assert "none stale" in problems[0]
    # No sample at all in a long outage (the sampler starved) is a finding too.
    assert stale_in_long_outages(_seen([], [Outage("broker-stop", 100.0, 106.0)]))[1]


def test_the_final_blocked_set_must_equal_the_view_s_and_the_store_s():
    seen = _seen([], [])
    seen.final_cards = {"A1": "blocked", "A2": "active"}
    seen.view_cards = {"A1": "blocked", "A2": "active"}
    assert subscriber_equals_view(seen, {"A1": "blocked", "A2": "active"}) == []
    seen.view_cards = {"A1": "active", "A2": "active"}
    problems = subscriber_equals_view(seen, {"A1": "blocked", "A2": "active"})
    assert any("blocked set differs from the blocklist view" in p for p in problems), problems
    assert any("card A1" in p for p in problems)
    seen.final_cards = None
    assert subscriber_equals_view(seen, {})[0].startswith("the subscriber never confirmed")


def test_an_earlier_topic_set_must_hold_a_prefix_of_the_store():
    current, old = Topics("chaos1-t1").card_events, Topics("chaos1").card_events
    stored = [StoredPublic(f"e{v}", "h", v, current) for v in (1, 2, 3)]

    def on_old(*versions: int) -> list[TopicRecord]:
        return [TopicRecord(old, "h", f"e{v}", "h", v) for v in versions]

    held = Evidence(stored_events=stored, earlier_topic_records=on_old(1, 2, 1))
    assert earlier_topic_sets_hold_a_prefix(held).holds  # a prefix, with a redelivery
    gap = Evidence(stored_events=stored, earlier_topic_records=on_old(1, 3))
    assert not earlier_topic_sets_hold_a_prefix(gap).holds
    foreign = Evidence(
        stored_events=stored, earlier_topic_records=[TopicRecord(old, "h", "x", "h", 1)]
    )
    assert not earlier_topic_sets_hold_a_prefix(foreign).holds


def test_new_prefixes_are_valid_topic_prefixes():
    import re

    for base in ("chaos13", "chaos99999999", "a" * 31):
        prefix = next_prefix(base, 12)
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", prefix), prefix
        assert prefix != base
