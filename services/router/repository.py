"""The router's PostgreSQL adapter: its schema's tables, behind methods named for what they mean."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from shared.db import Connection
from shared.events import Complaint, ComplaintRouted, Event

# Probable duplicates: at least this trigram similarity, same region, within this window.
DUPLICATE_SIMILARITY = 0.55
DUPLICATE_WINDOW_DAYS = 30


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

    async def first_time(self, event: Event) -> bool:
        """Record the event as handled; False when it was handled before (a redelivery)."""
        inserted = await self._db.fetchval(
            "INSERT INTO router.processed_events (event_id, event_type, complaint_id)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            event.event_id,
            event.event_type,
            event.complaint_id,
        )
        return bool(inserted)

    async def save_complaint(self, complaint: Complaint) -> bool:
        """Keep the complaint; False when it was already known."""
        inserted = await self._db.fetchval(
            "INSERT INTO router.complaints (complaint_id, tracking_number, channel, title, body,"
            " location_text, region_code, district_code, category, received_at, document)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT DO NOTHING RETURNING true",
            complaint.complaint_id,
            complaint.tracking_number,
            complaint.channel.value,
            complaint.title,
            complaint.body,
            complaint.location.text,
            complaint.location.region_code,
            complaint.location.district_code,
            complaint.category,
            complaint.received_at,
            complaint.model_dump_json(),
        )
        return bool(inserted)

    async def probable_duplicate(self, complaint: Complaint) -> str | None:
        """The most similar open complaint in the same region in the last 30 days, if any."""
        if complaint.location.region_code is None:
            return None
        text = f"{complaint.title} {complaint.body}"
        nearest = await self._db.fetchrow(
            "SELECT tracking_number, public.similarity(title || ' ' || body, $5) AS similarity"
            " FROM router.complaints"
            " WHERE region_code = $1 AND complaint_id <> $2 AND NOT closed"
            "   AND received_at > $3::timestamptz - make_interval(days => $4)"
            " ORDER BY (title || ' ' || body) OPERATOR(public.<->) $5 LIMIT 1",
            complaint.location.region_code,
            complaint.complaint_id,
            complaint.received_at,
            DUPLICATE_WINDOW_DAYS,
            text,
        )
        if nearest is None or nearest["similarity"] < DUPLICATE_SIMILARITY:
            return None
        tracking_number: str = nearest["tracking_number"]
        return tracking_number

    async def save_assignment(self, routed: ComplaintRouted) -> None:
        # One round trip: the assignment, and the complaint's current agency with it.
        await self._db.execute(
            "WITH assigned AS (INSERT INTO router.assignments (complaint_id, routing_round,"
            " agency_code, previous_agency_code, level, region_code, category, confidence, reasons,"
            " routing_table_version, decided_by_kind, decided_by_id, disposition_due,"
            " followup_due, possible_duplicate_of, cause_event_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16))"
            " UPDATE router.complaints SET current_agency = $3 WHERE complaint_id = $1",
            routed.complaint_id,
            routed.routing_round,
            routed.agency_code,
            routed.previous_agency_code,
            routed.level.value,
            routed.region_code,
            routed.category,
            routed.confidence,
            json.dumps(routed.reasons),
            routed.routing_table_version,
            routed.decided_by.kind.value,
            routed.decided_by.id,
            routed.disposition_due,
            routed.followup_due,
            routed.possible_duplicate_of,
            routed.causation_id,
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
            complaint=Complaint.model_validate_json(row["document"]),
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
