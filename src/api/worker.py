"""The HTTP API as a worker of ``sscard run``: uvicorn in a thread of the supervisor, stopped
with the other workers (the stop event), restarted by the supervisor if it falls over."""

from __future__ import annotations

import threading

import uvicorn

from api.app import create_app
from service.settings import Settings
from service.supervisor import Worker

API_WORKER = "http-api"


def api_worker(settings: Settings, host: str, port: int) -> Worker:
    """A worker serving the API on ``host:port`` until the supervisor's stop event is set. The
    app (and its token verifier) is made now: a bad auth setting stops ``sscard run`` at once."""
    app = create_app(settings)

    def run(stop: threading.Event) -> None:
        # The access log is the API's own (api.middleware): by route, never by path.
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None)
        server = uvicorn.Server(config)

        def stop_when_asked() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=stop_when_asked, name=f"{API_WORKER}-stop", daemon=True).start()
        server.run()  # uvicorn listens for no signal off the main thread: the event stops it
        if not stop.is_set():
            raise RuntimeError(f"the HTTP API on {host}:{port} stopped serving")

    return Worker(API_WORKER, run)
