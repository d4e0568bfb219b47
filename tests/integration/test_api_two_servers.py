"""Two real ``sscard serve`` processes on one PostgreSQL schema, as behind a load balancer:
commands alternate between them and each sees the other's writes at once (no state in a process
that another needs). Real processes, real HTTP over loopback, the shared PostgreSQL server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domain.authority import AccessRole
from samples import stories
from service.bootstrap import open_back_office
from service.settings import Settings
from tests.api_support import OUTLET, bearer, claim_body, token
from tests.back_office import start_sscard
from tests.conftest import make_settings
from tests.ports import free_ports
from tests.support import card_number, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _wait_alive(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"sscard serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"sscard serve did not answer: {log.read_text()}")


@pytest.fixture
def pg_settings(tmp_path: Path, postgres_url: str, postgres_schema: str) -> Settings:
    return make_settings(tmp_path, database_url=postgres_url, postgres_schema=postgres_schema)


@pytest.fixture
def two_servers(pg_settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    processes, urls = [], []
    for port in free_ports(2):
        log = tmp_path / f"serve-{port}.log"
        processes.append(start_sscard(["serve", "--port", str(port)], pg_settings, log))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_alive(url, process, tmp_path / f"serve-{url.rsplit(':', 1)[1]}.log")
        yield urls
    finally:
        running = [process for process in processes if process.poll() is None]
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        # An operator's stop is a clean one: exit 0 after uvicorn's graceful shutdown.
        assert [process.wait(timeout=20) for process in running] == [0] * len(running)


def test_two_servers_on_one_store_see_each_others_writes(
    pg_settings: Settings, two_servers: list[str]
) -> None:
    one, two = two_servers
    rid, card = resident_id(), card_number()
    with open_back_office(pg_settings) as backoffice:
        backoffice.office.issue_card(stories.issue(rid, card, region="110000"))
    clerk = bearer(token(pg_settings, AccessRole.OUTLET_CLERK))
    officer = bearer(token(pg_settings, AccessRole.CLAIMS_OFFICER))
    with httpx.Client(timeout=30) as http:
        # The holder's reference, looked up on one, names them on both (no ID in a path).
        looked_up = http.post(f"{two}/holders/lookup", json={"holder": rid}, headers=clerk)
        assert looked_up.status_code == 200, looked_up.text
        ref = looked_up.json()["holder_ref"]
        # Pre-reported on one, seen on the other.
        reported = http.post(f"{one}/holders/{ref}/pre-reports", json={}, headers=clerk)
        assert reported.status_code == 201, reported.text
        state = http.get(f"{two}/holders/{ref}", headers=clerk)
        assert state.status_code == 200, state.text
        history = http.get(f"{two}/holders/{ref}/history", headers=clerk).json()
        assert history["entries"][-1]["type"] == "LossPreReported"
        assert history["entries"][-1]["outlet"] == OUTLET  # the clerk's token's outlet
        # A claim filed on two, approved on one, paid on two, shown on one.
        key = {"Idempotency-Key": f"two-servers-{rid}"}
        filed = http.post(
            f"{two}/holders/{ref}/claims", json=claim_body("INV-2S"), headers=clerk | key
        )
        assert filed.status_code == 201, filed.text
        claim = filed.json()["claim_id"]
        # The retry lands on the other process: the store, not the process, remembers the key.
        again = http.post(
            f"{one}/holders/{ref}/claims", json=claim_body("INV-2S"), headers=clerk | key
        )
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["claim_id"] == claim
        approved = http.post(f"{one}/claims/{claim}/approval", headers=officer)
        assert approved.status_code == 201, approved.text
        paid = http.post(
            f"{two}/claims/{claim}/payment", json={"payment_reference": "PAY-2S"}, headers=officer
        )
        assert paid.status_code == 201, paid.text
        shown = http.get(f"{one}/claims/{claim}", headers=officer).json()
        assert [s["claim_status"] for s in shown["steps"]] == ["submitted", "approved", "paid"]
        # Paying again on the other process: the rules refuse it, whichever process asks.
        twice = http.post(
            f"{one}/claims/{claim}/payment", json={"payment_reference": "PAY-2T"}, headers=officer
        )
        assert twice.status_code == 409, twice.text
