"""The sync service's PostgreSQL adapter: the mirror queue, the id mapping, dead letters and the
poll cursor, behind methods named for what they mean. Every query runs on the connection of the
caller's transaction (the unit of work)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.events import Event
from shared.outbox import enqueue

SCHEMA = "sync"


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    event_id: uuid.UUID
    complaint_id: uuid.UUID
    tracking_number: str
    payload: bytes
    attempts: int
    in_doubt: bool  # a write for it may have been applied without lapor-hub knowing


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


_MAPPING_COLUMNS = (
    "complaint_id, tracking_number, national_id, origin, correlation_id, institution_id,"
    " last_written_at, national_seen_at"
)


class SyncRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    # --- the mirror queue ----------------------------------------------------------------------

    async def enqueue(self, event: Event, tracking_number: str, payload: bytes) -> bool:
        """Queue an event to mirror; False when it was queued before (a redelivery)."""
        inserted = await self._db.fetchval(
            "INSERT INTO sync.mirror_queue (event_id, complaint_id, tracking_number, event_type,"
            " payload) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
            " RETURNING true",
            event.event_id,
            event.complaint_id,
            tracking_number,
            event.event_type,
            payload,
        )
        return bool(inserted)

    async def claim(self, lease_s: float) -> QueuedEvent | None:
        """The oldest due event that is first in its complaint's line, leased to the caller. A
        claim marks it in doubt until its outcome is recorded: if the worker dies mid-call, the
        next claim checks national before writing again."""
        row = await self._db.fetchrow(
            "WITH candidate AS ("
            "  SELECT q.id, q.in_doubt FROM sync.mirror_queue q"
            "  WHERE q.state = 'pending' AND q.next_attempt_at <= now()"
            "    AND (q.claimed_until IS NULL OR q.claimed_until < now())"
            "    AND NOT EXISTS (SELECT 1 FROM sync.mirror_queue e WHERE e.state = 'pending'"
            "                    AND e.complaint_id = q.complaint_id AND e.id < q.id)"
            "  ORDER BY q.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " UPDATE sync.mirror_queue q SET claimed_until = now() + make_interval(secs => $1),"
            "   attempts = q.attempts + 1, in_doubt = true"
            " FROM candidate WHERE q.id = candidate.id"
            " RETURNING q.id, q.event_id, q.complaint_id, q.tracking_number, q.payload,"
            "   q.attempts, candidate.in_doubt",
            lease_s,
        )
        return None if row is None else QueuedEvent(**dict(row))

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

    async def complete(self, queue_id: int, outcome: str) -> None:
        await self._db.execute(
            "UPDATE sync.mirror_queue SET state = 'done', outcome = $2, done_at = now(),"
            " claimed_until = NULL, in_doubt = false WHERE id = $1",
            queue_id,
            outcome,
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
            "INSERT INTO sync.mirrored_complaints (complaint_id, tracking_number, national_id,"
            " origin, correlation_id, institution_id, national_seen_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            complaint_id,
            tracking_number,
            national_id,
            origin,
            correlation_id,
            institution_id,
            national_seen_at,
        )
        return bool(inserted)

    async def written(self, complaint_id: uuid.UUID, institution_id: int | None = None) -> None:
        """lapor-hub just wrote to the national complaint (moving it to `institution_id`)."""
        await self._db.execute(
            "UPDATE sync.mirrored_complaints SET last_written_at = now(),"
            " institution_id = coalesce($2, institution_id) WHERE complaint_id = $1",
            complaint_id,
            institution_id,
        )

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
