"""Options that several command groups take, written once so that they read the same."""

from __future__ import annotations

import argparse
from typing import Any


def choices(enum: Any) -> list[str]:
    """The values of an enum, for argparse's ``choices``."""
    return [member.value for member in enum]


def add_request_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        help="the client's id for this request (a UUID): a retry with the same id and the same "
        "options prints the first result and records nothing",
    )
