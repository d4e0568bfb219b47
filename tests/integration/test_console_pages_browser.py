"""The production centre's, the auditor's and the analysts' console pages in a real headless
Chromium against a real ``sscard run`` (the fixtures of ``test_console_browser``): the centre
uploads a batch file and reads each row's result, the auditor runs verify-chain and opens the
lifecycle charts once the consumers fed them. The inline SVG must pass the console's CSP: any
violation is a console error, and none may be logged. Screenshots in var/artifacts/console/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from domain.authority import AccessRole
from tests.api_support import token
from tests.integration.test_console_browser import (  # noqa: F401 - fixtures used by name
    ARTIFACTS,
    Served,
    _reload_until,
    browser_page,
    chromium,
    served,
)

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def _sign_in(page: Page, url: str, value: str) -> None:
    page.goto(f"{url}/console/sign-in")
    page.fill("#token", value)
    page.click("#sign-in")
    expect(page.locator(".who")).to_be_visible()


def test_a_batch_upload_verify_chain_and_the_charts_in_a_real_browser(
    chromium: Path,  # noqa: F811
    served: Served,  # noqa: F811
    tmp_path: Path,
) -> None:
    url, settings = served.url, served.settings
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    batch = tmp_path / "day.csv"
    batch.write_text(
        "certificate,new_card_number,produced_at\n"
        f"{served.certificate},{served.new_card},2026-01-01T10:00:00+08:00\n"
        "NO-SUCH-CERTIFICATE,1234567890,2026-01-01T10:00:00+08:00\n",
        encoding="utf-8",
    )
    with browser_page(chromium, tmp_path / "chromium-profile") as page:
        _sign_in(page, url, token(settings, AccessRole.PRODUCTION_CENTRE))
        page.click("a[href='/console/production']")
        page.set_input_files("#batch", str(batch))
        page.click("#send-batch")
        expect(page.locator("#batch-summary")).to_contain_text("day.csv")
        expect(page.locator("tr[data-line='2']")).to_have_attribute(
            "data-status", "already_recorded"
        )
        refused = page.locator("tr[data-line='3']")
        expect(refused).to_have_attribute("data-status", "refused")
        expect(refused).to_contain_text("NO-SUCH-CERTIFICATE")
        page.screenshot(path=str(ARTIFACTS / "5-production-batch.png"), full_page=True)
        page.click("#sign-out")

        _sign_in(page, url, token(settings, AccessRole.AUDITOR))
        page.click("a[href='/console/verify']")
        page.click("#run-chain button[type=submit]")
        expect(page.locator("#chain-verdict")).to_have_attribute("data-intact", "true")
        page.screenshot(path=str(ARTIFACTS / "6-verify-chain.png"), full_page=True)

        page.goto(f"{url}/console/analytics")
        bars = page.locator("#chart-sla-outlets rect.bar")
        _reload_until(page, "the lifecycle view has the case", lambda: bars.count() == 1)
        expect(page.locator("#chart-stages")).to_be_visible()
        expect(page.locator("#stages")).to_contain_text("受理→制卡")
        page.screenshot(path=str(ARTIFACTS / "7-analytics.png"), full_page=True)
        page.click("#lang-switch")
        expect(page.locator("h1")).to_contain_text(re.compile("Lifecycle analytics"))
