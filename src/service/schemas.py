"""The event payloads as JSON Schema: the public contract other systems code against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain.cardholder.events import CARDHOLDER_EVENTS
from domain.event import DomainEvent, current_schema_version


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:sscard:event:{cls.__name__}:v{current_schema_version(cls)}"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def export_event_schemas(directory: Path) -> list[Path]:
    """Write one ``<Event>.schema.json`` per event; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in CARDHOLDER_EVENTS:
        path = directory / f"{cls.__name__}.schema.json"
        text = json.dumps(event_schema(cls), indent=2, ensure_ascii=False, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written
