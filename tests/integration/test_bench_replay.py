"""``sscard bench replay`` and ``sscard bench replay-memory``, small, on SQLite: the three
rebuilds agree, and every process that rebuilt views (the fresh one, each worker of a split)
reports its own peak memory. The full-size runs (10^5 and 10^6 events) are the bench's
business."""

from __future__ import annotations

import re
from pathlib import Path

from bench.views import run_replay_bench, run_replay_memory_bench
from tests.conftest import make_settings


def test_a_small_replay_bench_reports_every_process_peak(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    lines: list[str] = []
    figures = run_replay_bench(settings, events=600, store="sqlite", workers=2, say=lines.append)
    assert re.fullmatch(r"ratio=\S+ ratio_workers=\S+ peak_rss_mb=\d+", lines[-1]), lines[-1]
    assert len(figures.workers_rss_mb) == 2
    # An interpreter that imported the store and the views holds tens of MiB at least.
    assert all(mb > 20 for mb in (figures.process_rss_mb, *figures.workers_rss_mb)), figures
    assert figures.peak_rss_mb == max(figures.process_rss_mb, *figures.workers_rss_mb)
    assert not [line for line in lines if "DIFFERENT" in line], lines


def test_a_small_memory_bench_compares_two_lengths_of_history(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    lines: list[str] = []
    figures = run_replay_memory_bench(settings, events=300, times=2, workers=2, say=lines.append)
    assert figures.events == (300, 600)
    assert all(mb > 20 for mb in figures.peak_rss_mb), figures
    assert re.fullmatch(
        r"peak_rss_mb_small=\d+ peak_rss_mb_large=\d+ memory_ratio=[\d.]+", lines[-1]
    ), lines[-1]
    assert figures.flat == (figures.ratio <= 1.2)
