"""The router's PostgreSQL adapter: its schema's tables, behind methods named for what they mean."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asyncpg import Record

from shared.consumer import first_handling
from shared.db import Connection
from shared.events import (
    Complaint,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    Event,
    read_stored,
)
from shared.outbox import enqueue_all

SCHEMA = "router"

# Probable duplicates: at least this trigram similarity, same region, within this window.
DUPLICATE_SIMILARITY = 0.55
DUPLICATE_WINDOW_DAYS = 30


def read_corrections(database_url: str) -> list[tuple[Complaint, str]]:
    """Every correction that names the right agency, with the complaint as it was received, for
    the trainer (a command of its own: one short psycopg connection, not the service's pool)."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT c.document::text, rc.right_agency FROM router.routing_corrections rc"
            " JOIN router.complaints c USING (complaint_id)"
            " WHERE rc.right_agency IS NOT NULL ORDER BY rc.id"
        ).fetchall()
    return [(Complaint.model_validate_json(document), agency) for document, agency in rows]


@dataclass(frozen=True)
class PlaceQuestion:
    complaint: Complaint
    question_event_id: uuid.UUID
    correlation_id: uuid.UUID


def _place_question(row: Record) -> PlaceQuestion:
    return PlaceQuestion(
        complaint=read_stored(Complaint, row["document"]),
        question_event_id=row["question_event_id"],
        correlation_id=row["correlation_id"],
    )


@dataclass(frozen=True)
class RoutingHistory:
    complaint: Complaint
    current_agency: str | None
    routing_round: int
    rejected_by: tuple[str, ...]


class RouterRepository:
    """Every query runs on the connection of the caller's transaction (the unit of work)."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def first_handling(self, event: Event) -> bool:
        """Record the event as handled; False when it was handled before (a redelivery)."""
        return await first_handling(self._db, SCHEMA, event)

    async def save_new_complaints(self, received: Sequence[ComplaintReceived]) -> set[uuid.UUID]:
        """Record the events as handled and keep their complaints, in one statement; returns the
        complaints new to the router (not a redelivered event, nor a replay of a known one)."""
        complaints = [event.complaint for event in received]
        rows = await self._db.fetch(
            "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
            " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],"
            " $11::timestamptz[], $12::text[]) AS i(event_id, complaint_id, tracking_number,"
            " channel, title, body, location_text, region_code, district_code, category,"
            " received_at, document)),"
            " handled AS (INSERT INTO router.processed_events (event_id, event_type, complaint_id)"
            " SELECT event_id, 'ComplaintReceived', complaint_id FROM input"
            " ON CONFLICT DO NOTHING RETURNING event_id)"
            " INSERT INTO router.complaints (complaint_id, tracking_number, channel, title, body,"
            " location_text, region_code, district_code, category, received_at, document)"
            " SELECT complaint_id, tracking_number, channel, title, body, location_text,"
            " region_code, district_code, category, received_at, document::jsonb"
            " FROM input JOIN handled USING (event_id)"
            " ON CONFLICT DO NOTHING RETURNING complaint_id",
            [event.event_id for event in received],
            [c.complaint_id for c in complaints],
            [c.tracking_number for c in complaints],
            [c.channel.value for c in complaints],
            [c.title for c in complaints],
            [c.body for c in complaints],
            [c.location.text for c in complaints],
            [c.location.region_code for c in complaints],
            [c.location.district_code for c in complaints],
            [c.category for c in complaints],
            [c.received_at for c in complaints],
            [c.model_dump_json() for c in complaints],
        )
        return {row["complaint_id"] for row in rows}

    async def probable_duplicates(self, complaints: Sequence[Complaint]) -> dict[uuid.UUID, str]:
        """For each complaint, the most similar earlier open complaint in the same region within
        30 days, when similar enough (one nearest-text look-up each, in one statement)."""
        located = [c for c in complaints if c.location.region_code is not None]
        if not located:
            return {}
        # `%` compares with this transaction's threshold; a bitmap scan would fetch every
        # similar text before ranking them, the index scan stops at the nearest (migration 0006).
        await self._db.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', $1, true),"
            " set_config('enable_bitmapscan', 'off', true)",
            str(DUPLICATE_SIMILARITY),
        )
        rows = await self._db.fetch(
            "SELECT i.complaint_id, nearest.tracking_number"
            " FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[])"
            "   AS i(complaint_id, region_code, received_at, text)"
            " CROSS JOIN LATERAL (SELECT c.tracking_number FROM router.complaints c"
            "   WHERE c.region_code = i.region_code AND c.complaint_id <> i.complaint_id"
            "     AND NOT c.closed AND c.received_at <= i.received_at"
            "     AND c.received_at > i.received_at - make_interval(days => $5)"
            "     AND (c.title || ' ' || c.body) OPERATOR(public.%) i.text"
            "   ORDER BY (c.title || ' ' || c.body) OPERATOR(public.<->) i.text LIMIT 1) nearest",
            [c.complaint_id for c in located],
            [c.location.region_code for c in located],
            [c.received_at for c in located],
            [f"{c.title} {c.body}" for c in located],
            DUPLICATE_WINDOW_DAYS,
        )
        return {row["complaint_id"]: row["tracking_number"] for row in rows}

    async def publish_all(self, events: Sequence[Event], topic: str) -> None:
        await enqueue_all(self._db, SCHEMA, events, topic)

    async def save_assignments(self, assignments: Sequence[ComplaintRouted]) -> None:
        """The assignments, and each complaint's current agency with them, in one statement."""
        await self._db.execute(
            "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[],"
            " $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[], $10::text[],"
            " $11::text[], $12::text[], $13::date[], $14::date[], $15::text[], $16::uuid[],"
            " $17::text[])"
            " AS i(complaint_id, routing_round, agency_code, previous_agency_code, level,"
            " region_code, category, confidence, reasons, routing_table_version,"
            " decided_by_kind, decided_by_id, disposition_due, followup_due,"
            " possible_duplicate_of, cause_event_id, model_version)),"
            " assigned AS (INSERT INTO router.assignments (complaint_id, routing_round,"
            " agency_code, previous_agency_code, level, region_code, category, confidence, reasons,"
            " routing_table_version, decided_by_kind, decided_by_id, disposition_due,"
            " followup_due, possible_duplicate_of, cause_event_id, model_version)"
            " SELECT complaint_id, routing_round, agency_code, previous_agency_code, level,"
            " region_code, category, confidence, reasons::jsonb, routing_table_version,"
            " decided_by_kind, decided_by_id, disposition_due, followup_due,"
            " possible_duplicate_of, cause_event_id, model_version FROM input)"
            " UPDATE router.complaints c SET current_agency = i.agency_code"
            " FROM input i WHERE c.complaint_id = i.complaint_id",
            [r.complaint_id for r in assignments],
            [r.routing_round for r in assignments],
            [r.agency_code for r in assignments],
            [r.previous_agency_code for r in assignments],
            [r.level.value for r in assignments],
            [r.region_code for r in assignments],
            [r.category for r in assignments],
            [r.confidence for r in assignments],
            [json.dumps(r.reasons) for r in assignments],
            [r.routing_table_version for r in assignments],
            [r.decided_by.kind.value for r in assignments],
            [r.decided_by.id for r in assignments],
            [r.disposition_due for r in assignments],
            [r.followup_due for r in assignments],
            [r.possible_duplicate_of for r in assignments],
            [r.causation_id for r in assignments],
            [r.model_version for r in assignments],
        )

    async def ask_places(self, questions: Sequence[ComplaintPlaceRequested]) -> None:
        await self._db.executemany(
            "INSERT INTO router.place_questions"
            " (complaint_id, question_event_id, correlation_id, answer_due)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(q.complaint_id, q.event_id, q.correlation_id, q.answer_due) for q in questions],
        )

    async def open_place_question(self, complaint_id: uuid.UUID) -> PlaceQuestion | None:
        """The complaint's unanswered question where (locked), with the complaint."""
        row = await self._db.fetchrow(
            "SELECT q.complaint_id, q.question_event_id, q.correlation_id, c.document"
            " FROM router.place_questions q JOIN router.complaints c USING (complaint_id)"
            " WHERE q.complaint_id = $1 AND q.outcome IS NULL FOR UPDATE OF q",
            complaint_id,
        )
        return None if row is None else _place_question(row)

    async def due_place_questions(self, now: datetime, limit: int) -> list[PlaceQuestion]:
        """Unanswered questions past their time, claimed (another router skips them)."""
        rows = await self._db.fetch(
            "SELECT q.complaint_id, q.question_event_id, q.correlation_id, c.document"
            " FROM router.place_questions q JOIN router.complaints c USING (complaint_id)"
            " WHERE q.outcome IS NULL AND q.answer_due <= $1 ORDER BY q.answer_due"
            " LIMIT $2 FOR UPDATE OF q SKIP LOCKED",
            now,
            limit,
        )
        return [_place_question(row) for row in rows]

    async def settle_place_question(
        self, complaint_id: uuid.UUID, outcome: str, answer: str | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE router.place_questions SET outcome = $2, answer = $3, settled_at = now()"
            " WHERE complaint_id = $1 AND outcome IS NULL",
            complaint_id,
            outcome,
            answer,
        )

    async def history(self, complaint_id: uuid.UUID) -> RoutingHistory | None:
        """The complaint (locked for update), its current agency and round, who has refused it."""
        row = await self._db.fetchrow(
            "SELECT document, current_agency FROM router.complaints WHERE complaint_id = $1"
            " FOR UPDATE",
            complaint_id,
        )
        if row is None:
            return None
        routing_round = await self._db.fetchval(
            "SELECT coalesce(max(routing_round), 0) FROM router.assignments"
            " WHERE complaint_id = $1",
            complaint_id,
        )
        rejected = await self._db.fetch(
            "SELECT wrong_agency FROM router.routing_corrections"
            " WHERE complaint_id = $1 AND source = 'agency_rejection' ORDER BY id",
            complaint_id,
        )
        return RoutingHistory(
            complaint=read_stored(Complaint, row["document"]),
            current_agency=row["current_agency"],
            routing_round=int(routing_round),
            rejected_by=tuple(r["wrong_agency"] for r in rejected),
        )

    async def save_correction(
        self,
        *,
        complaint_id: uuid.UUID,
        wrong_agency: str | None,
        right_agency: str | None,
        source: str,
        actor_id: str | None,
        reason: str | None,
        cause_event_id: uuid.UUID,
    ) -> None:
        await self._db.execute(
            "INSERT INTO router.routing_corrections (complaint_id, wrong_agency, right_agency,"
            " source, actor_id, reason, cause_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            complaint_id,
            wrong_agency,
            right_agency,
            source,
            actor_id,
            reason,
            cause_event_id,
        )

    async def close(self, complaint_id: uuid.UUID) -> None:
        await self._db.execute(
            "UPDATE router.complaints SET closed = true WHERE complaint_id = $1", complaint_id
        )
