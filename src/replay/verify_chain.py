"""``sscard audit verify-chain``: is the stored history the history that was written?

Two checks, over the raw stored records (no decryption, no validation):

1. **Every stream's chain.** Each record carries the digest of its predecessor in its stream
   (``store.chain``). Walking each stream by version, a record whose link does not match names
   the first altered, removed, inserted or reordered event; a stream's versions must also come
   in increasing log positions.
2. **The whole log's order.** A per-stream chain cannot see a stream's last event altered or
   removed, or events of different streams swapped in the log. So the log itself is chained in
   ``sscard_log_chain`` (``store.log_chain``, beside the read models): one row per audited
   position with the record's digest and a running digest of the whole log up to it, written
   by the audit
   follower (``sscard run`` keeps it moments behind the store, on the tracking runner; each
   verification also brings it up to date). Each run first compares every audited position with
   the store, then (if all is well) audits what was added since. The
   running digest of the newest position is printed: an auditor who writes it down (or has it
   published) can later prove with ``--anchor POSITION:DIGEST`` that the history up to there is
   the same, even against someone able to rewrite the store and this table together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from sqlalchemy import select

from store.chain import CHAIN_FIELD, record_digest
from store.keystore import KeyTable, RawRecord
from store.log_chain import log_chain_follower, log_chain_table, running_digest, streams_of
from store.opened import OpenedStore
from tracking.runner import Pulse
from tracking.store import ViewStore


@dataclass(frozen=True, order=True)
class Finding:
    """One break in the history, at the earliest place it shows."""

    position: int
    what: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.what}"


@dataclass
class ChainReport:
    records: int = 0
    streams: int = 0
    unlinked: int = 0  # records stored before the chain existed (sscard db migrate links them)
    audited: int = 0  # log positions compared with the log chain
    added: int = 0  # log positions audited for the first time by this run
    head: tuple[int, str] | None = None  # (position, running digest) of the log chain
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings and not self.unlinked


def _link_of(record: RawRecord) -> str | None:
    """The record's link to its predecessor; None if it has none (an old record); raises
    ValueError when the bytes are not a record's JSON any more."""
    state = orjson.loads(record.state)
    if not isinstance(state, dict):
        raise ValueError("not a JSON object")
    link = state.get(CHAIN_FIELD)
    return link if isinstance(link, str) else None


def _digest(record: RawRecord) -> str:
    return record_digest(record.stream_id, record.version, record.topic, record.state)


def check_stream(records: list[RawRecord], report: ChainReport) -> Finding | None:
    """The first break in one stream's chain (records in version order)."""
    name = f"stream {records[0].stream_id}"
    expected_version = 1
    previous: str | None = ""  # the digest the next link must carry; None: unknown
    for index, record in enumerate(records):
        if record.version != expected_version:
            missing = (
                f"version {expected_version}"
                if record.version == expected_version + 1
                else f"versions {expected_version}-{record.version - 1}"
            )
            return Finding(
                record.position, f"{name}: {missing} removed (before version {record.version})"
            )
        try:
            link = _link_of(record)
        except ValueError:
            return Finding(
                record.position,
                f"{name}: version {record.version} altered (its bytes are no longer a record)",
            )
        if link is None:
            report.unlinked += 1
        elif previous is not None and link != previous:
            return _broken(name, records, index, previous)
        # The links hold; a stream's events must still come in log order.
        if index and record.position < records[index - 1].position:
            return Finding(
                record.position,
                f"{name}: version {record.version} stands before version "
                f"{records[index - 1].version} in the log (reordered)",
            )
        previous = _digest(record)
        expected_version = record.version + 1
    return None


def _broken(name: str, records: list[RawRecord], index: int, expected: str) -> Finding:
    """Say what most likely happened where a link does not match: a later record that links
    to the expected predecessor was moved; a link to the record before the previous one means
    the previous one was slipped in; otherwise the previous record (or this one) was edited."""
    record = records[index]
    for later in records[index + 1 :]:
        try:
            if _link_of(later) == expected:
                return Finding(
                    record.position,
                    f"{name}: versions {record.version} and {later.version} reordered "
                    f"(what is stored at version {later.version} belongs at {record.version})",
                )
        except ValueError:
            continue
    if index == 0:
        return Finding(record.position, f"{name}: version {record.version} altered")
    before = records[index - 1]
    link = _link_of(record)
    if index >= 2 and link == _digest(records[index - 2]):
        return Finding(before.position, f"{name}: version {before.version} inserted")
    return Finding(
        before.position,
        f"{name}: version {before.version} altered (version {record.version} no longer follows it)",
    )


def verify_streams(table: KeyTable, report: ChainReport) -> None:
    for records in streams_of(table.records(by_stream=True)):
        report.streams += 1
        report.records += len(records)
        finding = check_stream(records, report)
        if finding is not None:
            report.findings.append(finding)


def verify_log(opened: OpenedStore, report: ChainReport, extend: bool = True) -> None:
    """Compare every audited log position with the store; then audit the new ones."""
    table, views = opened.personal_data.table, opened.views
    views.create([log_chain_table])
    t = log_chain_table.c
    with views.reading() as tx:
        audited = tx.execute(select(log_chain_table).order_by(t.position)).all()
    where = {(row.stream_id, int(row.version)): int(row.position) for row in audited}
    store = table.records()
    last_audited = int(audited[-1].position) if audited else 0
    chain = ""
    pending: RawRecord | None = None
    for row in audited:
        report.audited += 1
        if running_digest(chain, row.digest) != row.chain:
            report.findings.append(Finding(int(row.position), "the log chain table was altered"))
            return
        chain = row.chain
        record = pending or next(store, None)
        pending = None
        if record is not None and record.position < row.position:
            report.findings.append(
                Finding(
                    record.position,
                    f"an event of stream {record.stream_id} version "
                    f"{record.version} was inserted into the audited log",
                )
            )
            return
        if record is None or record.position > row.position:
            pending = record
            report.findings.append(
                Finding(
                    int(row.position),
                    f"the event of stream {row.stream_id} version {row.version} was removed",
                )
            )
            return
        if _digest(record) != row.digest:
            key = (str(record.stream_id), record.version)
            if key != (row.stream_id, int(row.version)) and key in where:
                what = (
                    f"reordered: it holds stream {record.stream_id} version {record.version}, "
                    f"audited at position {where[key]}"
                )
            else:
                what = f"the event of stream {row.stream_id} version {row.version} was altered"
            report.findings.append(Finding(record.position, what))
            return
    report.head = (last_audited, chain) if audited else None
    if not extend or report.findings or report.unlinked:
        return
    follower = log_chain_follower(opened)
    pulse = Pulse.quiet()
    while (handled := follower.step(pulse)) is not None:
        report.added += handled
    with views.reading() as tx:
        newest = tx.execute(
            select(log_chain_table).order_by(log_chain_table.c.position.desc()).limit(1)
        ).first()
    report.head = (int(newest.position), str(newest.chain)) if newest else None


def anchor_digest(views: ViewStore, position: int) -> str | None:
    with views.reading() as tx:
        row = tx.execute(
            select(log_chain_table.c.chain).where(log_chain_table.c.position == position)
        ).first()
    return None if row is None else str(row[0])


def verify_chain(opened: OpenedStore) -> ChainReport:
    report = ChainReport()
    verify_streams(opened.personal_data.table, report)
    verify_log(opened, report)
    report.findings.sort()
    return report
