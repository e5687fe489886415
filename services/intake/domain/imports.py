"""Complaints collected by hand (the outage backlog) imported from CSV or JSON lines.

Each row is validated on its own: good rows go in, bad ones are reported with their line number
and reasons. A row's identity is its `source_id` when the file has one, else a hash of its
content, so importing the same file twice creates nothing new.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from shared.events import Channel, ComplaintContent

IMPORT_CHANNELS = (Channel.PAPER, Channel.WALK_IN, Channel.SOCIAL_MEDIA)
# Rows one import may hold (a day's backlog of a big desk is a few hundred): a file over it is
# refused whole, before anything is stored, and is imported in parts.
MAX_IMPORT_ROWS = 5_000
FLAT_COLUMNS = {
    "location": ("location", "text"),
    "region_code": ("location", "region_code"),
    "district_code": ("location", "district_code"),
    "reporter_name": ("reporter", "name"),
    "reporter_phone": ("reporter", "phone"),
    "reporter_email": ("reporter", "email"),
}


def _collected_by_hand(channel: Channel) -> Channel:
    if channel not in IMPORT_CHANNELS:
        allowed = ", ".join(c.value for c in IMPORT_CHANNELS)
        raise ValueError(f"a complaint typed in by hand comes from one of: {allowed}")
    return channel


# The channels of complaints an operator types in or imports: walk-in, paper, social media.
HandCollectedChannel = Annotated[Channel, AfterValidator(_collected_by_hand)]


class ImportedComplaint(BaseModel):
    model_config = ConfigDict(frozen=True)

    content: ComplaintContent
    channel: HandCollectedChannel = Channel.PAPER
    received_at: AwareDatetime | None = Field(
        default=None, description="When the citizen handed it in, if before the import"
    )


class UnreadableImportError(ValueError):
    """A file that cannot be read as rows at all (not UTF-8, a CSV the csv module gives up on):
    refused whole, naming the line."""


class TooManyRowsError(ValueError):
    def __init__(self) -> None:
        super().__init__(
            f"Terlalu banyak baris, bagi berkasnya / more than {MAX_IMPORT_ROWS} rows:"
            " split the file"
        )


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str


@dataclass(frozen=True)
class ImportRow:
    line: int
    complaint: ImportedComplaint


def parse_import(data: bytes, filename: str = "") -> tuple[list[ImportRow], list[RowProblem]]:
    """Every row of a CSV (header line first) or JSON-lines file, validated one by one;
    TooManyRowsError over MAX_IMPORT_ROWS, UnreadableImportError for a file that is not UTF-8
    or a CSV the csv module cannot read (a cell over its field size limit)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UnreadableImportError(
            f"Bukan UTF-8 di baris {line} / not UTF-8 at line {line}: save the file as UTF-8"
        ) from None
    is_jsonl = filename.endswith((".jsonl", ".ndjson")) or text.lstrip().startswith("{")
    rows: list[ImportRow] = []
    problems: list[RowProblem] = []
    for count, (line, raw) in enumerate(_jsonl_rows(text) if is_jsonl else _csv_rows(text)):
        if count == MAX_IMPORT_ROWS:
            raise TooManyRowsError
        if isinstance(raw, RowProblem):
            problems.append(raw)
            continue
        try:
            rows.append(ImportRow(line, _imported(raw)))
        except ValidationError as error:
            problems.extend(
                RowProblem(line, ".".join(str(p) for p in e["loc"]), e["msg"])
                for e in error.errors()
            )
    return rows, problems


def _imported(raw: dict[str, Any]) -> ImportedComplaint:
    source_id = raw.pop("source_id", None) or None
    channel = raw.pop("channel", None) or Channel.PAPER
    received_at = raw.pop("received_at", None) or None
    if channel not in IMPORT_CHANNELS:
        raise ValidationError.from_exception_data(
            "ImportedComplaint",
            [
                {
                    "type": "enum",
                    "loc": ("channel",),
                    "input": channel,
                    "ctx": {"expected": ", ".join(c.value for c in IMPORT_CHANNELS)},
                }
            ],
        )
    content = ComplaintContent.model_validate(raw)
    identity = source_id or hashlib.sha256(content.model_dump_json().encode()).hexdigest()[:32]
    return ImportedComplaint(
        content=content.model_copy(update={"channel_message_id": f"import:{identity}"}),
        channel=channel,
        received_at=received_at,
    )


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any] | RowProblem]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_records(reader)
    except csv.Error as error:  # its state after an error is no longer a row's
        line = reader.line_num + 1  # the line it failed on is not counted yet
        raise UnreadableImportError(
            f"CSV tidak terbaca di baris {line} / unreadable CSV at line {line}: {error}"
        ) from None


def _csv_records(reader: csv.DictReader[str]) -> list[tuple[int, dict[str, Any] | RowProblem]]:
    rows: list[tuple[int, dict[str, Any] | RowProblem]] = []
    for record in reader:
        line = reader.line_num
        nested: dict[str, Any] = {}
        for column, cell in record.items():
            if column is None:
                rows.append((line, RowProblem(line, "-", "more values than columns")))
                break
            value = (cell or "").strip() if isinstance(cell, str) else ""
            if not value:
                continue
            if column in FLAT_COLUMNS:
                group, key = FLAT_COLUMNS[column]
                nested.setdefault(group, {})[key] = value
            elif column in {"anonymous", "confidential"}:
                nested[column] = value.lower() in {"1", "true", "ya", "yes", "y"}
            else:
                nested[column] = value
        else:
            rows.append((line, nested))
    return rows


def _jsonl_rows(text: str) -> list[tuple[int, dict[str, Any] | RowProblem]]:
    rows: list[tuple[int, dict[str, Any] | RowProblem]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            rows.append((line, RowProblem(line, "-", f"not JSON: {error.msg}")))
            continue
        except RecursionError:
            rows.append((line, RowProblem(line, "-", "not a complaint: nested too deeply")))
            continue
        if not isinstance(value, dict):
            rows.append((line, RowProblem(line, "-", "a line must be a JSON object")))
            continue
        rows.append((line, value))
    return rows


def imported_at(row: ImportedComplaint, now: datetime) -> datetime:
    """When the complaint counts as received: when handed in, never in the future."""
    return min(row.received_at, now) if row.received_at else now
