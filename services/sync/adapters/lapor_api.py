"""The wire format of national SP4N-LAPOR!'s integration API, as far as it is known.

No public documentation exists (see the team's domain README): the routes and headers come from
an open-source integrator; the field names below are this project's best guess. The client and
the simulator share these models, so a correction is made once, here.

The API does not deduplicate. Every complaint lapor-hub creates carries its local tracking number
as a tag (`reference_tag`), so an ambiguous create can be looked up before it is retried.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

REFERENCE_TAG_PREFIX = "lapor-hub:"


def reference_tag(tracking_number: str) -> str:
    """The tag by which a mirrored complaint is found again nationally."""
    return f"{REFERENCE_TAG_PREFIX}{tracking_number}"


def tracking_number_in(tags: list[str]) -> str | None:
    """The local tracking number a complaint was tagged with, if lapor-hub created it."""
    for tag in tags:
        if tag.startswith(REFERENCE_TAG_PREFIX):
            return tag.removeprefix(REFERENCE_TAG_PREFIX)
    return None


class WireModel(BaseModel):
    # The national side may add fields at any time: ignore what we do not know.
    model_config = ConfigDict(extra="ignore")


class NationalStatus(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    FOLLOWED_UP = "followed_up"
    DONE = "done"
    ARCHIVED = "archived"


class Classification(StrEnum):
    COMPLAINT = "complaint"
    ASPIRATION = "aspiration"
    REQUEST_INFORMATION = "request_information"


class ComplaintDraft(WireModel):
    """Body of `POST /complaints/complaint`."""

    title: str = Field(min_length=1, max_length=300)
    content: str = Field(min_length=1, max_length=20_000)
    date_of_incident: date | None = None
    location: str | None = Field(default=None, max_length=500)
    category: str | None = Field(default=None, max_length=100)
    institution_id: int | None = None
    classification: Classification = Classification.COMPLAINT
    is_anonymous: bool = False
    is_secret: bool = False
    tags: list[str] = Field(default_factory=list, max_length=20)


class ComplaintCreated(WireModel):
    complaint_id: int
    tracking_id: str


class FollowupDraft(WireModel):
    """Body of `POST /complaints/followup/add`; `status` moves the complaint along with it."""

    complaint_id: int
    content: str = Field(min_length=1, max_length=20_000)
    status: NationalStatus | None = None


class FollowupAdded(WireModel):
    followup_id: int


class RejectRequest(WireModel):
    """Body of `POST /complaints/process/{id}/reject`; `not_authority: 1` forwards it."""

    not_authority: Literal[0, 1]
    institution_id: int | None = None
    reason: str = Field(min_length=1, max_length=2_000)


class Disposition(WireModel):
    institution_id: int
    institution_name: str


class LogEntry(WireModel):
    at: AwareDatetime
    action: str
    actor: str
    note: str | None = None


class ComplaintRecord(WireModel):
    """Answer of `GET /complaints/{id}/complaint` (and, without logs, of the list routes)."""

    complaint_id: int
    tracking_id: str
    title: str
    content: str
    status: NationalStatus
    disposition: Disposition | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    logs: list[LogEntry] = Field(default_factory=list)


class Followup(WireModel):
    followup_id: int
    complaint_id: int
    content: str
    actor: str
    status: NationalStatus | None = None
    created_at: AwareDatetime


class FollowupList(WireModel):
    followups: list[Followup]


class ActionLogEntry(LogEntry):
    """One entry of national's action log, across every complaint: `log_id` grows in the order
    national took the actions."""

    log_id: int
    complaint_id: int


class ActionLog(WireModel):
    """Answer of `GET /complaints/logs?after_id=N&limit=M`: the actions after `after_id`, in
    their order; pass `next_after_id` to read on (None: nothing more for now)."""

    logs: list[ActionLogEntry]
    next_after_id: int | None = None


class ComplaintList(WireModel):
    """Answer of `GET /complaints?tag=T`: the complaints carrying the tag (without logs)."""

    complaints: list[ComplaintRecord]


class Institution(WireModel):
    institution_id: int
    name: str


class InstitutionList(WireModel):
    institutions: list[Institution]
