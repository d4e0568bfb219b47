"""``sscard run --api-port P`` serves the HTTP API beside the relay and the consumers: a
pre-report over HTTP reaches the outlet queue view through Kafka and is read back over HTTP,
``/readyz`` turns ready once the consumers are assigned and caught up, and SIGTERM stops the
API with the other workers. Real process, real broker (the shared one), real SQLite store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from domain.authority import AccessRole
from tests.api_support import OUTLET, bearer, token
from tests.back_office import start_sscard
from tests.conftest import make_settings
from tests.ports import free_ports
from tests.support import card_number, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def _until(what: str, check: object, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def test_sscard_run_serves_the_api_beside_the_consumers(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    process = start_sscard(["run", "--api-port", str(port)], settings, log)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    try:
        _until("the API answers", lambda: httpx.get(f"{url}/healthz").status_code == 200)
        rid = resident_id()
        card = {
            "holder": rid,
            "holder_name": "张三",
            "region_code": "110000",
            "card_number": card_number(),
        }
        with httpx.Client(base_url=url, timeout=30) as http:
            issued = http.post(f"/outlets/{OUTLET}/cards", json=card, headers=clerk)
            assert issued.status_code == 201, issued.text
            ref = issued.json()["stream_id"]  # the holder's reference
            reported = http.post(f"/holders/{ref}/pre-reports", json={}, headers=clerk)
            assert reported.status_code == 201, reported.text

            def in_the_queue() -> bool:
                queue = http.get(
                    f"/outlets/{OUTLET}/queue",
                    params={"status": "pre-reported-today"},
                    headers=clerk,
                ).json()
                return bool(queue["counts"].get("pre-reported-today"))

            _until("the pre-report reaches the outlet queue view", in_the_queue)
            _until("ready", lambda: http.get("/readyz").status_code == 200)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert rid not in log.read_text(), "no resident ID number in the logs"
