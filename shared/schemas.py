"""JSON Schema export of every event, so non-Python consumers can validate what they read."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import EVENT_TYPES, Event

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


def schema_file_name(event_type: type[Event]) -> str:
    fields = event_type.model_fields
    return f"{fields['event_type'].default}.v{fields['schema_version'].default}.schema.json"


def render_schemas() -> dict[str, str]:
    """File name → JSON text of each event's schema, exactly as committed."""
    rendered = {}
    for event_type in EVENT_TYPES:
        schema = event_type.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://lapor-hub.kalselprov.go.id/schemas/{schema_file_name(event_type)}"
        rendered[schema_file_name(event_type)] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return rendered


def stale_schemas(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Files that differ from what the models say now, or are missing, or are left over."""
    rendered = render_schemas()
    present = {p.name for p in directory.glob("*.schema.json")}
    differing = [
        name
        for name, text in rendered.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    return sorted(differing + list(present - rendered.keys()))


def write_schemas(directory: Path = SCHEMAS_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for leftover in {p.name for p in directory.glob("*.schema.json")} - rendered.keys():
        (directory / leftover).unlink()
    for name, text in rendered.items():
        (directory / name).write_text(text)
    return sorted(rendered)
