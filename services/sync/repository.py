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
from shared.dead_letters import set_aside
from shared.events import ComplaintMirrored, Event
from shared.outbox import enqueue, enqueue_all

SCHEMA = "sync"


@dataclass(frozen=True)
class Mapping:
    complaint_id: uuid.UUID
    tracking_number: str
    national_id: int
    origin: str
    correlation_id: uuid.UUID
    institution_id: int | None
    national_seen_at: datetime | None


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    claim_token: uuid.UUID  # this claim's: what it changes, it changes only while it holds
    event_id: uuid.UUID
    complaint_id: uuid.UUID
    tracking_number: str
    payload: bytes
    attempts: int
    in_doubt: bool  # a write for it may have been applied without lapor-hub knowing
    mapping: Mapping | None = None  # the complaint's national record when it was claimed
    followed: bool = False  # a later event of its complaint was queued when it was claimed


@dataclass(frozen=True)
class Done:
    """The outcome of one mirrored event, to be recorded. `institution_id`: where lapor-hub just
    moved the national complaint (or created it); `mirrored`: a create succeeded, as
    `national_id`, and this announces it."""

    queue_id: int
    claim_token: uuid.UUID  # the claim it was done under: recorded only while that one holds
    complaint_id: uuid.UUID
    outcome: str
    institution_id: int | None = None
    mirrored: ComplaintMirrored | None = None
    national_id: int | None = None


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
            "   attempts = q.attempts + 1, in_doubt = true, claim_token = gen_random_uuid()"
            " FROM candidate LEFT JOIN sync.mirrored_complaints m"
            "   ON m.complaint_id = candidate.complaint_id"
            " WHERE q.id = candidate.id"
            " RETURNING q.id, q.claim_token, q.event_id, q.complaint_id, q.tracking_number,"
            f"   q.payload, q.attempts, candidate.in_doubt, {_CLAIMED_MAPPING_COLUMNS},"
            "   EXISTS (SELECT 1 FROM sync.mirror_queue l WHERE l.state = 'pending'"
            "     AND l.complaint_id = q.complaint_id AND l.id > q.id) AS followed",
            lease_s,
            limit,
        )
        return sorted(map(_claimed, rows), key=lambda queued: queued.id)

    async def release(
        self, queued: QueuedEvent, *, retry_in_s: float, error: str, in_doubt: bool
    ) -> bool:
        """Put a claimed event back for a later attempt; False when the claim no longer holds
        (its lease ran out and another took it: nothing changes)."""
        released = await self._db.fetchval(
            "UPDATE sync.mirror_queue SET claimed_until = NULL, last_error = $3, in_doubt = $4,"
            " next_attempt_at = now() + make_interval(secs => $5)"
            f" WHERE {_HELD_BY.format(id='$1', token='$2')} RETURNING true",
            queued.id,
            queued.claim_token,
            error[:2000],
            in_doubt,
            retry_in_s,
        )
        return bool(released)

    async def record(self, done: Sequence[Done], topic: str) -> None:
        """Record the outcomes of several events (each of a different complaint) in one
        statement, atomic on its own: the queue rows done, the mappings of the created
        complaints saved with their `ComplaintMirrored` (so a create is never sent twice once
        known to have succeeded), the moved complaints' institution."""
        moved = [d for d in done if d.institution_id is not None and d.mirrored is None]
        created = [(d, d.mirrored) for d in done if d.mirrored is not None]
        args = (
            [d.queue_id for d in done],
            [d.claim_token for d in done],
            [d.outcome for d in done],
            [d.queue_id for d in moved],
            [d.complaint_id for d in moved],
            [d.institution_id for d in moved],
            [d.queue_id for d, _ in created],
            [d.complaint_id for d, _ in created],
            [m.tracking_number for _, m in created],
            [d.national_id for d, _ in created],
            [m.correlation_id for _, m in created],
            [d.institution_id for d, _ in created],
            [m.event_id for _, m in created],
        )
        if not created:  # nothing to announce: the relay is not woken
            await self._db.execute(f"WITH {_RECORD} SELECT 1", *args)
            return
        await enqueue_all(
            self._db,
            SCHEMA,
            [m for _, m in created],
            topic,
            along=_RECORD,
            along_args=args,
            each_only_if="announced",
        )

    async def dead(
        self, queued: QueuedEvent, topic: str, error: str, national_status: int | None
    ) -> bool:
        """Set a claimed event aside as a dead letter (with its place in the mirror queue);
        False, and nothing set aside, when the claim no longer holds."""
        dead = await self._db.fetchval(
            "UPDATE sync.mirror_queue SET state = 'dead', claimed_until = NULL, in_doubt = false,"
            f" last_error = $3 WHERE {_HELD_BY.format(id='$1', token='$2')} RETURNING true",
            queued.id,
            queued.claim_token,
            error[:2000],
        )
        if not dead:
            return False
        await set_aside(
            self._db,
            SCHEMA,
            topic=topic,
            key=str(queued.complaint_id).encode(),
            payload=queued.payload,
            error=error[:2000],
            queue_id=queued.id,
            national_status=national_status,
        )
        return True

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
            " next_attempt_at = now(), claimed_until = NULL, claim_token = NULL, done_at = NULL"
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

    async def mappings_of_national(self, national_ids: Sequence[int]) -> dict[int, Mapping]:
        """The mappings of those national complaints that have one, by national id, in one
        statement (a poll's page is mostly lapor-hub's own complaints: one round trip each was
        the sync service's second largest statement count)."""
        rows = await self._db.fetch(
            f"SELECT {_MAPPING_COLUMNS} FROM sync.mirrored_complaints"
            " WHERE national_id = ANY($1::bigint[])",
            list(national_ids),
        )
        return {row["national_id"]: Mapping(**dict(row)) for row in rows}

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

    async def defer(self, national_id: int) -> None:
        """An admin acted on lapor-hub's complaint before its mapping was saved: kept aside
        until it is."""
        await self._db.execute(
            "INSERT INTO sync.national_deferred (national_id) VALUES ($1) ON CONFLICT DO NOTHING",
            national_id,
        )

    async def creates_in_doubt(self) -> bool:
        """Whether a create may have been applied nationally without its mapping saved."""
        found: bool = await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM sync.mirror_queue WHERE state = 'pending'"
            " AND in_doubt AND event_type = 'ComplaintReceived')"
        )
        return found

    async def deferred_now_mapped(self) -> list[Mapping]:
        """The mappings saved since of the complaints kept aside (`defer`)."""
        rows = await self._db.fetch(
            f"SELECT {', '.join(f'm.{f}' for f in _MAPPING_FIELDS)}"
            " FROM sync.national_deferred d"
            " JOIN sync.mirrored_complaints m ON m.national_id = d.national_id"
        )
        return [Mapping(**dict(row)) for row in rows]

    async def undefer(self, national_id: int) -> None:
        await self._db.execute(
            "DELETE FROM sync.national_deferred WHERE national_id = $1", national_id
        )

    async def poll_cursor(self) -> int | None:
        """The last entry of national's action log the poller has read (None: none yet)."""
        cursor: int | None = await self._db.fetchval("SELECT after_log_id FROM sync.national_poll")
        return cursor

    async def advance_poll_cursor(self, cursor: int | None) -> None:
        await self._db.execute(
            "UPDATE sync.national_poll SET after_log_id = coalesce($1, after_log_id),"
            " polled_at = now()",
            cursor,
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

    async def mark_replayed(self, dead_id: int) -> None:
        await self._db.execute(
            "UPDATE sync.dead_letters SET replayed_at = now() WHERE id = $1", dead_id
        )

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


# A queue row as its claim holds it: that claim's token, still pending.
_HELD_BY = "id = {id} AND claim_token = {token} AND state = 'pending'"
# Parameters: the events done ($1 queue ids, $2 their claims' tokens, $3 outcomes), the
# complaints moved ($4 queue ids, $5 complaint ids, $6 their new institution), the complaints
# created ($7 to $13: queue id, complaint id, tracking number, national id, correlation id,
# institution, the id of their ComplaintMirrored). Only what a claim still holding its row did
# is recorded: a late holder's mapping, move and announcement are left out with its outcome.
_RECORD = (
    "done AS (UPDATE sync.mirror_queue q SET state = 'done', outcome = d.outcome,"
    " done_at = now(), claimed_until = NULL, in_doubt = false"
    " FROM unnest($1::bigint[], $2::uuid[], $3::text[]) AS d(queue_id, token, outcome)"
    f" WHERE {_HELD_BY.format(id='d.queue_id', token='d.token')} RETURNING q.id),"
    " moved AS (UPDATE sync.mirrored_complaints m SET institution_id = w.institution_id"
    " FROM unnest($4::bigint[], $5::uuid[], $6::integer[])"
    " AS w(queue_id, complaint_id, institution_id)"
    " WHERE m.complaint_id = w.complaint_id AND w.queue_id IN (SELECT id FROM done)),"
    " created AS (SELECT * FROM unnest($7::bigint[], $8::uuid[], $9::text[], $10::bigint[],"
    " $11::uuid[], $12::integer[], $13::uuid[]) AS c(queue_id, complaint_id, tracking_number,"
    " national_id, correlation_id, institution_id, event_id)"
    " WHERE c.queue_id IN (SELECT id FROM done)),"
    " saved_mappings AS (INSERT INTO sync.mirrored_complaints (complaint_id, tracking_number,"
    " national_id, origin, correlation_id, institution_id)"
    " SELECT complaint_id, tracking_number, national_id, 'local', correlation_id, institution_id"
    " FROM created ON CONFLICT (complaint_id) DO NOTHING),"  # another's national id: an error
    " announced AS (SELECT event_id FROM created)"
)
_SAVE_MAPPING = (
    "saved_mapping AS (INSERT INTO sync.mirrored_complaints (complaint_id, tracking_number,"
    " national_id, origin, correlation_id, institution_id, national_seen_at)"
    " VALUES ({values}) ON CONFLICT DO NOTHING RETURNING true)"
)
