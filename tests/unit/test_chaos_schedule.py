"""The nemesis schedule is the seed's alone: the same seed replays the same faults."""

from __future__ import annotations

import itertools

from chaos.schedule import POSTGRES_ONLY, FaultKind, by_kind, draw_schedule


def test_the_same_seed_draws_the_same_schedule():
    assert draw_schedule(7, 30) == draw_schedule(7, 30)
    assert draw_schedule(7, 30) != draw_schedule(8, 30)


def test_a_shorter_run_has_the_longer_run_s_first_faults():
    short, long = draw_schedule(11, 2), draw_schedule(11, 10)
    assert short == long[: len(short)]


def test_faults_never_overlap_and_end_before_the_settling():
    faults = draw_schedule(3, 20)
    assert faults
    for earlier, later in itertools.pairwise(faults):
        assert earlier.at + earlier.hold < later.at
    assert faults[-1].at < 20 * 60 - 10


def test_a_long_run_draws_every_kind_its_store_allows():
    on_sqlite = {kind.value for kind in FaultKind if kind not in POSTGRES_ONLY}
    assert set(by_kind(draw_schedule(5, 30))) == on_sqlite
    assert set(by_kind(draw_schedule(5, 30, postgres=True))) == {k.value for k in FaultKind}


def test_a_one_minute_run_has_faults():
    for seed in range(20):
        assert draw_schedule(seed, 1), seed
