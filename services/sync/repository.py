"""The sync service's PostgreSQL adapter: the mirror queue, the id mapping, dead letters and the
poll cursor, behind methods named for what they mean. Every query runs on the connection of the
caller's transaction (the unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asyncpg import Record

from shared.db import Connection
from shared.events import ComplaintMirrored, Event
from shared.outbox import enqueue

SCHEMA = "sync"


@dataclass(frozen=True)
class Mapping:
    complaint_id: uuid.UUID
    tracking_number: str
    national_id: int
    origin: str
    correlation_id: uuid.UUID
    institution_id: int | None
    last_written_at: datetime
    national_seen_at: datetime | None


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    event_id: uuid.UUID
    complaint_id: uuid.UUID
    tracking_number: str
    payload: bytes
    attempts: int
    in_doubt: bool  # a write for it may have been applied without lapor-hub knowing
    mapping: Mapping | None = None  # the complaint's national record when it was claimed


@dataclass(frozen=True)
class EventToMirror:
    event: Event
    tracking_number: str
    payload: bytes


@dataclass(frozen=True)
class DeadLetter:
    id: int
    topic: str
    key: bytes | None
    payload: bytes | None
    error: str
    queue_id: int | None
    national_status: int | None
    created_at: datetime
    replayed_at: datetime | None


_MAPPING_FIELDS = (
    "complaint_id",
    "tracking_number",
    "national_id",
    "origin",
    "correlation_id",
    "institution_id",
    "last_written_at",
    "national_seen_at",
)
_MAPPING_COLUMNS = ", ".join(_MAPPING_FIELDS)
_CLAIMED_MAPPING_COLUMNS = ", ".join(f"m.{f} AS mapping_{f}" for f in _MAPPING_FIELDS)


class SyncRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    # --- the mirror queue ----------------------------------------------------------------------

    async def enqueue(self, events: Sequence[EventToMirror]) -> int:
        """Queue events to mirror, in the given order, in one statement; returns how many were
        new (a redelivered one was queued before and is passed over)."""
        result = await self._db.execute(
            "INSERT INTO sync.mirror_queue (event_id, complaint_id, tracking_number, event_type,"
            " payload) SELECT event_id, complaint_id, tracking_number, event_type, payload"
            " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[])"
            " WITH ORDINALITY AS e(event_id, complaint_id, tracking_number, event_type, payload, n)"
            " ORDER BY n ON CONFLICT (event_id) DO NOTHING",
            [e.event.event_id for e in events],
            [e.event.complaint_id for e in events],
            [e.tracking_number for e in events],
            [e.event.event_type for e in events],
            [e.payload for e in events],
        )
        return int(result.split()[-1])

    async def claim(self, lease_s: float, limit: int = 1) -> list[QueuedEvent]:
        """The oldest due events that are first in their complaint's line (so of different
        complaints), at most `limit`, leased to the caller, oldest first. A
        claim marks it in doubt until its outcome is recorded: if the worker dies mid-call, the
        next claim checks national before writing again. The complaint's mapping comes along
        (one round trip fewer per event)."""
        rows = await self._db.fetch(
            "WITH candidate AS ("
            "  SELECT q.id, q.complaint_id, q.in_doubt FROM sync.mirror_queue q"
            "  WHERE q.state = 'pending' AND q.next_attempt_at <= now()"
            "    AND (q.claimed_until IS NULL OR q.claimed_until < now())"
            "    AND NOT EXISTS (SELECT 1 FROM sync.mirror_queue e WHERE e.state = 'pending'"
            "                    AND e.complaint_id = q.complaint_id AND e.id < q.id)"
            "  ORDER BY q.id LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE sync.mirror_queue q SET claimed_until = now() + make_interval(secs => $1),"
            "   attempts = q.attempts + 1, in_doubt = true"
            " FROM candidate LEFT JOIN sync.mirrored_complaints m"
            "   ON m.complaint_id = candidate.complaint_id"
            " WHERE q.id = candidate.id"
            " RETURNING q.id, q.event_id, q.complaint_id, q.tracking_number, q.payload,"
            f"   q.attempts, candidate.in_doubt, {_CLAIMED_MAPPING_COLUMNS}",
            lease_s,
            limit,
        )
        return sorted(map(_claimed, rows), key=lambda queued: queued.id)

    async def release(
        self, queue_id: int, *, retry_in_s: float, error: str, in_doubt: bool
    ) -> None:
        await self._db.execute(
            "UPDATE sync.mirror_queue SET claimed_until = NULL, last_error = $2, in_doubt = $3,"
            " next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
            queue_id,
            error[:2000],
            in_doubt,
            retry_in_s,
        )

    async def complete(
        self,
        queue_id: int,
        outcome: str,
        *,
        written: bool = False,
        institution_id: int | None = None,
    ) -> None:
        """Done with an event; `written`: lapor-hub just wrote to the national complaint
        (moving it to `institution_id`). One statement, atomic without a transaction."""
        await self._db.execute(
            f"WITH {_COMPLETE}, written AS (UPDATE sync.mirrored_complaints"
            " SET last_written_at = now(), institution_id = coalesce($4, institution_id)"
            " WHERE $3 AND complaint_id = (SELECT complaint_id FROM done)) SELECT 1",
            queue_id,
            outcome,
            written,
            institution_id,
        )

    async def created(
        self,
        queue_id: int,
        mirrored: ComplaintMirrored,
        topic: str,
        *,
        national_id: int,
        institution_id: int | None,
    ) -> None:
        """A create succeeded: the id mapping, the queue row done and the `ComplaintMirrored`,
        in one statement (so a create is never sent twice once known to have succeeded)."""
        await enqueue(
            self._db,
            SCHEMA,
            mirrored,
            topic,
            along=f"{_COMPLETE}, {_SAVE_MAPPING.format(values='$3, $4, $5, $6, $7, $8, NULL')}",
            along_args=(
                queue_id,
                "created",
                mirrored.complaint_id,
                mirrored.tracking_number,
                national_id,
                "local",
                mirrored.correlation_id,
                institution_id,
            ),
        )

    async def dead(
        self, queued: QueuedEvent, topic: str, error: str, national_status: int | None
    ) -> int:
        """Set an event aside as a dead letter; returns the dead letter's id."""
        await self._db.execute(
            "UPDATE sync.mirror_queue SET state = 'dead', claimed_until = NULL, in_doubt = false,"
            " last_error = $2 WHERE id = $1",
            queued.id,
            error[:2000],
        )
        dead_id: int = await self._db.fetchval(
            "INSERT INTO sync.dead_letters (topic, key, payload, error, queue_id, national_status)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            topic,
            str(queued.complaint_id).encode(),
            queued.payload,
            error[:2000],
            queued.id,
            national_status,
        )
        return dead_id

    async def backlog(self) -> tuple[int, float]:
        """Pending events and the age in seconds of the oldest."""
        row = await self._db.fetchrow(
            "SELECT count(*) AS pending,"
            " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest"
            " FROM sync.mirror_queue WHERE state = 'pending'"
        )
        assert row is not None
        return int(row["pending"]), float(row["oldest"])

    async def requeue(self, queue_ids: list[int]) -> int:
        """Send events again (in their original place in their complaint's line), checking
        national first whether they are there already."""
        result = await self._db.execute(
            "UPDATE sync.mirror_queue SET state = 'pending', attempts = 0, in_doubt = true,"
            " next_attempt_at = now(), claimed_until = NULL, done_at = NULL"
            " WHERE id = ANY($1::bigint[])",
            queue_ids,
        )
        return int(result.split()[-1])

    async def queued_since(self, since: datetime) -> list[tuple[int, str, bytes, str]]:
        """(queue id, event type, payload, state) of every event queued since, in order."""
        rows = await self._db.fetch(
            "SELECT id, event_type, payload, state FROM sync.mirror_queue"
            " WHERE complaint_id IN (SELECT complaint_id FROM sync.mirror_queue"
            "   WHERE event_type = 'ComplaintReceived' AND created_at >= $1) ORDER BY id",
            since,
        )
        return [(r["id"], r["event_type"], r["payload"], r["state"]) for r in rows]

    # --- the mapping ---------------------------------------------------------------------------

    async def mapping(self, complaint_id: uuid.UUID) -> Mapping | None:
        row = await self._db.fetchrow(
            f"SELECT {_MAPPING_COLUMNS} FROM sync.mirrored_complaints WHERE complaint_id = $1",
            complaint_id,
        )
        return None if row is None else Mapping(**dict(row))

    async def mapping_of_national(self, national_id: int) -> Mapping | None:
        row = await self._db.fetchrow(
            f"SELECT {_MAPPING_COLUMNS} FROM sync.mirrored_complaints WHERE national_id = $1",
            national_id,
        )
        return None if row is None else Mapping(**dict(row))

    async def save_mapping(
        self,
        *,
        complaint_id: uuid.UUID,
        tracking_number: str,
        national_id: int,
        origin: str,
        correlation_id: uuid.UUID,
        institution_id: int | None,
        national_seen_at: datetime | None = None,
    ) -> bool:
        inserted = await self._db.fetchval(
            f"WITH {_SAVE_MAPPING.format(values='$1, $2, $3, $4, $5, $6, $7')}"
            " SELECT count(*) > 0 FROM saved_mapping",
            complaint_id,
            tracking_number,
            national_id,
            origin,
            correlation_id,
            institution_id,
            national_seen_at,
        )
        return bool(inserted)

    async def seen(
        self, complaint_id: uuid.UUID, until: datetime, institution_id: int | None
    ) -> None:
        await self._db.execute(
            "UPDATE sync.mirrored_complaints SET national_seen_at = $2,"
            " institution_id = coalesce($3, institution_id) WHERE complaint_id = $1",
            complaint_id,
            until,
            institution_id,
        )

    # --- polling -------------------------------------------------------------------------------

    async def poll_cursor(self) -> datetime | None:
        cursor: datetime | None = await self._db.fetchval("SELECT cursor FROM sync.national_poll")
        return cursor

    async def advance_poll_cursor(self, cursor: datetime | None) -> None:
        await self._db.execute(
            "UPDATE sync.national_poll SET cursor = coalesce($1, cursor), polled_at = now()", cursor
        )

    # --- outgoing events -----------------------------------------------------------------------

    async def publish(self, event: Event, topic: str) -> None:
        await enqueue(self._db, SCHEMA, event, topic)

    # --- dead letters --------------------------------------------------------------------------

    async def dead_letters(self, include_replayed: bool = False) -> list[DeadLetter]:
        rows = await self._db.fetch(
            "SELECT id, topic, key, payload, error, queue_id, national_status, created_at,"
            " replayed_at FROM sync.dead_letters WHERE $1 OR replayed_at IS NULL ORDER BY id",
            include_replayed,
        )
        return [DeadLetter(**dict(row)) for row in rows]

    async def dead_letter(self, dead_id: int) -> DeadLetter | None:
        row = await self._db.fetchrow(
            "SELECT id, topic, key, payload, error, queue_id, national_status, created_at,"
            " replayed_at FROM sync.dead_letters WHERE id = $1 FOR UPDATE",
            dead_id,
        )
        return None if row is None else DeadLetter(**dict(row))

    async def replay(self, dead: DeadLetter) -> int:
        """Queue a dead letter again, with the later dead events of its complaint (they were
        most likely set aside because it was); returns how many events were queued."""
        await self._db.execute(
            "UPDATE sync.dead_letters SET replayed_at = now() WHERE id = $1"
            " OR queue_id IN (SELECT l.id FROM sync.mirror_queue l, sync.mirror_queue d"
            "   WHERE d.id = $2 AND l.complaint_id = d.complaint_id AND l.id > d.id"
            "   AND l.state = 'dead')",
            dead.id,
            dead.queue_id,
        )
        rows = await self._db.fetch(
            "SELECT l.id FROM sync.mirror_queue l, sync.mirror_queue d WHERE d.id = $1"
            " AND l.complaint_id = d.complaint_id AND l.id >= d.id AND l.state = 'dead'",
            dead.queue_id,
        )
        return await self.requeue([row["id"] for row in rows])


def _claimed(row: Record) -> QueuedEvent:
    claimed = dict(row)
    mapping = {f: claimed.pop(f"mapping_{f}") for f in _MAPPING_FIELDS}
    found = mapping["national_id"] is not None
    return QueuedEvent(**claimed, mapping=Mapping(**mapping) if found else None)


# Parameters $1 (queue id) and $2 (outcome); its row: the completed event's complaint.
_COMPLETE = (
    "done AS (UPDATE sync.mirror_queue SET state = 'done', outcome = $2, done_at = now(),"
    " claimed_until = NULL, in_doubt = false WHERE id = $1 RETURNING complaint_id)"
)
_SAVE_MAPPING = (
    "saved_mapping AS (INSERT INTO sync.mirrored_complaints (complaint_id, tracking_number,"
    " national_id, origin, correlation_id, institution_id, national_seen_at)"
    " VALUES ({values}) ON CONFLICT DO NOTHING RETURNING true)"
)
