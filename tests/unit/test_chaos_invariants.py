"""The invariant checks catch what they guard: a command acknowledged but not stored, an event
missing, duplicated out of order or foreign on its topic, a settlement status that differs."""

from __future__ import annotations

from chaos.evidence import scan_logs
from chaos.invariants import (
    Evidence,
    StoredPublic,
    StoredRequest,
    TopicRecord,
    acknowledged_commands_stored_once,
    check_all,
    public_events_on_topics_once,
    settlement_matches_store,
)
from chaos.journal import Acknowledged, Journal

CARDS = "chaos.card-events"
H1, H2 = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"


def _event(stream: str, version: int) -> StoredPublic:
    return StoredPublic(f"e-{stream[-1]}-{version}", stream, version, CARDS)


def _record(event: StoredPublic) -> TopicRecord:
    return TopicRecord(CARDS, event.stream_id, event.event_id, event.stream_id, event.version)


def _ack(request_id: str, stream: str, version: int) -> Acknowledged:
    return Acknowledged(
        request_id=request_id, command="issue", status="recorded", stream_id=stream, version=version
    )


def healthy() -> Evidence:
    events = [_event(H1, 1), _event(H1, 2), _event(H2, 1)]
    return Evidence(
        acknowledged=[_ack("r1", H1, 1), _ack("r2", H1, 2), _ack("r3", H2, 1)],
        requests=[
            StoredRequest("r1", H1, 1),
            StoredRequest("r2", H1, 2),
            StoredRequest("r3", H2, 1),
        ],
        stored_events=events,
        # A redelivery (v1 again after v2) is what dedupe drops: not a violation.
        topic_records=[
            _record(events[0]),
            _record(events[1]),
            _record(events[0]),
            _record(events[2]),
        ],
        derived_status={"X1": "blocked"},
        settlement_last={"X1": "blocked"},
        views={"outlet_queue": []},
    )


def test_healthy_evidence_holds():
    assert [v.violations for v in check_all(healthy())] == [[]] * len(check_all(healthy()))


def test_an_acknowledged_command_missing_from_the_store_is_a_violation():
    evidence = healthy()
    evidence.requests = evidence.requests[:2]
    verdict = acknowledged_commands_stored_once(evidence)
    assert verdict.violations == ["issue request r3: 0 records in store"]


def test_a_request_stored_for_another_event_is_a_violation():
    evidence = healthy()
    evidence.requests[1] = StoredRequest("r2", H2, 1)
    assert "stored as" in acknowledged_commands_stored_once(evidence).violations[0]


def test_an_already_recorded_answer_needs_no_record():
    evidence = healthy()
    evidence.acknowledged.append(
        Acknowledged(
            request_id="r4", command="produce", status="already_recorded", stream_id=H1, version=2
        )
    )
    assert acknowledged_commands_stored_once(evidence).holds


def test_an_event_missing_from_its_topic_is_a_violation():
    evidence = healthy()
    evidence.topic_records = evidence.topic_records[:-1]
    (violation,) = public_events_on_topics_once(evidence).violations
    assert H2 in violation


def test_a_version_published_ahead_of_its_predecessor_is_a_violation():
    evidence = healthy()
    first, second = evidence.stored_events[:2]
    evidence.topic_records = [_record(second), _record(first), _record(evidence.stored_events[2])]
    assert public_events_on_topics_once(evidence).violations


def test_an_event_on_the_topic_that_the_store_lacks_is_a_violation():
    evidence = healthy()
    evidence.topic_records.append(TopicRecord(CARDS, H2, "e-ghost", H2, 2))
    assert "not in the store" in public_events_on_topics_once(evidence).violations[0]


def test_a_settlement_status_unlike_the_store_s_is_a_violation():
    evidence = healthy()
    evidence.settlement_last["X1"] = "active"
    assert settlement_matches_store(evidence).violations == [
        "card X1: store says blocked, settlement topic says active"
    ]


def test_the_journal_reads_back_what_was_appended(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(_ack("r1", H1, 1))
    journal.append(_ack("r2", H1, 2))
    assert [a.request_id for a in journal.entries()] == ["r1", "r2"]


def test_a_traceback_or_a_worker_given_up_in_a_log_is_a_violation(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        "2026-12-07 15:36:01 INFO sscard: received SIGTERM\n"
        "Exception ignored in: <function KafkaProducer.__del__>\n"
        "Traceback (most recent call last):\n"
        '  File "kafka/producer/kafka.py", line 660, in __del__\n'
        "kafka.errors.KafkaTimeoutError: Timeout waiting for future\n"
        "2026-12-07 15:36:02 ERROR sscard: relay failed 5 times within 60 s (last: x); giving "
        "up, stopping the back office\n"
    )
    evidence = healthy()
    scan_logs([log], evidence)
    verdicts = {v.name: v for v in check_all(evidence)}
    assert verdicts["no Python traceback in any log"].violations == [
        "run.log:3: kafka.errors.KafkaTimeoutError: Timeout waiting for future"
    ]
    assert len(verdicts["no process left dead or stopping uncleanly"].violations) == 1


def test_a_claim_paid_twice_is_a_violation():
    evidence = healthy()
    evidence.payments = {"c1": 1, "c2": 2}
    verdicts = {v.name: v for v in check_all(evidence)}
    assert verdicts["no claim paid twice"].violations == ["claim c2 paid 2 times"]
