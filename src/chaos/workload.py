"""The clerks, centres and claims officers of a run: holder stories sent through the application
layer, each command with a request id of its own, retried with the same id as a client would.

Every acknowledged command goes into the journal. A command that meets an infrastructure error
is sent again with the same request id until it is answered (the office answers a retry of a
command that was in fact recorded with the first answer); some answered commands are sent again
on purpose, and the second answer must be the first.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from application import cards, claims
from application.card_results import EventResult
from application.claim_results import ClaimRecorded
from application.results import BEIJING
from chaos.journal import Acknowledged, Journal
from domain.application import CardOffice
from domain.errors import DomainError
from domain.event import Channel
from samples import claims as claim_steps
from samples import stories
from service.bootstrap import open_back_office
from service.settings import Settings

log = logging.getLogger("sscard.chaos")

Answer = EventResult | ClaimRecorded
# How long one command is retried through an outage before the workload gives up on it.
_RETRY_FOR = 120.0
# Of the commands answered, the share sent again with the same request id.
_RESENT_SHARE = 0.15


class Workload(threading.Thread):
    """Holder stories, one after another, until ``stop`` is set."""

    def __init__(self, settings: Settings, journal: Journal, seed: int, pace: float) -> None:
        super().__init__(name="chaos-workload", daemon=True)
        self.settings, self.journal, self.pace = settings, journal, pace
        self.rng = random.Random(seed * 7919 + 1)
        self.stop = threading.Event()
        self.acknowledged = 0
        self.retried = 0
        self.resent = 0
        self.refused: Counter[str] = Counter()
        self.findings: list[str] = []
        self.error: BaseException | None = None
        self._ids = itertools.count(1)
        self._prefix = f"chaos-{seed}"

    def run(self) -> None:
        try:
            with open_back_office(self.settings) as backoffice:
                office = backoffice.office
                people = stories.Identities(card_prefix="X")
                while not self.stop.is_set():
                    story = self.rng.choice(_STORIES)
                    for _ in story(self, office, people):
                        if self.stop.is_set():
                            return
                        time.sleep(self.pace)
        except BaseException as exc:  # reported by the harness as a finding, never swallowed
            log.exception("the workload stopped")
            self.error = exc

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        what: str,
        call: Callable[[CardOffice, Any], Answer],
        office: CardOffice,
        command: BaseModel,
    ) -> Answer | None:
        """One command with a fresh request id: answered (journalled) or refused (None)."""
        request_id = f"{self._prefix}-{next(self._ids)}"
        sent = command.model_copy(update={"request_id": request_id})
        answer = self._until_answered(what, call, office, sent)
        if answer is None:
            return None
        stream, version = _where(answer)
        status = "already_recorded" if answer.status == "already_recorded" else "recorded"
        self.journal.append(
            Acknowledged(
                request_id=request_id,
                command=what,
                status=status,
                stream_id=stream,
                version=version,
            )
        )
        self.acknowledged += 1
        if self.rng.random() < _RESENT_SHARE:
            self._resend(what, call, office, sent, answer)
        return answer

    def _resend(
        self,
        what: str,
        call: Callable[[CardOffice, Any], Answer],
        office: CardOffice,
        sent: BaseModel,
        first: Answer,
    ) -> None:
        """The client did not see the answer and sends the same request again."""
        self.resent += 1
        again = self._until_answered(what, call, office, sent)
        if again is None:
            self.findings.append(f"{what} {_request_id(sent)}: refused on a retry")
        elif _where(again) != _where(first):
            self.findings.append(
                f"{what} {_request_id(sent)}: first answered {_where(first)}, "
                f"retry answered {_where(again)}"
            )

    def _until_answered(
        self,
        what: str,
        call: Callable[[CardOffice, Any], Answer],
        office: CardOffice,
        command: BaseModel,
    ) -> Answer | None:
        deadline = time.monotonic() + _RETRY_FOR
        while True:
            try:
                return call(office, command)
            except DomainError as refusal:
                self.refused[f"{what}: {refusal.code}"] += 1
                if refusal.code == "request_id_reused":
                    self.findings.append(f"{what} {_request_id(command)}: {refusal}")
                return None
            except Exception as error:  # the store busy or away: the client tries again
                if time.monotonic() >= deadline:
                    self.findings.append(f"{what} {_request_id(command)}: never answered: {error}")
                    return None
                self.retried += 1
                time.sleep(0.5)


def _request_id(command: BaseModel) -> str:
    return str(getattr(command, "request_id", None))


def _where(answer: Answer) -> tuple[str | None, int | None]:
    if isinstance(answer, ClaimRecorded):
        return answer.claim_id, answer.version
    return answer.stream_id, answer.version


# ---- the stories ---------------------------------------------------------------------------------

Story = Callable[[Workload, CardOffice, stories.Identities], Iterator[None]]


def _issue(w: Workload, office: CardOffice, people: stories.Identities) -> tuple[str, str] | None:
    rid, card = people.resident_id(), people.card_number()
    answer = w.send("issue", cards.issue_card, office, stories.issue(rid, card))
    return None if answer is None else (rid, card)


def _pre_report(rid: str, channel: Channel = Channel.OUTLET) -> cards.PreReportRequest:
    if channel is Channel.ONLINE:
        return cards.PreReportRequest(resident_id=rid, channel=channel)
    return cards.PreReportRequest(
        resident_id=rid, channel=channel, outlet=stories.OUTLET, staff_id="clerk-01"
    )


def pre_report_and_cancel(
    w: Workload, office: CardOffice, people: stories.Identities
) -> Iterator[None]:
    holder = _issue(w, office, people)
    if holder is None:
        return
    yield
    rid, _ = holder
    for _ in range(w.rng.randint(1, 2)):
        w.send("pre-report", cards.pre_report_loss, office, _pre_report(rid))
        yield
        w.send("cancel", cards.cancel_pre_report, office, stories.cancel(rid))
        yield


def pre_report_online_left(
    w: Workload, office: CardOffice, people: stories.Identities
) -> Iterator[None]:
    holder = _issue(w, office, people)
    if holder is None:
        return
    yield
    w.send("pre-report", cards.pre_report_loss, office, _pre_report(holder[0], Channel.ONLINE))
    yield


def replacement(w: Workload, office: CardOffice, people: stories.Identities) -> Iterator[None]:
    """Formal report (by the holder or an authorized agent), production sent twice, collection
    and activation."""
    holder = _issue(w, office, people)
    if holder is None:
        return
    yield
    rid, _ = holder
    agent = people.resident_id() if w.rng.random() < 0.4 else None
    if agent is not None:
        w.send("authorize", cards.authorize_proxy, office, stories.authorize(rid, agent))
        yield
    if w.rng.random() < 0.5:
        w.send("pre-report", cards.pre_report_loss, office, _pre_report(rid))
        yield
    answer = w.send("report", cards.report_loss_formally, office, stories.report(rid, agent))
    yield
    if answer is None or answer.event is None:
        return
    yield from _produce_collect_activate(w, office, people, rid, answer, agent)


def damaged_exchange(w: Workload, office: CardOffice, people: stories.Identities) -> Iterator[None]:
    holder = _issue(w, office, people)
    if holder is None:
        return
    yield
    rid = holder[0]
    answer = w.send(
        "replace-damaged", cards.replace_damaged_card, office, stories.replace_damaged(rid)
    )
    yield
    if answer is None or answer.event is None:
        return
    yield from _produce_collect_activate(w, office, people, rid, answer, None)


def _produce_collect_activate(
    w: Workload,
    office: CardOffice,
    people: stories.Identities,
    rid: str,
    application: Answer,
    agent: str | None,
) -> Iterator[None]:
    certificate = str(getattr(application.event, "certificate_number", ""))
    new_card = people.card_number()
    production = stories.produce(certificate, new_card)
    if w.send("produce", cards.record_production, office, production) is None:
        return
    yield
    # The centre's batch is sent again (a new request): on record already, nothing written.
    w.send("produce-again", cards.record_production, office, production)
    yield
    collection = stories.collect(rid, certificate, agent=agent)
    if w.send("collect", cards.record_collection, office, collection) is None:
        return
    yield
    w.send("activate", cards.activate_card, office, stories.activate(rid, new_card))
    yield


def claim_paid(w: Workload, office: CardOffice, people: stories.Identities) -> Iterator[None]:
    """Treated while the card was pre-reported lost (the only days a claim covers): the claim
    submitted, approved and paid; the same invoice submitted again is refused."""
    holder = _issue(w, office, people)
    if holder is None:
        return
    yield
    rid = holder[0]
    if w.send("pre-report", cards.pre_report_loss, office, _pre_report(rid)) is None:
        return
    yield
    treated = datetime.now(BEIJING).date()  # the suspension began today, Beijing time
    submission = claim_steps.submit(rid, treated, invoice=f"INV-{next(w._ids):08d}")
    submitted = w.send("claim-submit", claims.submit_claim, office, submission)
    yield
    if submitted is None:
        return
    if w.rng.random() < 0.3:
        w.send("claim-submit-duplicate", claims.submit_claim, office, submission)
        yield
    claim_id = _claim_id(submitted)
    if w.send("claim-approve", claims.approve_claim, office, claim_steps.approve(claim_id)):
        yield
        reference = f"PAY-{next(w._ids):08d}"
        w.send("claim-pay", claims.pay_claim, office, claim_steps.pay(claim_id, reference))
        yield
    if w.rng.random() < 0.5:
        w.send("cancel", cards.cancel_pre_report, office, stories.cancel(rid))
        yield


def _claim_id(answer: Answer) -> UUID:
    assert isinstance(answer, ClaimRecorded)
    return UUID(answer.claim_id)


_STORIES: tuple[Story, ...] = (
    pre_report_and_cancel,
    pre_report_and_cancel,
    pre_report_online_left,
    replacement,
    replacement,
    damaged_exchange,
    claim_paid,
)
