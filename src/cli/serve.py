"""``sscard serve``: the HTTP API (``src/api/``) on uvicorn, alone (no relay, no consumers).

The web framework, the server and the store's packages are loaded when the command runs, never
while the parser is built: ``sscard --help`` stays light.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from domain.errors import InvalidInput
from service.settings import Settings


def add_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API (bearer tokens; OpenAPI at /openapi.json)",
        description="Serve the HTTP API until interrupted. Several processes may serve one "
        "PostgreSQL store behind a load balancer: none keeps state another needs.",
    )
    serve.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port {args.port}: a TCP port is 1 to 65535")
    import uvicorn

    from api.app import create_app

    _json_access_log()
    from service.bootstrap import check_store

    app = create_app(settings)  # a bad auth setting stops here (exit 2), before listening
    # A store that does not answer is one line and exit 3 now, as for every command; found
    # only when the app starts serving, uvicorn would log it as a traceback and exit.
    check_store(settings)
    # The access log is the API's own (api.middleware): by route, never by path, which may
    # carry a resident ID number; uvicorn's would log the path.
    _sigterm_is_a_clean_stop()
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


def _sigterm_is_a_clean_stop() -> None:
    """An operator's SIGTERM (systemd's stop, a rolling restart) ends ``serve`` with exit 0, as
    it ends ``sscard run``. uvicorn shuts down gracefully, restores the handler it found and
    raises the signal again: with this handler found, that raise is a clean exit, where the
    default action would end the process as killed by the signal."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))


def _json_access_log() -> None:
    """One JSON object per request on stderr, as it is (a log shipper parses it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("sscard.api.access")
    access.handlers = [handler]
    access.setLevel(logging.INFO)
    access.propagate = False
