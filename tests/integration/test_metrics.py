"""``sscard run`` serves the back office's numbers to Prometheus; ``sscard status`` prints the
same ones."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from projections.catalogue import VIEW_NAMES
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics
from tests.back_office import SSCARD, sscard_env, start_sscard
from tests.conftest import make_settings
from tests.ports import free_ports
from tests.support import cancel, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        name: float(value)
        for name, value in re.findall(r"^(sscard_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)
    }


def test_run_serves_the_numbers_status_prints(tmp_path: Path, kafka_bootstrap: str):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    holders = [resident_id() for _ in range(3)]
    with open_back_office(settings) as backoffice:  # dated now: no lapse is due yet
        for rid in holders:
            backoffice.office.issue_card(issue(rid))
            backoffice.office.pre_report_loss(pre_report(rid))
        backoffice.office.cancel_pre_report(cancel(holders[0]))
    refused = subprocess.run(
        [
            SSCARD,
            "card",
            "activate",
            "--resident-id",
            holders[1],
            "--outlet",
            "BJ-HD-003",
            "--staff",
            "clerk-01",
            "--card-number",
            "Z00000009",
        ],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1, refused
    reason = re.search(r"refused \((\w+)\)", refused.stderr).group(1)
    [port] = free_ports(1)
    run = start_sscard(["run"], settings, tmp_path / "run.log", SSCARD_METRICS_PORT=str(port))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                metrics = scrape(port)
            except OSError:
                metrics = {}
            lags = [v for k, v in metrics.items() if k.startswith("sscard_consumer_lag")]
            caught_up = not any(lags) and metrics.get("sscard_relay_lag") == 0
            if len(lags) == len(VIEW_NAMES) and caught_up:
                break
            assert time.monotonic() < deadline, (metrics, (tmp_path / "run.log").read_text())
            time.sleep(1)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=15)
    assert metrics["sscard_store_up"] == 1
    assert metrics['sscard_commands_total{event="CardIssued"}'] == 3
    assert metrics['sscard_commands_total{event="LossPreReported"}'] == 3
    assert metrics[f'sscard_refusals_total{{reason="{reason}"}}'] == 1
    assert metrics["sscard_pending_lapses"] == 2
    assert metrics['sscard_dead_letters{view="settlement_blocklist"}'] == 0
    status = subprocess.run(
        [SSCARD, "status"],
        env=sscard_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"head {int(metrics['sscard_store_head'])}" in status
    assert "pending lapses: 2" in status
    assert f"commands refused: {reason} 1" in status
    assert re.search(r"^settlement_blocklist +0 +0$", status, re.MULTILINE), status
