"""What national admins did, as local events: pure translations of national records.

The national API logs who did what (each complaint's `logs`, and the action log of all of them
that the poller reads); entries by lapor-hub's own integration account are its own writes
coming back and are skipped, which (with the plan ignoring events whose source is national)
keeps the two sides from echoing each other. Who wrote an entry decides, never when a record
last changed: an admin's action followed by lapor-hub's own write is still the admin's. Event
ids are derived from the national record, so a change read twice yields the same event and
consumers absorb it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.sync.adapters.lapor_api import (
    ActionLogEntry,
    ComplaintRecord,
    LogEntry,
    NationalStatus,
)
from services.sync.domain.plan import PROVINCE_INSTITUTION
from shared.events import (
    Actor,
    ActorKind,
    Channel,
    Complaint,
    ComplaintReceived,
    ComplaintStatus,
    ComplaintStatusChanged,
)

INTEGRATION_ACTOR = "integration"
PRODUCER = "sync"
_NAMESPACE = uuid.UUID("5b0d8a4e-3f0c-4c53-9a55-1d6c2a7e9f10")

LOCAL_STATUS = {
    NationalStatus.UNVERIFIED: ComplaintStatus.RECEIVED,
    NationalStatus.VERIFIED: ComplaintStatus.ROUTED,
    NationalStatus.IN_PROGRESS: ComplaintStatus.ACKNOWLEDGED,
    NationalStatus.FOLLOWED_UP: ComplaintStatus.FOLLOWED_UP,
    NationalStatus.DONE: ComplaintStatus.RESOLVED,
    NationalStatus.ARCHIVED: ComplaintStatus.ARCHIVED,
}


def national_complaint_id(national_id: int) -> uuid.UUID:
    """The local id of a complaint filed nationally: the same every time it is seen."""
    return uuid.uuid5(_NAMESPACE, f"complaint:{national_id}")


def actions_by_others(logs: Sequence[LogEntry], seen_until: datetime | None) -> list[LogEntry]:
    """Log entries after `seen_until` that lapor-hub did not write itself, oldest first."""
    return sorted(
        (
            entry
            for entry in logs
            if entry.actor != INTEGRATION_ACTOR and (seen_until is None or entry.at > seen_until)
        ),
        key=lambda entry: entry.at,
    )


# The actions that can put a complaint filed nationally with the province.
_PLACING = frozenset({"created", "disposed", "forwarded"})


def others_actions_by_complaint(
    log: Sequence[ActionLogEntry],
) -> dict[int, list[ActionLogEntry]]:
    """A page of national's action log without lapor-hub's own writes, by national complaint
    id, each complaint's in the log's order."""
    found: dict[int, list[ActionLogEntry]] = {}
    for entry in log:
        if entry.actor != INTEGRATION_ACTOR:
            found.setdefault(entry.complaint_id, []).append(entry)
    return found


def may_place_with_province(entries: Sequence[LogEntry]) -> bool:
    """Whether actions on a complaint lapor-hub does not know could have put it with the
    province (then it is read); others (a status, a follow-up) cannot."""
    return any(entry.action in _PLACING for entry in entries)


def disposed_to_province(record: ComplaintRecord) -> bool:
    return (
        record.disposition is not None and record.disposition.institution_id == PROVINCE_INSTITUTION
    )


def status_change(
    record: ComplaintRecord,
    entry: LogEntry,
    *,
    complaint_id: uuid.UUID,
    tracking_number: str,
    correlation_id: uuid.UUID,
) -> ComplaintStatusChanged:
    """One national admin action. The log does not say which status each action set, so every
    action carries the complaint's national status as read now."""
    note = entry.note
    if entry.action in ("disposed", "forwarded") and record.disposition is not None:
        note = f"Disposisi nasional ke {record.disposition.institution_name}" + (
            f": {note}" if note else ""
        )
    return ComplaintStatusChanged(
        event_id=uuid.uuid5(
            _NAMESPACE, f"{record.complaint_id}:{entry.at.isoformat()}:{entry.action}"
        ),
        complaint_id=complaint_id,
        correlation_id=correlation_id,
        producer=PRODUCER,
        tracking_number=tracking_number,
        status=LOCAL_STATUS[record.status],
        actor=Actor(kind=ActorKind.NATIONAL, id=entry.actor),
        source="national",
        note=note[:20_000] if note else None,
        occurred_at=entry.at,
    )


def received_from_national(record: ComplaintRecord) -> ComplaintReceived:
    """A complaint national disposed to the province, as it enters lapor-hub (once: its ids are
    derived from the national id)."""
    complaint_id = national_complaint_id(record.complaint_id)
    event_id = uuid.uuid5(_NAMESPACE, f"received:{record.complaint_id}")
    complaint = Complaint(
        complaint_id=complaint_id,
        tracking_number=record.tracking_id,
        channel=Channel.LAPOR_NATIONAL,
        received_at=record.created_at,
        title=record.title[:300],
        body=record.content[:20_000],
    )
    return ComplaintReceived(
        event_id=event_id,
        complaint_id=complaint_id,
        correlation_id=event_id,
        producer=PRODUCER,
        complaint=complaint,
        occurred_at=record.updated_at,
    )
