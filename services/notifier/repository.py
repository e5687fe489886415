"""The notifier's PostgreSQL adapter for complaints, assignments, the directory and API keys.
Every method runs on the caller's connection, inside the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.notifier.domain.directory import AgencyContacts
from services.notifier.domain.inbox import Transition
from services.notifier.domain.plan import PlannedDelivery
from shared.db import Connection
from shared.events import Complaint, ComplaintReceived, ComplaintRouted, ComplaintStatus, Event

# Delivery workers LISTEN here, so a new delivery goes out at once rather than at the next poll.
WAKE_CHANNEL = "notifier_deliveries"


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    complaint_id: uuid.UUID
    tracking_number: str
    routing_round: int
    agency_code: str
    previous_agency_code: str | None
    status: ComplaintStatus
    current: bool
    disposition_due: date
    followup_due: date
    routed_event_id: uuid.UUID
    correlation_id: uuid.UUID
    routed_at: datetime


@dataclass(frozen=True)
class ApiKey:
    name: str
    agency_code: str | None  # None: an operator of the hub

    @property
    def is_operator(self) -> bool:
        return self.agency_code is None


def hash_key(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


_ASSIGNMENT_COLUMNS = (
    "id, complaint_id, tracking_number, routing_round, agency_code, previous_agency_code, status,"
    " current, disposition_due, followup_due, routed_event_id, correlation_id, routed_at"
)


def _assignment(row: object) -> AssignmentRow:
    values = dict(row)  # type: ignore[call-overload]
    values["status"] = ComplaintStatus(values["status"])
    return AssignmentRow(**values)


class NotifierRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def first_time(self, event: Event) -> bool:
        """Record the event as handled; False when it was handled before (a redelivery)."""
        inserted = await self._db.fetchval(
            "INSERT INTO notifier.processed_events (event_id, event_type, complaint_id)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            event.event_id,
            event.event_type,
            event.complaint_id,
        )
        return bool(inserted)

    async def keep_complaints(self, received: Sequence[ComplaintReceived]) -> None:
        """Record the events as handled and keep their complaints, in one statement."""
        await self._db.execute(
            "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])"
            " AS i(event_id, complaint_id, tracking_number, document)),"
            " handled AS (INSERT INTO notifier.processed_events (event_id, event_type,"
            " complaint_id) SELECT event_id, 'ComplaintReceived', complaint_id FROM input"
            " ON CONFLICT DO NOTHING RETURNING event_id)"
            " INSERT INTO notifier.complaints (complaint_id, tracking_number, document)"
            " SELECT complaint_id, tracking_number, document::jsonb"
            " FROM input JOIN handled USING (event_id) ON CONFLICT DO NOTHING",
            [event.event_id for event in received],
            [event.complaint_id for event in received],
            [event.complaint.tracking_number for event in received],
            [event.complaint.model_dump_json() for event in received],
        )

    async def complaint(self, complaint_id: uuid.UUID) -> Complaint | None:
        document = await self._db.fetchval(
            "SELECT document FROM notifier.complaints WHERE complaint_id = $1", complaint_id
        )
        return None if document is None else Complaint.model_validate_json(document)

    async def save_assignment(self, routed: ComplaintRouted) -> None:
        """The new current assignment; the one before it (a re-route) is no longer current."""
        await self._db.execute(
            "UPDATE notifier.assignments SET current = false, updated_at = now()"
            " WHERE complaint_id = $1 AND current",
            routed.complaint_id,
        )
        await self._db.execute(
            "INSERT INTO notifier.assignments (complaint_id, tracking_number, routing_round,"
            " agency_code, previous_agency_code, disposition_due, followup_due,"
            " routed_event_id, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            routed.complaint_id,
            routed.tracking_number,
            routed.routing_round,
            routed.agency_code,
            routed.previous_agency_code,
            routed.disposition_due,
            routed.followup_due,
            routed.event_id,
            routed.correlation_id,
        )

    async def assignments_of(self, agency_code: str) -> list[AssignmentRow]:
        rows = await self._db.fetch(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM notifier.assignments"
            " WHERE agency_code = $1 AND current ORDER BY followup_due, id",
            agency_code,
        )
        return [_assignment(row) for row in rows]

    async def awaiting_follow_up(self, *, due_by: date) -> list[AssignmentRow]:
        """Current assignments not yet followed up whose deadline is `due_by` or earlier."""
        rows = await self._db.fetch(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM notifier.assignments"
            " WHERE current AND status IN ('routed', 'acknowledged') AND followup_due <= $1"
            " ORDER BY followup_due, id",
            due_by,
        )
        return [_assignment(row) for row in rows]

    async def current_assignment(
        self, tracking_number: str, agency_code: str | None, *, for_update: bool = False
    ) -> AssignmentRow | None:
        """The complaint's current assignment, if it is the agency's (any agency for None)."""
        row = await self._db.fetchrow(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM notifier.assignments"
            " WHERE tracking_number = $1 AND current AND ($2::text IS NULL OR agency_code = $2)"
            + (" FOR UPDATE" if for_update else ""),
            tracking_number,
            agency_code,
        )
        return None if row is None else _assignment(row)

    async def record_action(
        self, assignment: AssignmentRow, transition: Transition, key_name: str, event_id: uuid.UUID
    ) -> None:
        await self._db.execute(
            "UPDATE notifier.assignments SET status = $2, updated_at = now() WHERE id = $1",
            assignment.id,
            transition.status.value,
        )
        await self._db.execute(
            "INSERT INTO notifier.assignment_actions (assignment_id, action, previous_status,"
            " status, note, suggested_agency_code, key_name, event_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            assignment.id,
            transition.action.value,
            transition.previous.value,
            transition.status.value,
            transition.note,
            transition.suggested_agency_code,
            key_name,
            event_id,
        )

    async def contacts(self, agency_code: str) -> AgencyContacts | None:
        document = await self._db.fetchval(
            "SELECT contacts FROM notifier.agency_contacts WHERE agency_code = $1", agency_code
        )
        return None if document is None else AgencyContacts.model_validate_json(document)

    async def load_directory(self, directory: Iterable[AgencyContacts]) -> None:
        """The file's entries, except where an operator edited an agency through the API."""
        await self._db.executemany(
            "INSERT INTO notifier.agency_contacts (agency_code, contacts, source)"
            " VALUES ($1, $2, 'file') ON CONFLICT (agency_code) DO UPDATE"
            " SET contacts = excluded.contacts, updated_at = now()"
            " WHERE agency_contacts.source = 'file'",
            [(agency.code, agency.model_dump_json()) for agency in directory],
        )

    async def put_contacts(self, contacts: AgencyContacts) -> None:
        await self._db.execute(
            "INSERT INTO notifier.agency_contacts (agency_code, contacts, source)"
            " VALUES ($1, $2, 'api') ON CONFLICT (agency_code) DO UPDATE"
            " SET contacts = excluded.contacts, source = 'api', updated_at = now()",
            contacts.code,
            contacts.model_dump_json(),
        )

    async def enqueue_deliveries(
        self,
        planned: Iterable[PlannedDelivery],
        *,
        complaint_id: uuid.UUID,
        tracking_number: str,
        cause_event_id: uuid.UUID,
        correlation_id: uuid.UUID,
    ) -> int:
        """Queue the deliveries (a delivery already queued stays as it is), in one statement;
        how many are new."""
        planned = list(planned)
        row = await self._db.fetchrow(
            "WITH queued AS (INSERT INTO notifier.deliveries (delivery_id, notification_key,"
            " complaint_id, tracking_number, agency_code, kind, channel, target, payload,"
            " cause_event_id, correlation_id)"
            " SELECT delivery_id, notification_key, $3, $4, agency_code, kind, channel, target,"
            " payload::jsonb, $5, $6 FROM unnest($1::uuid[], $2::text[], $7::text[], $8::text[],"
            " $9::text[], $10::text[], $11::text[]) AS d(delivery_id, notification_key,"
            " agency_code, kind, channel, target, payload)"
            " ON CONFLICT DO NOTHING RETURNING 1),"
            " counted AS (SELECT count(*) AS n FROM queued)"
            f" SELECT n, CASE WHEN n > 0 THEN pg_notify('{WAKE_CHANNEL}', '') END FROM counted",
            [d.delivery_id for d in planned],
            [d.notification_key for d in planned],
            complaint_id,
            tracking_number,
            cause_event_id,
            correlation_id,
            [d.agency_code for d in planned],
            [d.kind for d in planned],
            [d.channel.value for d in planned],
            [d.target for d in planned],
            [json.dumps(d.payload, ensure_ascii=False) for d in planned],
        )
        assert row is not None
        return int(row["n"])

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries that exhausted their attempts, the oldest first."""
        rows = await self._db.fetch(
            "SELECT delivery_id, tracking_number, agency_code, kind, channel, target, attempts,"
            " last_error, created_at, next_attempt_at AS last_attempt_at"
            " FROM notifier.deliveries WHERE state = 'dead' ORDER BY created_at LIMIT $1",
            limit,
        )
        return [dict(row) for row in rows]

    async def retry_dead(self, delivery_id: uuid.UUID) -> bool:
        """Send a dead letter again, with a fresh set of attempts; False if it is not dead."""
        retried = await self._db.fetchval(
            "UPDATE notifier.deliveries SET state = 'pending', attempts = 0,"
            " next_attempt_at = now() WHERE delivery_id = $1 AND state = 'dead' RETURNING true",
            delivery_id,
        )
        if retried:
            await self._db.execute(f"SELECT pg_notify('{WAKE_CHANNEL}', '')")
        return bool(retried)

    async def api_key(self, key: str) -> ApiKey | None:
        row = await self._db.fetchrow(
            "SELECT name, agency_code FROM notifier.api_keys"
            " WHERE key_hash = $1 AND revoked_at IS NULL",
            hash_key(key),
        )
        return None if row is None else ApiKey(name=row["name"], agency_code=row["agency_code"])

    async def revoke_api_key(self, name: str) -> bool:
        revoked = await self._db.fetchval(
            "UPDATE notifier.api_keys SET revoked_at = now()"
            " WHERE name = $1 AND revoked_at IS NULL RETURNING true",
            name,
        )
        return bool(revoked)

    async def create_api_key(self, name: str, agency_code: str | None) -> str:
        """A new key; only its hash is stored, so this is the one time it is seen."""
        key = secrets.token_urlsafe(32)
        await self._db.execute(
            "INSERT INTO notifier.api_keys (key_hash, name, agency_code) VALUES ($1, $2, $3)",
            hash_key(key),
            name,
            agency_code,
        )
        return key
