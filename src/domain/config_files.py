"""Registries the operator configures as JSON files (regions, outlets, designated hospitals):
one way to read them, so that every one of them names its file and the first wrong field the
same way, in one line, and a packaged default ships beside the code."""

from __future__ import annotations

import json
import os
import stat
from importlib import resources
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import InvalidInput, first_problem

# A registry is a few hundred kilobytes at most: far more is not one (or not a file at all).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


def read_config_text(path: Path, kind: str) -> str:
    """The text of an operator's configuration file, refused in one line (``InvalidInput``)
    when it is not a regular file (a FIFO, ``/dev/zero``: never waited on or read whole), is
    larger than ``MAX_CONFIG_BYTES``, or is not UTF-8. ``OSError`` when it cannot be opened."""
    # O_NONBLOCK: opening a FIFO nobody writes to must not hang; a regular file reads the same.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(f"{kind} {path} is not a regular file")
        data = file.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidInput(f"{kind} {path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{kind} {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


class ConfigFile(BaseModel):
    """A registry read from JSON. ``KIND`` names it in messages ("outlet file"); ``PACKAGED``
    is its default file in the ``domain`` package."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str]
    PACKAGED: ClassVar[str]

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> Self:
        try:
            return cls.model_validate(json.loads(text))
        except ValidationError as exc:
            where, what = first_problem(exc, "top level")
            raise InvalidInput(f"{cls.KIND} {source} is invalid at {where}: {what}") from exc
        except (json.JSONDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"{cls.KIND} {source} is invalid: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path) -> Self:
        return cls.from_json(read_config_text(path, cls.KIND), source=str(path))

    @classmethod
    def packaged(cls) -> Self:
        text = resources.files("domain").joinpath(cls.PACKAGED).read_text(encoding="utf-8")
        return cls.from_json(text, source=f"domain/{cls.PACKAGED}")
