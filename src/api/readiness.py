"""``/readyz``: whether this process can serve now. The store must answer; Kafka must be reachable
and every consumer of ``sscard run`` within its lag bound (the views the queries read are kept by
them), and no live worker stalled. A load balancer sends no traffic to a process that is not
ready; ``/healthz`` only says the process lives."""

from __future__ import annotations

from application import operations
from application.results import Result
from application.status_results import ConsumerLag
from service.bootstrap import BackOffice

# Messages a consumer may be behind and its view still count as current enough to serve.
MAX_CONSUMER_LAG = 1000


class Readiness(Result):
    ready: bool
    store: str  # "ok", or why not
    head: int | None
    consumers: list[ConsumerLag]
    problems: list[str]


def readiness(backoffice: BackOffice) -> Readiness:
    try:
        found = operations.status_in(backoffice)
    except Exception as exc:  # the store did not answer: nothing else can be asked
        reason = f"the store did not answer ({type(exc).__name__})"
        return Readiness(ready=False, store=reason, head=None, consumers=[], problems=[reason])
    problems = list(found.notes)
    for consumer in found.consumers:
        if consumer.lag is not None and consumer.lag > MAX_CONSUMER_LAG:
            problems.append(f"consumer {consumer.view} is {consumer.lag} messages behind")
    problems += [
        f"worker {w.worker} is {w.state} and does no work" for w in found.workers if not w.healthy
    ]
    return Readiness(
        ready=not problems,
        store="ok",
        head=found.head,
        consumers=found.consumers,
        problems=problems,
    )
