"""The web console in a real headless Chromium (Debian's, driven by Playwright), against a real
``sscard run --api-port`` (relay and consumers on the shared broker, a real SQLite store): a
clerk signs in with a pasted token, finds the card ready for pickup, records its collection and
sees it leave the queue (the outlet queue view caught up through Kafka), then activates it. No
page logs a console error or throws. Screenshots are kept in var/artifacts/console/."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect, sync_playwright

from domain.authority import AccessRole
from service.bootstrap import open_back_office
from service.settings import Settings
from tests.api_support import token
from tests.back_office import start_sscard
from tests.conftest import ci_enabled, make_settings
from tests.console_support import PICKUP, ready_for_pickup
from tests.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

CHROMIUM = Path("/usr/bin/chromium")
# DESIGN.md 6: the closed network refuses what these flags keep Chromium from trying.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "console"
WAIT_S = 45.0


@contextmanager
def browser_page(chromium: Path, profile: Path) -> Iterator[Page]:
    """A page of a fresh headless Chromium (DESIGN.md 6's flags, an empty user data dir, Beijing's
    zone, Chinese first). Every console error or warning and every page error it logged fails
    the test when the block ends: a CSP violation shows up only there."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            page = context.new_page()
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.set_default_timeout(15_000)
            yield page
        finally:
            context.close()
    assert problems == [], problems


def _until(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
        if ci_enabled():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings
    holder: str
    new_card: str
    certificate: str


@pytest.fixture
def served(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Served]:
    """``sscard run`` serving the API and the console on a free loopback port, over a store
    holding one card ready for pickup at ``PICKUP``."""
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    with open_back_office(settings) as backoffice:
        holder, new_card, certificate = ready_for_pickup(backoffice.office)
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    process = start_sscard(["run", "--api-port", str(port)], settings, log)
    try:
        _until("the API answers", lambda: httpx.get(f"{url}/healthz").status_code == 200)
        yield Served(url, settings, holder, new_card, certificate)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert holder not in log.read_text(), "no resident ID number in the logs"


def _reload_until(page: Page, what: str, check: Callable[[], bool]) -> None:
    """The queue is a view the consumers feed: reload (a person would) until it shows ``what``."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT_S:g} s: {what}"
        time.sleep(0.5)
        page.reload()


def _look_up_history(page: Page, holder: str) -> None:
    """The holder's history: looked up by a POST form, shown at their reference, so the ID
    number is in no address (the browser's history, the access log)."""
    page.click("a.brand")
    page.click("a[href='/console/history']")
    page.fill("#holder", holder)
    page.click("#look-up")
    expect(page).to_have_url(re.compile(r"/console/holders/[0-9a-f-]{36}/history$"))
    expect(page.locator("#history")).to_contain_text("CardActivated")
    assert holder not in page.url
    page.screenshot(path=str(ARTIFACTS / "5-history-en.png"), full_page=True)


def test_a_clerk_collects_and_activates_a_card_in_a_real_browser(
    chromium: Path, served: Served, tmp_path: Path
) -> None:
    url, holder, new_card, certificate = (
        served.url,
        served.holder,
        served.new_card,
        served.certificate,
    )
    clerk_token = token(served.settings, AccessRole.OUTLET_CLERK, outlet=PICKUP)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium, tmp_path / "chromium-profile") as page:
        page.goto(f"{url}/console/")
        expect(page).to_have_url(re.compile(r"/console/sign-in$"))
        page.fill("#token", clerk_token)
        page.screenshot(path=str(ARTIFACTS / "1-sign-in.png"), full_page=True)
        page.click("#sign-in")
        expect(page.locator(".who")).to_contain_text(PICKUP)

        page.click("a[href='/console/queue']")
        row = page.locator(f"tr[data-certificate='{certificate}']")
        _reload_until(page, "the card reaches the ready queue", lambda: row.count() == 1)
        expect(row).to_contain_text(new_card)
        page.screenshot(path=str(ARTIFACTS / "2-queue-ready.png"), full_page=True)

        row.locator("input[name=holder]").fill(holder)
        row.locator("button[type=submit]").click()
        expect(page.locator("#flash")).to_contain_text("已登记领卡")
        _reload_until(page, "the card leaves the ready queue", lambda: row.count() == 0)
        page.screenshot(path=str(ARTIFACTS / "3-queue-after-collection.png"), full_page=True)

        page.click("#tab-collected")
        collected = page.locator("tr", has_text=new_card)
        _reload_until(page, "the card is listed as collected", lambda: collected.count() == 1)
        collected.locator("input[name=holder]").fill(holder)
        collected.locator("button[type=submit]").click()
        expect(page.locator("#flash")).to_contain_text("已启用新卡")
        _reload_until(page, "the card leaves the collected list", lambda: collected.count() == 0)

        page.click("#lang-switch")
        expect(page.locator("h1")).to_contain_text("Outlet queue")
        page.screenshot(path=str(ARTIFACTS / "4-after-activation-en.png"), full_page=True)
        _look_up_history(page, holder)
        page.click("#sign-out")
        expect(page).to_have_url(re.compile(r"/console/sign-in\?done=signed_out$"))
