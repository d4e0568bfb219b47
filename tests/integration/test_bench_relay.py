"""``run_relay_bench`` on a real broker, small: every event published, every latency sample seen,
nothing left behind. The performance thresholds are the full-size command's business (noisy)."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from bench.relay import run_relay_bench
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_a_small_run_publishes_everything_and_times_every_command(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    lines: list[str] = []

    result = run_relay_bench(settings, events=2_000, latency_commands=200, say=lines.append)

    assert result.events == 2_000
    assert result.store_records > result.events, "reservations are in the store too"
    assert result.relay_messages > result.events, "most card events also go to settlement"
    assert result.messages_on_broker == result.relay_messages
    assert result.bare_messages == result.relay_messages
    assert result.relay_seconds > 0
    assert result.bare_seconds > 0
    assert result.latency_samples == 200
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms <= result.max_ms
    assert math.isclose(
        result.relay_ratio, result.relay_messages_per_second / result.bare_messages_per_second
    )
    assert result.per_event_ratio < result.relay_ratio

    last = lines[-1]
    assert re.fullmatch(r"relay_ratio=\d+\.\d\d p99_ms=\d+\.\d", last)
    assert last == f"relay_ratio={result.relay_ratio:.2f} p99_ms={result.p99_ms:.1f}"

    # Nothing of the caller's touched, nothing of the bench's left behind.
    assert not settings.data_dir.exists()
    assert _topics_named(kafka_bootstrap, result.topic_prefix) == []


def _topics_named(bootstrap: str, prefix: str, settle_seconds: float = 10.0) -> list[str]:
    """Topics starting with ``prefix``, once deletions have reached the broker's metadata."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + settle_seconds
        while True:
            names = sorted(t for t in admin.list_topics() if t.startswith(prefix))
            if not names or time.monotonic() > deadline:
                return names
            time.sleep(0.2)
    finally:
        admin.close()


def test_nonsense_sizes_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ValueError, match="at least 1"):
        run_relay_bench(settings, events=0, say=lambda _line: None)
    with pytest.raises(ValueError, match="positive"):
        run_relay_bench(settings, events=10, command_rate=0, say=lambda _line: None)
