"""``sscard bench views``, small: a history through store, relay, Kafka and every read model's
consumers (one per topic it reads), verified against its rebuild; the full-size run (100,000
events) is the bench's business."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.scale import run_scale_bench
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_a_small_run_verifies_every_view_and_the_subscriber(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    lines: list[str] = []
    assert run_scale_bench(settings, events=400, store="sqlite", say=lines.append)
    caught_up = [line for line in lines if re.match(r"consumer \w+: caught up in", line)]
    assert len(caught_up) == 4, lines  # every view, the claims view on both of its topics
    assert re.search(r"verify_equal=1 subscriber_equal=1", lines[-1]), lines[-1]
