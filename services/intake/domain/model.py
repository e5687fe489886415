"""What intake knows of callers and complaints, as plain values: the repository stores and reads
them, the service decides with them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.events import Complaint, ComplaintReceived
from shared.idempotency import IdempotencyKey


@dataclass(frozen=True)
class Caller:
    """Who is calling: a channel gateway or an operator, by their API key."""

    key_id: int
    kind: str  # "channel" or "operator"
    name: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class ApiKey:
    """A key as operators see it: never the key itself, which only its holder has."""

    key_id: int
    scope: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class RememberedKey:
    tracking_number: str
    fingerprint: str | None  # None: stored before fingerprints were kept


@dataclass(frozen=True)
class NewComplaint:
    """A complaint accepted now, with what is stored beside it."""

    received: ComplaintReceived
    access_token_hash: str | None
    submitted_by: Caller
    idempotency_key: IdempotencyKey | None


@dataclass(frozen=True)
class StoredComplaint:
    complaint_id: uuid.UUID
    tracking_number: str
    document: Complaint
    access_token_hash: str | None
    status: str
    agency_code: str | None


@dataclass(frozen=True)
class PublicEntry:
    """What a citizen's timeline shows of a later event; `changes_status`: `status` is the
    complaint's new status (not a mere note such as its mirroring)."""

    status: str
    note: str | None
    agency_code: str | None
    changes_status: bool


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: datetime
    status: str
    public_note: str | None
