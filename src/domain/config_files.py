"""Registries the operator configures as JSON files (regions, outlets, designated hospitals):
one way to read them, so that every one of them names its file and the first wrong field the
same way, in one line, and a packaged default ships beside the code."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import InvalidInput


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
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "top level"
            raise InvalidInput(
                f"{cls.KIND} {source} is invalid at {where}: {first['msg']}"
            ) from exc
        except (json.JSONDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"{cls.KIND} {source} is invalid: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path) -> Self:
        return cls.from_json(path.read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def packaged(cls) -> Self:
        text = resources.files("domain").joinpath(cls.PACKAGED).read_text(encoding="utf-8")
        return cls.from_json(text, source=f"domain/{cls.PACKAGED}")
