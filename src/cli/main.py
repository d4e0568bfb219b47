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
import sqlite3
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import NoReturn

from pydantic import ValidationError

from application.results import Refusal
from cli import audit, cards, claims, help_texts, holders, operations, views
from domain.errors import ConfigurationError, DomainError, InvalidInput, first_problem
from domain.values import QUOTE_LIMIT
from service.settings import Settings, load_settings

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3

Handler = Callable[[argparse.Namespace, Settings], int]


def infrastructure_errors() -> tuple[type[Exception], ...]:
    """What the CLI reports as infrastructure trouble (exit 3): the store, its files, the broker.

    Only a package the command has loaded can have raised its errors, so only loaded packages
    are asked: ``--help`` and ``--version`` stay free of the database and Kafka clients."""
    found: list[type[Exception]] = [OSError, RuntimeError, sqlite3.DatabaseError]
    for module, name in _INFRASTRUCTURE_ERROR_CLASSES:
        if module.partition(".")[0] in sys.modules:
            found.append(getattr(importlib.import_module(module), name))
    return tuple(found)


_INFRASTRUCTURE_ERROR_CLASSES = (
    ("eventsourcing.domain", "EventSourcingError"),
    ("kafka.errors", "KafkaError"),
    ("sqlalchemy.exc", "SQLAlchemyError"),
    ("psycopg", "Error"),
)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line of reason (plus where to look), not a usage dump."""

    # Set by build_parser when the command line asks for JSON: a bad argument then answers as
    # one JSON object on stdout too.
    json_wanted = False

    def error(self, message: str) -> NoReturn:
        line = f"{printable(message)} (see {self.prog} --help)"
        if OneLineParser.json_wanted:
            refusal = Refusal(status="invalid", code="invalid_arguments", message=line)
            print(refusal.json_line())
            self.exit(EXIT_BAD_INPUT)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {line}\n")


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
    "chaos": (
        "chaos.commands",
        "the back office under a seeded schedule of faults; every invariant checked after",
    ),
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
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON: one object (a history: one per line), a refusal too",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cards.add_commands(commands)
    holders.add_commands(commands)
    claims.add_commands(commands)
    audit.add_commands(commands)
    operations.add_commands(commands)
    views.add_commands(commands)
    importlib.import_module("cli.tokens").add_commands(commands)
    importlib.import_module("cli.serve").add_commands(commands)
    OneLineParser.json_wanted = "--json" in (sys.argv[1:] if argv is None else argv)
    wanted = _first_command(argv)
    for name, (module, help_text) in TOOLS.items():
        group = commands.add_parser(name, help=help_text, description=help_text)
        if load_all_tools or name == wanted:
            importlib.import_module(module).add_actions(group)
    help_texts.document(parser)
    for _, leaf, _ in help_texts.leaves(parser):
        _accept_json_after(leaf)
    return parser


def _accept_json_after(parser: argparse.ArgumentParser) -> None:
    """``--json`` is accepted after the command as well as before it; SUPPRESS keeps the
    global flag's value when it is not repeated here."""
    if any("--json" in action.option_strings for action in parser._actions):
        return
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON"
    )


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
        where, what = first_problem(error, "input")
        return printable(f"invalid {where}: {what}")
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
    settings: Settings | None = None
    try:
        settings = load_settings()
        return handler(args, settings)
    except ConfigurationError as exc:
        return _fail(
            args, "invalid", "configuration_error", f"configuration error: {one_line(exc)}"
        )
    except InvalidInput as exc:
        return _fail(args, "invalid", exc.code, f"invalid input: {one_line(exc)}")
    except ValidationError as exc:
        return _fail(args, "invalid", "invalid_input", one_line(exc))
    except DomainError as exc:
        # Refusals leave no event: counted here for the metrics (sscard status). Only a
        # command's: a query that finds nothing (an unknown card) refuses nothing.
        if getattr(args, "records", False) and settings is not None:
            from service.metrics import count_refusal

            count_refusal(settings, exc.code)
        return _fail(args, "refused", exc.code, f"refused ({exc.code}): {one_line(exc)}")
    except BrokenPipeError:
        raise  # not the store's trouble: the reader of stdout went away (main)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if isinstance(exc, infrastructure_errors()):
            return _fail(args, "error", "infrastructure", f"infrastructure error: {one_line(exc)}")
        raise


_EXIT_CODES = {"refused": EXIT_REFUSED, "invalid": EXIT_BAD_INPUT, "error": EXIT_INFRASTRUCTURE}


def _fail(args: argparse.Namespace, status: str, code: str, line: str) -> int:
    """A command not carried out: one line on stderr, or under ``--json`` one object on stdout
    (``status``, ``code``, ``message``). The exit code is the same either way."""
    if getattr(args, "json", False):
        message = line.partition(": ")[2] if status == "refused" else line
        print(
            Refusal.model_validate({"status": status, "code": code, "message": message}).json_line()
        )
    else:
        print(f"sscard: {line}", file=sys.stderr)
    return _EXIT_CODES[status]


if __name__ == "__main__":
    raise SystemExit(main())
