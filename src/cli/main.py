"""``sscard``: the back office's command line. It parses, builds a command, calls the card office
and prints one line; every rule lives in the domain.

Exit codes: 0 done; 1 refused by the rules (or not found); 2 bad input; 3 infrastructure trouble.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import NoReturn

import psycopg
from eventsourcing.domain import EventSourcingError
from kafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cli import audit, cards, claims, help_texts, holders, operations, views
from domain.errors import DomainError, InvalidInput
from domain.values import QUOTE_LIMIT
from service.bootstrap import DATABASE_ERRORS, InfrastructureError
from service.metrics import count_refusal
from service.settings import ConfigurationError, Settings, load_settings

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3

Handler = Callable[[argparse.Namespace, Settings], int]


# Where the store or its files fail: named plainly, exit 3.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (InfrastructureError, *DATABASE_ERRORS)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line of reason (plus where to look), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_BAD_INPUT, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n"
        )


_QUOTED = re.compile(rf"'([^']{{{QUOTE_LIMIT}}})[^']+'")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_LIMIT = 400


def printable(message: str) -> str:
    """One line, safe for a terminal: control and bidi characters escaped, quoted input cut to
    ~40 characters (argparse quotes whatever was typed, however long)."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), message)
    text = _QUOTED.sub(lambda m: f"'{m.group(1)}…'", text)
    return text if len(text) <= _LINE_LIMIT else text[:_LINE_LIMIT] + "…"


# Development tools ship with the CLI but are imported only when asked for, by name: a clerk's
# command never loads the benchmarks, the demo or the local-server management (and import-linter
# keeps the runtime packages from importing them at all).
TOOLS: dict[str, tuple[str, str]] = {
    "infra": ("devinfra.commands", "the local Kafka broker and PostgreSQL server (development)"),
    "bench": ("bench.commands", "benchmarks, measured against a baseline in one run"),
    "demo": (
        "samples.commands",
        "drive one full replacement and one lapsed pre-report; print the histories",
    ),
}


def build_parser(
    argv: Sequence[str] | None = None, load_all_tools: bool = False
) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sscard",
        description=(
            "Back office for the loss reporting and replacement of social security cards. "
            "Configuration comes from the environment (see README: Configuration)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sscard {_version()}")
    parser.add_argument("--json", action="store_true", help="print recorded events as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cards.add_commands(commands)
    holders.add_commands(commands)
    claims.add_commands(commands)
    audit.add_commands(commands)
    operations.add_commands(commands)
    views.add_commands(commands)
    wanted = _first_command(argv)
    for name, (module, help_text) in TOOLS.items():
        group = commands.add_parser(name, help=help_text, description=help_text)
        if load_all_tools or name == wanted:
            importlib.import_module(module).add_actions(group)
    help_texts.document(parser)
    return parser


def _version() -> str:
    try:
        return metadata.version("sscard")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _first_command(argv: Sequence[str] | None) -> str | None:
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), None)


def one_line(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        return printable(f"invalid {where}: {first['msg']}")
    text = str(error).strip().splitlines()
    return printable(text[0] if text else type(error).__name__)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`sscard ... | head`): stop quietly, as other Unix tools do, and
        # point stdout at /dev/null so that the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # ended by SIGPIPE, as the shell reports it
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every failed reconnect (a storm during an outage); the relay reports each
    # outage once itself. -v shows the library's own account.
    logging.getLogger("kafka").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    handler: Handler = args.handler
    try:
        settings: Settings = load_settings()
        return handler(args, settings)
    except ConfigurationError as exc:
        print(f"sscard: configuration error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InvalidInput as exc:
        print(f"sscard: invalid input: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        print(f"sscard: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DomainError as exc:
        print(f"sscard: refused ({exc.code}): {one_line(exc)}", file=sys.stderr)
        # Refusals leave no event: counted here for the metrics (sscard status). Only a
        # command's: a query that finds nothing (an unknown card) refuses nothing.
        if getattr(args, "records", False):
            count_refusal(settings, exc.code)
        return EXIT_REFUSED
    except INFRASTRUCTURE_ERRORS as exc:
        print(f"sscard: infrastructure error: {one_line(exc)}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except BrokenPipeError:
        raise  # not the store's trouble: the reader of stdout went away (main)
    except (
        EventSourcingError,
        OSError,
        RuntimeError,
        KafkaError,
        SQLAlchemyError,
        psycopg.Error,
    ) as exc:
        print(f"sscard: infrastructure error: {one_line(exc)}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
