"""The long-running entry points, composed: ``sscard run`` (relay, lapse scheduler, audit chain,
event counts, read model consumers, metrics), ``relay run`` and ``consumers run``.

Each builds its workers, hands them to the supervisor and waits for SIGTERM or Ctrl-C; the
process then ends with the supervisor's exit code (the command line only calls these).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from projections.catalogue import VIEW_NAMES
from service.bootstrap import view_store
from service.kafka_wiring import topics_first
from service.metrics import serve_metrics
from service.settings import Settings
from service.supervisor import Supervisor, Worker
from service.views import view_workers
from service.workers import back_office_workers, relay_worker, store_description
from tracking.store_identity import ViewStoreWatch

log = logging.getLogger("sscard")


def run_back_office(
    settings: Settings, relay: bool = True, views: bool = True, extra: Sequence[Worker] = ()
) -> NoReturn:
    """Every worker of the back office (less the relay or the consumers if asked), the
    Prometheus endpoint (SSCARD_METRICS_PORT), and ``extra`` workers an entry point composed
    (the HTTP API), until SIGTERM."""
    gate = topics_first(settings)
    workers = back_office_workers(settings, relay=relay, gate=gate)
    if views:
        workers += view_workers(settings, gate=gate)
    workers += extra
    log.info("lapse check every %.0f s", settings.lapse_check_seconds)
    serve_metrics(settings)
    supervise(workers, settings, "back office")


def run_relay(settings: Settings) -> NoReturn:
    supervise([relay_worker(settings, topics_first(settings))], settings, "relay")


def run_consumers(settings: Settings, names: Sequence[str] = ()) -> NoReturn:
    """The read models' consumers (``names``: only these; default all)."""
    chosen = list(names) or list(VIEW_NAMES)
    workers = view_workers(settings, chosen, topics_first(settings))
    supervise(workers, settings, "read model consumers")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        log.info("received %s: finishing the current step, then stopping", name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def supervise(workers: list[Worker], settings: Settings, what: str) -> NoReturn:
    stop = _stop_on_signals()
    log.info(
        "%s running on %s; Kafka %s", what, store_description(settings), settings.bootstrap_servers
    )
    watch = _view_store_watch(settings)
    try:
        outcome = Supervisor(workers, guard=watch).run(stop)
    finally:
        if watch is not None:
            watch.close()
    if outcome.abandoned:
        # Their batch is unrecorded, so it is sent again on the next start: leaving is safe,
        # and a stop must not wait on a broker or a database that does not answer.
        log.warning("%s still busy after the stop grace; leaving", ", ".join(outcome.abandoned))
    else:
        log.info("stopped")
    # Every worker has closed its connections (or was abandoned, see above). Tearing the
    # interpreter down takes a second more on a busy machine; a stop is promised within two.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(outcome.exit_code)


def _view_store_watch(settings: Settings) -> ViewStoreWatch | None:
    """A SQLite view store deleted or replaced under the workers is found and put back
    (``tracking.store_identity``); a PostgreSQL schema has no such file."""
    if settings.uses_postgres:
        return None
    store = view_store(settings)
    try:
        store.create()  # the store and its identity row, if this is its first start
    finally:
        store.close()
    watch = ViewStoreWatch(settings.views_sqlite_path)
    watch.open()
    return watch
