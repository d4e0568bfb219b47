"""The harness's own journal: every command the back office acknowledged, one JSON line each.

Written by the workload as the answers come, read back by the invariant checks; it lives in the
run's folder, apart from the store it is checked against.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Acknowledged(BaseModel):
    """One acknowledged command: its request id, what it was, and the event the answer named
    (``recorded``: written by this request; ``already_recorded``: the fact was on record, so the
    request wrote nothing and left no record of its id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    command: str
    status: Literal["recorded", "already_recorded"]
    stream_id: str | None
    version: int | None


class Journal:
    """Append-only and flushed per line: a harness killed mid-run leaves what it acknowledged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def append(self, entry: Acknowledged) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(entry.model_dump_json() + "\n")

    def entries(self) -> list[Acknowledged]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Acknowledged.model_validate_json(line) for line in lines if line.strip()]
