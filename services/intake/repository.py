"""Intake's PostgreSQL adapter: the `intake` schema, behind methods named for what they mean."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from services.intake.domain.attachments import CleanAttachment, StoredAttachment
from services.intake.domain.model import (
    ApiKey,
    Caller,
    NewComplaint,
    PublicEntry,
    RememberedKey,
    StoredComplaint,
    TimelineEntry,
)
from shared.api_keys import hash_api_key
from shared.db import Connection
from shared.events import (
    AgencyNotified,
    Channel,
    Complaint,
    ComplaintRouted,
    Event,
    read_stored,
)
from shared.idempotency import IdempotencyKey
from shared.outbox import enqueue_all

SCHEMA = "intake"


class IntakeRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def caller(self, key: str) -> Caller | None:
        row = await self._db.fetchrow(
            "SELECT id, scope_kind, scope_name FROM intake.api_keys"
            " WHERE key_hash = $1 AND revoked_at IS NULL",
            hash_api_key(key),
        )
        return Caller(row["id"], row["scope_kind"], row["scope_name"]) if row else None

    async def add_key(self, key: str, kind: str, name: str) -> None:
        await self._db.execute(
            "INSERT INTO intake.api_keys (key_hash, scope_kind, scope_name) VALUES ($1, $2, $3)",
            hash_api_key(key),
            kind,
            name,
        )

    async def keys(self) -> list[ApiKey]:
        rows = await self._db.fetch(
            "SELECT id, scope_kind, scope_name, created_at, revoked_at FROM intake.api_keys"
            " ORDER BY id"
        )
        return [
            ApiKey(
                r["id"], f"{r['scope_kind']}:{r['scope_name']}", r["created_at"], r["revoked_at"]
            )
            for r in rows
        ]

    async def revoke_key(self, key_id: int) -> bool:
        """False if there is no such key or it was revoked before."""
        revoked = await self._db.fetchval(
            "UPDATE intake.api_keys SET revoked_at = now()"
            " WHERE id = $1 AND revoked_at IS NULL RETURNING id",
            key_id,
        )
        return revoked is not None

    async def idempotency_key(self, caller: Caller, key: str) -> RememberedKey | None:
        row = await self._db.fetchrow(
            "SELECT tracking_number, request_fingerprint FROM intake.idempotency_keys"
            " WHERE api_key_id = $1 AND idempotency_key = $2",
            caller.key_id,
            key,
        )
        return RememberedKey(row["tracking_number"], row["request_fingerprint"]) if row else None

    async def remember_idempotency_key(
        self, caller: Caller, key: IdempotencyKey, tracking: str
    ) -> None:
        await self._db.execute(
            "INSERT INTO intake.idempotency_keys"
            " (api_key_id, idempotency_key, request_fingerprint, tracking_number)"
            " VALUES ($1, $2, $3, $4)",
            caller.key_id,
            key.key,
            key.fingerprint,
            tracking,
        )

    async def by_channel_message(
        self, channel: Channel, message_id: str, submitted_by: str
    ) -> StoredComplaint | None:
        """The complaint of that caller's message (ids are the caller's, not the channel's)."""
        row = await self._db.fetchrow(
            "SELECT * FROM intake.complaints"
            " WHERE channel = $1 AND channel_message_id = $2 AND submitted_by = $3",
            channel.value,
            message_id,
            submitted_by,
        )
        return _stored(row) if row else None

    async def reply_already_added(self, channel: Channel, message_id: str) -> str | None:
        tracking: str | None = await self._db.fetchval(
            "SELECT c.tracking_number FROM intake.replies r JOIN intake.complaints c"
            " USING (complaint_id) WHERE r.channel = $1 AND r.channel_message_id = $2",
            channel.value,
            message_id,
        )
        return tracking

    async def add_reply(
        self, channel: Channel, message_id: str, complaint_id: uuid.UUID, event_id: uuid.UUID
    ) -> None:
        await self._db.execute(
            "INSERT INTO intake.replies (channel, channel_message_id, complaint_id, event_id)"
            " VALUES ($1, $2, $3, $4)",
            channel.value,
            message_id,
            complaint_id,
            event_id,
        )

    async def by_tracking_number(self, tracking_number: str) -> StoredComplaint | None:
        row = await self._db.fetchrow(
            "SELECT * FROM intake.complaints WHERE tracking_number = $1", tracking_number
        )
        return _stored(row) if row else None

    async def add(
        self, complaint: Complaint, access_token_hash: str | None, submitted_by: str
    ) -> None:
        """A complaint that entered elsewhere (its event is already on Kafka); idempotent."""
        await self._db.execute(
            f"WITH {_ADD_COMPLAINTS} SELECT 1",
            *_complaint_columns([(complaint, access_token_hash, submitted_by)]),
        )

    async def add_received(self, accepted: Sequence[NewComplaint], topic: str) -> None:
        """New complaints, their idempotency keys and their events, in one statement: one round
        trip, atomic without a transaction. A duplicate channel message id or idempotency key (a
        racing retry) raises UniqueViolationError and stores none of them."""
        await enqueue_all(
            self._db,
            SCHEMA,
            [new.received for new in accepted],
            topic,
            along=f"{_ADD_COMPLAINTS}, {_REMEMBER_KEYS}",
            along_args=(
                *_complaint_columns(
                    [
                        (new.received.complaint, new.access_token_hash, new.submitted_by.label)
                        for new in accepted
                    ]
                ),
                [new.submitted_by.key_id for new in accepted],
                [new.idempotency_key.key if new.idempotency_key else None for new in accepted],
                [
                    new.idempotency_key.fingerprint if new.idempotency_key else None
                    for new in accepted
                ],
            ),
        )

    async def record_later_events(self, events: Sequence[tuple[Event, PublicEntry | None]]) -> None:
        """Keep each event for the operator console with the complaint's progress it reveals, and
        its public entry (if any) in the citizen's timeline with the complaint's new status and
        agency: one statement for all, atomic without a transaction. Idempotent per event: a
        redelivered event is already kept and changes nothing. Events of complaints intake never
        saw (none should exist) are passed over. The events must be of different complaints: a
        statement changes a complaint's rows once."""
        await self._db.execute(_RECORD_LATER_EVENTS, *later_event_columns(events))

    async def add_attachments(
        self, attachments: Sequence[CleanAttachment], *, private: bool
    ) -> None:
        """Content-addressed: one already stored stays, private only while every complaint
        that names it is confidential."""
        await self._db.execute(
            "INSERT INTO intake.attachments (sha256, content_type, size_bytes, content, private)"
            " SELECT *, $5::boolean FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[])"
            " ON CONFLICT (sha256) DO UPDATE"
            " SET private = intake.attachments.private AND EXCLUDED.private",
            [a.sha256 for a in attachments],
            [a.content_type for a in attachments],
            [len(a.content) for a in attachments],
            [a.content for a in attachments],
            private,
        )

    async def attachment(self, sha256: str) -> StoredAttachment | None:
        row = await self._db.fetchrow(
            "SELECT content_type, content, private FROM intake.attachments WHERE sha256 = $1",
            sha256,
        )
        return None if row is None else StoredAttachment(**row)

    async def deadlines(self, complaint_id: uuid.UUID) -> tuple[date, date] | None:
        row = await self._db.fetchrow(
            "SELECT disposition_due, followup_due FROM intake.complaint_progress"
            " WHERE complaint_id = $1 AND followup_due IS NOT NULL",
            complaint_id,
        )
        return None if row is None else (row["disposition_due"], row["followup_due"])

    async def timeline(self, complaint_id: uuid.UUID) -> list[TimelineEntry]:
        rows = await self._db.fetch(
            "SELECT occurred_at, status, public_note FROM intake.timeline"
            " WHERE complaint_id = $1 ORDER BY occurred_at, event_id",
            complaint_id,
        )
        return [TimelineEntry(r["occurred_at"], r["status"], r["public_note"]) for r in rows]


_ADD_COMPLAINTS = (
    "added_complaint AS (INSERT INTO intake.complaints (complaint_id, tracking_number, channel,"
    " channel_message_id, document, access_token_hash, confidential, received_at, submitted_by)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[],"
    " $6::text[], $7::bool[], $8::timestamptz[], $9::text[])"
    " ON CONFLICT (complaint_id) DO NOTHING)"
)
# Follows _ADD_COMPLAINTS's parameters: $10 the callers' key ids, $11 their keys (none: no row),
# $12 the requests' fingerprints.
_REMEMBER_KEYS = (
    "remembered_key AS (INSERT INTO intake.idempotency_keys"
    " (api_key_id, idempotency_key, request_fingerprint, tracking_number)"
    " SELECT * FROM unnest($10::bigint[], $11::text[], $12::text[], $2::text[]) AS k(api_key_id,"
    " idempotency_key, request_fingerprint, tracking_number) WHERE k.idempotency_key IS NOT NULL)"
)


# Each event's columns (see `later_event_columns`), of complaints intake knows. The progress is
# changed by an event's first delivery only (its operator timeline row is new): a new assignment
# is to be notified afresh and ends a pending override; a notification counts for the agency
# assigned; the first mirroring is kept. The public entry is written by its own first delivery,
# with the complaint's status (`changes_status`) and agency. The arrays are unnested behind a
# fence (a materialized CTE) so that no plan depends on their length: otherwise PostgreSQL plans
# every call afresh for the length it is given (costlier than running it for one event: README,
# Figures) instead of keeping one generic plan.
_RECORD_LATER_EVENTS = (
    "WITH arrays AS MATERIALIZED (SELECT $1::uuid[] AS a1, $2::uuid[] AS a2,"
    " $3::timestamptz[] AS a3, $4::text[] AS a4, $5::text[] AS a5, $6::text[] AS a6,"
    " $7::text[] AS a7, $8::text[] AS a8, $9::bool[] AS a9, $10::text[] AS a10,"
    " $11::date[] AS a11, $12::date[] AS a12),"
    " input AS (SELECT i.* FROM arrays,"
    " unnest(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) AS i(event_id, complaint_id,"
    " occurred_at, event_type, payload, status, public_note, public_agency_code, changes_status,"
    " agency_code, disposition_due, followup_due)"
    " WHERE EXISTS (SELECT 1 FROM intake.complaints c WHERE c.complaint_id = i.complaint_id)),"
    " for_operators AS (INSERT INTO intake.operator_timeline"
    " (event_id, complaint_id, occurred_at, event_type, payload)"
    " SELECT event_id, complaint_id, occurred_at, event_type, payload::jsonb FROM input"
    " ON CONFLICT DO NOTHING RETURNING event_id),"
    " first_delivered AS (SELECT input.* FROM input JOIN for_operators USING (event_id)),"
    " routed AS (INSERT INTO intake.complaint_progress AS p"
    " (complaint_id, agency_code, routed_at, disposition_due, followup_due)"
    " SELECT complaint_id, agency_code, occurred_at, disposition_due, followup_due"
    " FROM first_delivered WHERE event_type = 'ComplaintRouted'"
    " ON CONFLICT (complaint_id) DO UPDATE SET agency_code = EXCLUDED.agency_code,"
    " routed_at = EXCLUDED.routed_at, disposition_due = EXCLUDED.disposition_due,"
    " followup_due = EXCLUDED.followup_due, notified_at = NULL, override_agency_code = NULL,"
    " override_requested_at = NULL),"
    " notified AS (INSERT INTO intake.complaint_progress AS p"
    " (complaint_id, agency_code, notified_at)"
    " SELECT complaint_id, agency_code, occurred_at"
    " FROM first_delivered WHERE event_type = 'AgencyNotified'"
    " ON CONFLICT (complaint_id) DO UPDATE"
    " SET notified_at = greatest(p.notified_at, EXCLUDED.notified_at)"
    " WHERE p.agency_code IS NOT DISTINCT FROM EXCLUDED.agency_code),"
    " mirrored AS (INSERT INTO intake.complaint_progress AS p (complaint_id, mirrored_at)"
    " SELECT complaint_id, occurred_at FROM first_delivered"
    " WHERE event_type = 'ComplaintMirrored'"
    " ON CONFLICT (complaint_id) DO UPDATE"
    " SET mirrored_at = coalesce(p.mirrored_at, EXCLUDED.mirrored_at)),"
    " in_public_timeline AS (INSERT INTO intake.timeline"
    " (event_id, complaint_id, occurred_at, status, public_note)"
    " SELECT event_id, complaint_id, occurred_at, status, public_note FROM input"
    " WHERE status IS NOT NULL ON CONFLICT DO NOTHING RETURNING event_id)"
    " UPDATE intake.complaints c"
    " SET status = CASE WHEN i.changes_status THEN i.status ELSE c.status END,"
    " agency_code = coalesce(i.public_agency_code, c.agency_code)"
    " FROM input i JOIN in_public_timeline USING (event_id) WHERE c.complaint_id = i.complaint_id"
)


def later_event_columns(
    events: Sequence[tuple[Event, PublicEntry | None]],
) -> tuple[list[object], ...]:
    """The arrays `_RECORD_LATER_EVENTS` unnests, one row per event: the agency and due dates
    of an assignment or a notification (the progress), and the public entry's fields (all None
    for an event citizens do not see)."""
    columns: tuple[list[object], ...] = tuple([] for _ in range(12))
    for event, entry in events:
        routed = event if isinstance(event, ComplaintRouted) else None
        agency = event.agency_code if isinstance(event, ComplaintRouted | AgencyNotified) else None
        row = (
            event.event_id,
            event.complaint_id,
            event.occurred_at,
            event.event_type,
            event.model_dump_json(),
            entry.status if entry else None,
            entry.note if entry else None,
            entry.agency_code if entry else None,
            entry.changes_status if entry else None,
            agency,
            routed.disposition_due if routed else None,
            routed.followup_due if routed else None,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _complaint_columns(
    complaints: Sequence[tuple[Complaint, str | None, str]],
) -> tuple[list[object], ...]:
    """_ADD_COMPLAINTS's arrays, from (complaint, access token hash, submitted by)."""
    return tuple(
        list(column)
        for column in zip(
            *(
                (
                    complaint.complaint_id,
                    complaint.tracking_number,
                    complaint.channel.value,
                    complaint.channel_message_id,
                    complaint.model_dump_json(),
                    access_token_hash,
                    complaint.confidential,
                    complaint.received_at,
                    submitted_by,
                )
                for complaint, access_token_hash, submitted_by in complaints
            ),
            strict=True,
        )
    )


def _stored(record: asyncpg.Record) -> StoredComplaint:
    return StoredComplaint(
        complaint_id=record["complaint_id"],
        tracking_number=record["tracking_number"],
        document=read_stored(Complaint, record["document"]),
        access_token_hash=record["access_token_hash"],
        status=record["status"],
        agency_code=record["agency_code"],
    )
