"""The console's auditor, production centre and analytics pages in process (FastAPI's
TestClient over the API's app, a real SQLite store): who may open each (403 for every other
role), CSRF on every run and upload (a refused form runs and writes nothing), and what each
shows from a seeded store: verify with every view equal (and a difference when a view falls
behind), the hash chain intact, a batch's rows with a bad one refused and a second sending
answered "already recorded", the lifecycle charts with a bar per seeded figure."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from application import views
from domain.application import CardOffice
from domain.authority import AccessRole
from projections.catalogue import VIEW_NAMES
from samples import stories
from service.settings import Settings
from tests.api_support import OTHER_OUTLET, token
from tests.conftest import make_settings
from tests.console_support import PICKUP, csrf_of, sign_in
from tests.support import card_number, resident_id

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Who may open each page (issue 21 and domain.authority's table): every other role gets 403.
ALLOWED = {
    "/console/verify": {AccessRole.AUDITOR, AccessRole.ADMIN},
    "/console/production": {AccessRole.PRODUCTION_CENTRE},
    "/console/analytics": {AccessRole.AUDITOR, AccessRole.ADMIN},
}


@dataclass
class Console:
    settings: Settings
    app: FastAPI
    office: CardOffice

    def client(self, role: AccessRole | None = None) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False)
        if role is not None:
            extra: dict[str, str] = {}
            if role is AccessRole.OUTLET_CLERK:
                extra["outlet"] = PICKUP
            if role is AccessRole.CARDHOLDER:
                extra["holder"] = resident_id()
            sign_in(client, token(self.settings, role, **extra))  # type: ignore[arg-type]
        return client

    def rebuild(self) -> None:
        """Every view rebuilt from the store (the consumers' work, done at once)."""
        views.replay(self.settings, [], workers=1)


def _console(root: Path) -> Iterator[Console]:
    settings = make_settings(root)
    app = create_app(settings)
    with TestClient(app):  # the lifespan opens the back office for every client below
        yield Console(settings, app, app.state.backoffice.office)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from _console(tmp_path_factory.mktemp("console-pages"))


def applied_for(
    office: CardOffice, outlet: str = stories.OUTLET, pre_reported: bool = True
) -> tuple[str, str]:
    """A holder (resident ID number) whose replacement was applied for at ``outlet``, and the
    certificate's number."""
    rid = resident_id()
    office.issue_card(stories.issue(rid, card_number()))
    if pre_reported:
        office.pre_report_loss(stories.pre_report(rid))
    application = office.report_loss_formally(stories.report(rid, outlet=outlet))
    return rid, application.certificate_number


def applied(office: CardOffice, outlet: str = stories.OUTLET, pre_reported: bool = True) -> str:
    return applied_for(office, outlet, pre_reported)[1]


def _csrf(client: TestClient, path: str) -> str:
    return csrf_of(client.get(path).text)


# ---- who may open them -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_each_page_opens_for_its_roles_and_is_403_for_every_other(
    console: Console, path: str
) -> None:
    for role in AccessRole:
        answer = console.client(role).get(path)
        expected = 200 if role in ALLOWED[path] else 403
        assert answer.status_code == expected, (role, path, answer.text[-400:])
        if expected == 403:
            assert "forbidden" in answer.text


def test_the_start_page_links_the_pages_a_role_may_open(console: Console) -> None:
    home = console.client(AccessRole.AUDITOR).get("/console/").text
    assert 'href="/console/verify"' in home
    assert 'href="/console/analytics"' in home
    assert 'href="/console/production"' not in home
    centre = console.client(AccessRole.PRODUCTION_CENTRE).get("/console/").text
    assert 'href="/console/production"' in centre
    assert 'href="/console/verify"' not in centre


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (AccessRole.PRODUCTION_CENTRE, "/console/verify/views"),
        (AccessRole.OUTLET_CLERK, "/console/verify/chain"),
        (AccessRole.AUDITOR, "/console/production/batches"),
    ],
)
def test_a_run_or_upload_by_another_role_is_403(
    console: Console, role: AccessRole, path: str
) -> None:
    client = console.client(role)
    answer = client.post(path, data={"csrf": _csrf(client, "/console/")})
    assert answer.status_code == 403, answer.text


# ---- verify and verify-chain -------------------------------------------------------------------


def test_a_chain_run_without_its_csrf_token_runs_nothing(console: Console) -> None:
    applied(console.office)
    client = console.client(AccessRole.AUDITOR)
    for path in ("/console/verify/chain", "/console/verify/views"):
        for data in ({}, {"csrf": "0" * 64}):
            answer = client.post(path, data=data)
            assert answer.status_code == 403, answer.text
            assert "csrf_refused" in answer.text
    done = client.post("/console/verify/chain", data={"csrf": _csrf(client, "/console/verify")})
    assert done.status_code == 200, done.text
    assert _figure(done.text, "added") == _figure(done.text, "records") > 0, (
        "the refused runs audited nothing: this run audits the whole log first"
    )
    again = client.post("/console/verify/chain", data={"csrf": _csrf(client, "/console/verify")})
    assert _figure(again.text, "added") == 0


def _figure(html: str, name: str) -> int:
    found = re.search(rf'id="chain-{name}">(\d+)<', html)
    assert found, name
    return int(found.group(1))


def test_verify_chain_shows_the_chain_intact(console: Console) -> None:
    applied(console.office)
    client = console.client(AccessRole.ADMIN)
    answer = client.post("/console/verify/chain", data={"csrf": _csrf(client, "/console/verify")})
    assert answer.status_code == 200, answer.text
    assert 'id="chain-verdict" data-intact="true"' in answer.text
    assert "哈希链完整" in answer.text
    assert 'id="findings"' not in answer.text


def test_verify_chain_names_the_first_break_of_an_edited_store(tmp_path: Path) -> None:
    for console in _console(tmp_path):
        rid = applied_for(console.office)[0]
        stream = console.office.holder(rid).id
        # What an attacker with the database file could do: an event of the holder removed.
        with closing(sqlite3.connect(console.settings.sqlite_path, isolation_level=None)) as db:
            db.execute(
                "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
                (stream.hex,),
            )
        client = console.client(AccessRole.AUDITOR)
        csrf = _csrf(client, "/console/verify")
        answer = client.post("/console/verify/chain", data={"csrf": csrf})
        assert answer.status_code == 200, answer.text
        assert 'id="chain-verdict" data-intact="false"' in answer.text
        assert "哈希链断裂" in answer.text
        findings = answer.text.split('id="findings"')[1]
        assert f"stream {stream}: version 2 removed" in findings


def test_verify_shows_every_view_equal_to_its_rebuild(console: Console) -> None:
    applied(console.office)
    console.rebuild()
    client = console.client(AccessRole.AUDITOR)
    csrf = _csrf(client, "/console/verify")
    answer = client.post("/console/verify/views", data={"csrf": csrf, "wait": "0"})
    assert answer.status_code == 200, answer.text
    assert 'id="views-verdict" data-equal="true"' in answer.text
    shown = set(re.findall(r'data-view="([a-z_]+)"', answer.text))
    assert shown == set(VIEW_NAMES)
    assert 'data-equal="false"' not in answer.text


def test_verify_shows_a_view_that_differs_with_its_first_differences(console: Console) -> None:
    console.rebuild()
    applied(console.office)  # recorded, and no consumer applied it: the live views lag
    client = console.client(AccessRole.AUDITOR)
    csrf = _csrf(client, "/console/verify")
    answer = client.post("/console/verify/views", data={"csrf": csrf, "wait": "0"})
    console.rebuild()
    assert answer.status_code == 200, answer.text
    assert 'id="views-verdict" data-equal="false"' in answer.text
    assert 'data-view="outlet_queue"' in answer.text
    assert re.search(
        r'data-view="outlet_queue" data-table="[a-z_]+" data-equal="false"', answer.text
    )
    assert '<ul class="differences"><li><code>' in answer.text


def test_a_wait_out_of_bounds_is_bad_input(console: Console) -> None:
    client = console.client(AccessRole.AUDITOR)
    csrf = _csrf(client, "/console/verify")
    answer = client.post("/console/verify/views", data={"csrf": csrf, "wait": "3600"})
    assert answer.status_code == 422
    assert "wait" in answer.text


# ---- the production centre's batch -------------------------------------------------------------


def _batch(*rows: tuple[str, str, str]) -> bytes:
    lines = ["certificate,new_card_number,produced_at", *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-line="(\d+)" data-status="([a-z_]+)"', html)


def test_a_batch_shows_each_rows_result_and_a_second_sending_records_nothing_twice(
    console: Console,
) -> None:
    (rid, first), (_, second) = applied_for(console.office), applied_for(console.office)
    produced_at = _now()
    batch = _batch(
        (first, card_number(), produced_at),
        ("NO-SUCH-CERTIFICATE", card_number(), produced_at),
        (second, card_number(), produced_at),
    )
    client = console.client(AccessRole.PRODUCTION_CENTRE)
    csrf = _csrf(client, "/console/production")
    files = {"batch": ("day-07.csv", batch, "text/csv")}
    answer = client.post("/console/production/batches", data={"csrf": csrf}, files=files)
    assert answer.status_code == 200, answer.text
    assert _rows(answer.text) == [("2", "recorded"), ("3", "refused"), ("4", "recorded")], (
        re.findall(r"<td>([^<]{20,})</td>", answer.text)
    )
    refused = re.search(r'data-status="refused" class="different">(.*?)</tr>', answer.text, re.S)
    assert refused, answer.text
    assert re.search(r"<code>[a-z_]+</code>", refused.group(1))
    assert "NO-SUCH-CERTIFICATE" in refused.group(1)
    assert "day-07.csv：共 3 行，新登记 2，此前已登记 0，拒绝 1" in answer.text
    history = console.office.history(rid)
    again = client.post("/console/production/batches", data={"csrf": csrf}, files=files)
    assert again.status_code == 200, again.text
    assert _rows(again.text) == [
        ("2", "already_recorded"),
        ("3", "refused"),
        ("4", "already_recorded"),
    ]
    assert "新登记 0，此前已登记 2，拒绝 1" in again.text
    assert console.office.history(rid) == history, "nothing recorded twice"
    assert [type(e).__name__ for e in history].count("CardProduced") == 1


def test_an_upload_without_its_csrf_token_records_nothing(console: Console) -> None:
    certificate = applied(console.office)
    client = console.client(AccessRole.PRODUCTION_CENTRE)
    batch = _batch((certificate, card_number(), _now()))
    files = {"batch": ("b.csv", batch, "text/csv")}
    for data in ({}, {"csrf": "0" * 64}):
        answer = client.post("/console/production/batches", data=data, files=files)
        assert answer.status_code == 403, answer.text
    csrf = _csrf(client, "/console/production")
    done = client.post("/console/production/batches", data={"csrf": csrf}, files=files)
    assert _rows(done.text) == [("2", "recorded")], "the refused uploads recorded nothing"


def test_a_file_that_is_no_batch_is_bad_input_naming_the_file_and_records_nothing(
    console: Console,
) -> None:
    certificate = applied(console.office)
    client = console.client(AccessRole.PRODUCTION_CENTRE)
    csrf = _csrf(client, "/console/production")
    wrong = f"certificate,card\n{certificate},{card_number()}\n".encode()
    answer = client.post(
        "/console/production/batches",
        data={"csrf": csrf},
        files={"batch": ("wrong.csv", wrong, "text/csv")},
    )
    assert answer.status_code == 422, answer.text
    assert "wrong.csv" in answer.text
    assert "sscard-batch-" not in answer.text, "the scratch copy's path is not shown"
    batch = _batch((certificate, card_number(), _now()))
    done = client.post(
        "/console/production/batches",
        data={"csrf": csrf},
        files={"batch": ("right.csv", batch, "text/csv")},
    )
    assert _rows(done.text) == [("2", "recorded")]


# ---- the lifecycle charts ----------------------------------------------------------------------


def _chart(html: str, chart_id: str) -> str:
    start = html.index(f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}"')
    return html[start : html.index("</svg>", start)]


def test_the_charts_draw_a_bar_per_seeded_figure_with_the_figures_in_a_table(
    tmp_path: Path,
) -> None:
    for console in _console(tmp_path):
        office = console.office
        # Two outlets this month: at one, a case through every stage; at the other, a case
        # produced and not yet collected; a third case awaiting production.
        rid, new_card = resident_id(), card_number()
        office.issue_card(stories.issue(rid, card_number()))
        office.pre_report_loss(stories.pre_report(rid))
        certificate = office.report_loss_formally(stories.report(rid)).certificate_number
        office.record_production(stories.produce(certificate, new_card))
        office.record_collection(stories.collect(rid, certificate))
        office.activate_card(stories.activate(rid, new_card))
        office.record_production(
            stories.produce(applied(office, OTHER_OUTLET, pre_reported=False), card_number())
        )
        applied(office, OTHER_OUTLET, pre_reported=False)
        client = console.client(AccessRole.AUDITOR)
        assert 'id="analytics-empty"' in client.get("/console/analytics").text, "no view yet"
        console.rebuild()
        html = client.get("/console/analytics").text
        assert "style=" not in html, "the CSP allows no inline style"
        assert "<script" not in html
        outlets = _chart(html, "chart-sla-outlets")
        assert outlets.count('<rect class="bar"') == 2
        assert stories.OUTLET in outlets
        assert OTHER_OUTLET in outlets
        assert re.findall(r'<tr data-outlet="([^"]+)">', html) == sorted(
            [stories.OUTLET, OTHER_OUTLET]
        )
        assert "100.0%" in html  # both produced cases were produced by their due date
        months = _chart(html, "chart-sla-months")
        assert months.count('<circle class="point"') == 1
        stages = _chart(html, "chart-stages")
        # p50 and p90 of every stage: each stage was gone through by the first case.
        assert stages.count('<rect class="bar"') == 8
        assert re.findall(
            r'<tr data-stage="[a-z_]+"><td>[^<]+</td><td class="money">(\d+)', html
        ) == [
            "1",
            "2",
            "1",
            "1",
        ]
        one = client.get(f"/console/analytics?outlet={OTHER_OUTLET}").text
        one_stages = _chart(one, "chart-stages")
        assert one_stages.count('<rect class="bar"') == 2, "only application -> production"
        english = client.get("/console/analytics?lang=en").text
        assert "Production SLA hit rate per outlet" in english
        assert "Stage durations" in english


def test_a_month_that_is_not_one_is_bad_input(console: Console) -> None:
    answer = console.client(AccessRole.AUDITOR).get("/console/analytics?month=2026-13")
    assert answer.status_code == 422
