"""Issue 12, item 1: a client's retry has one effect.

With a request id, a retry with the same content gets the first result and writes nothing, and
the same id with other content is refused. Without one, a command that would record the holder's
latest fact again writes nothing and says so."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from contract.public_form import StoredForm
from domain.application import CardOffice
from domain.cardholder.errors import CardAlreadySuspended, ReplacementCaseOpen
from domain.cardholder.events import ProxyScope
from domain.requests import (
    RequestIdReused,
    RequestRecorded,
    content_digest,
    fingerprint,
    rekey_fingerprint,
    same_content,
)
from relay.topics import Topics
from relay.wire import PUBLISHED_EVENTS, messages_for
from store.persistence import upcast
from tests.support import (
    CLERK,
    Clock,
    authorize,
    cancel,
    card_number,
    head,
    issue,
    memory_office,
    pre_report,
    pre_report_online,
    report,
    resident_id,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def office() -> CardOffice:
    return memory_office(Clock())


def test_a_retry_with_the_same_request_id_gets_the_first_result_and_writes_nothing(office):
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    command = authorize(holder, agent).model_copy(update={"request_id": "req-0001"})
    first = office.execute(command)
    assert first.status == "recorded"
    before = head(office)
    again = office.execute(command)
    assert again.status == "repeated"
    assert again.event == first.event
    assert head(office) == before


def test_a_request_id_answers_even_after_the_holder_moved_on(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    command = report(holder).model_copy(update={"request_id": "formal-1"})
    first = office.execute(command)
    office.execute(authorize(holder, resident_id()))
    again = office.execute(command)
    assert (again.status, again.event) == ("repeated", first.event)


def test_the_same_request_id_with_other_content_is_refused(office):
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    office.execute(authorize(holder, agent).model_copy(update={"request_id": "req-0002"}))
    before = head(office)
    other = authorize(holder, agent, scope={ProxyScope.COLLECT})
    with pytest.raises(RequestIdReused, match="different AuthorizeProxy"):
        office.execute(other.model_copy(update={"request_id": "req-0002"}))
    assert head(office) == before


def test_a_request_id_is_recorded_in_the_same_transaction_as_the_event(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    before = head(office)
    office.execute(pre_report(holder).model_copy(update={"request_id": "atomic-1"}))
    records = office.recorder.select_notifications(start=before + 1, limit=10)
    assert len(records) == 2
    holder_id = office.holder_id(holder)
    assert {r.originator_id for r in records} >= {holder_id}
    # The request's own stream starts at version 1, like every stream the office opens.
    (request,) = [r for r in records if r.originator_id != holder_id]
    assert request.originator_version == 1


def test_racing_retries_with_one_request_id_record_one_event():
    office = memory_office(Clock())
    holder = resident_id()
    office.issue_card(issue(holder))
    command = pre_report(holder).model_copy(update={"request_id": "race-1"})
    before = head(office)
    outcomes = []

    def send() -> None:
        outcomes.append(office.execute(command))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert head(office) == before + 2  # the event and its request record, once
    assert len({o.event.event_id for o in outcomes if o.event}) == 1


def test_a_retry_overtaken_by_its_own_first_attempt_gets_the_first_result_as_repeated():
    """The first attempt commits between the retry's look at the request ids and its load of
    the holder: the retry finds the fact already recorded, and answers with the first result
    ("repeated"), not a bare "already recorded", because the request id is the same."""
    office = memory_office(Clock())
    holder = resident_id()
    office.issue_card(issue(holder))
    command = pre_report(holder).model_copy(update={"request_id": "race-2"})
    load = office._load
    first: list[Any] = []

    def the_first_attempt_lands_now(*args: Any) -> Any:
        office._load = load  # type: ignore[method-assign]
        first.append(office.execute(command))
        return load(*args)

    office._load = the_first_attempt_lands_now  # type: ignore[method-assign]
    before = head(office)
    retry = office.execute(command)
    assert first[0].status == "recorded"
    assert (retry.status, retry.event) == ("repeated", first[0].event)
    assert head(office) == before + 2  # the first attempt's event and request record only


def test_without_a_request_id_a_repeat_of_the_latest_fact_is_already_recorded(office):
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    first = office.execute(authorize(holder, agent))
    before = head(office)
    again = office.execute(authorize(holder, agent))
    assert (again.status, again.event) == ("already_recorded", first.event)
    assert head(office) == before


def test_a_repeated_pre_report_and_formal_report_are_already_recorded_not_refused(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    pre = office.execute(pre_report(holder))
    assert office.execute(pre_report(holder)).event == pre.event
    formal = office.execute(report(holder))
    repeat = office.execute(report(holder))
    assert repeat.status == "already_recorded"
    assert repeat.event == formal.event  # the first certificate, not a new one


def test_a_repeated_card_issue_is_already_recorded(office):
    holder, number = resident_id(), card_number()
    office.issue_card(issue(holder, number=number))
    assert office.execute(issue(holder, number=number)).status == "already_recorded"


def test_a_different_command_in_the_same_state_is_still_refused(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.execute(pre_report(holder))
    with pytest.raises(CardAlreadySuspended):
        office.execute(pre_report_online(holder))
    office.execute(report(holder))
    with pytest.raises(ReplacementCaseOpen):
        office.execute(report(holder, collection_outlet="BJ-XC-009"))


def test_request_records_are_never_published(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.execute(pre_report(holder).model_copy(update={"request_id": "unpublished-1"}))
    records = [
        office.mapper.to_domain_event(n)
        for n in office.recorder.select_notifications(start=1, limit=100)
    ]
    requests = [r for r in records if isinstance(r, RequestRecorded)]
    assert len(requests) == 1
    assert RequestRecorded not in PUBLISHED_EVENTS
    form = StoredForm(99, RequestRecorded, requests[0].model_dump(mode="json"))
    assert list(messages_for(form, Topics())) == []


def test_the_fingerprint_is_the_same_in_every_process():
    """Sets inside a command must not make a retry from another process look different."""
    program = (
        "from tests.support import authorize;"
        "print(__import__('domain.requests').requests.content_digest("
        "authorize('11010519491231002X', '110108197911020154')))"
    )
    prints = set()
    for seed in ("1", "2", "3"):
        env = os.environ | {"PYTHONHASHSEED": seed, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
        out = subprocess.run(
            [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
        )
        prints.add(out.stdout.strip())
    assert prints == {content_digest(authorize("11010519491231002X", "110108197911020154"))}


def test_a_record_with_the_plain_digest_of_an_older_release_still_answers():
    """Until ``sscard db migrate`` re-keys it, a version 2 record is compared as it was made."""
    office = memory_office()
    command = pre_report(resident_id())
    keys = office.digest_keys
    record = RequestRecorded.model_validate(
        upcast(
            RequestRecorded,
            {
                "originator_id": str(uuid.uuid4()),
                "originator_version": 1,
                "event_id": str(uuid.uuid4()),
                "occurred_at": "2026-03-02T01:00:00Z",
                "actor": CLERK.model_dump(mode="json"),
                "schema_version": 2,
                "request_id": "old-1",
                "command_type": "PreReportLoss",
                "fingerprint": content_digest(command),
                "stream_id": str(uuid.uuid4()),
                "event_version": 2,
            },
        )
    )
    assert same_content(record, command, keys)
    assert not same_content(record, cancel(command.resident_id), keys)
    state = record.model_dump(mode="json")
    assert rekey_fingerprint(state, keys)
    assert state["fingerprint"] == fingerprint(command, keys) != content_digest(command)
    assert same_content(RequestRecorded.model_validate(state), command, keys)
