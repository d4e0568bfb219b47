"""Read-your-writes through Kafka: under ``sscard run`` (relay, consumers and the API), a
pre-report answered over HTTP carries its store position, and the outlet queue asked with
``after`` that position answers only once the event has travelled store -> relay -> Kafka ->
consumer -> view: the card is in the very first answer. Real process, real broker (the shared
one), real SQLite store."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from domain.authority import AccessRole
from tests.api_support import OUTLET, bearer, token
from tests.back_office import start_sscard
from tests.conftest import make_settings
from tests.integration.test_api_in_run import _until
from tests.ports import free_ports
from tests.support import card_number, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_the_queue_waits_for_the_pre_report_it_is_asked_after(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    process = start_sscard(["run", "--api-port", str(port)], settings, log)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    try:
        _until("ready", lambda: httpx.get(f"{url}/readyz").status_code == 200)
        rid, card = resident_id(), card_number()
        issue = {"holder": rid, "holder_name": "张三", "region_code": "110000", "card_number": card}
        with httpx.Client(base_url=url, timeout=60) as http:
            issued = http.post(f"/outlets/{OUTLET}/cards", json=issue, headers=clerk)
            assert issued.status_code == 201, issued.text
            ref = issued.json()["stream_id"]  # the holder's reference
            reported = http.post(f"/holders/{ref}/pre-reports", json={}, headers=clerk)
            assert reported.status_code == 201, reported.text
            position = reported.json()["store_position"]
            queue = http.get(
                f"/outlets/{OUTLET}/queue",
                params={"status": "pre-reported-today", "after": position, "wait": 30},
                headers=clerk,
            )
            assert queue.status_code == 200, queue.text
            assert card in [e["card_number"] for e in queue.json()["entries"]]
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
