"""Options that several command groups take, written once so that they read the same."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from domain.values import quote


def choices(enum: Any) -> list[str]:
    """The values of an enum, for argparse's ``choices``."""
    return [member.value for member in enum]


def add_request_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        help="the client's id for this request (a UUID): a retry with the same id and the same "
        "options prints the first result and records nothing",
    )


def output_file(text: str) -> Path:
    """An argparse type for a file to write: its folder must exist and it must not be a folder
    itself. A mistyped path is bad input (exit 2), named before anything is read or written."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{quote(text)} is a directory, not a file to write")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the directory of {quote(text)} does not exist")
    return path
