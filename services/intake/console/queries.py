"""The console's reads of the `intake` schema (the read model the timeline consumer keeps), its
sessions, and its one write to the pipeline: an operator's routing out of triage, stored with its
event in intake's outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import asyncpg

from services.intake.console.domain import (
    AWAITING_FOLLOWUP,
    Assignment,
    Progress,
    Stage,
    StageCounts,
    waiting_counts,
)
from services.intake.repository import SCHEMA
from shared.agencies import CENTRAL_AGENCY, CLOSED_STATUSES, TRIAGE_AGENCY
from shared.api_keys import hash_api_key
from shared.events import (
    Actor,
    ActorKind,
    AnyEvent,
    Complaint,
    ComplaintRouted,
    RoutingOverrideRequested,
    caused_by,
    parse_event,
    read_stored,
)
from shared.masking import masked
from shared.outbox import enqueue

PRODUCER = "intake"
_STAGE_EVENTS = {
    Stage.ROUTED: "ComplaintRouted",
    Stage.NOTIFIED: "AgencyNotified",
    Stage.MIRRORED: "ComplaintMirrored",
}


@dataclass(frozen=True)
class Pipeline:
    stages: list[StageCounts]
    in_triage: int
    outbox_pending: int  # accepted, not yet on Kafka


@dataclass(frozen=True)
class TriageItem:
    tracking_number: str
    title: str
    region_code: str | None
    location_text: str | None
    received_at: datetime
    routed_at: datetime | None
    override_agency_code: str | None


@dataclass(frozen=True)
class ComplaintRecord:
    complaint: Complaint
    status: str
    agency_code: str | None
    disposition_due: date | None
    followup_due: date | None
    events: list[AnyEvent]


class OverrideOutcome(StrEnum):
    REQUESTED = "requested"
    NOT_IN_TRIAGE = "not_in_triage"  # unknown, or already routed elsewhere
    ALREADY_REQUESTED = "already_requested"  # waiting for the router's answer


class ConsoleQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open_session(self, key_id: int, token: str, hours: float) -> None:
        """A console session of the operator key, for `hours` (expired ones are cleared)."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("DELETE FROM intake.console_sessions WHERE expires_at < now()")
            await connection.execute(
                "INSERT INTO intake.console_sessions (token_hash, key_id, expires_at)"
                " VALUES ($1, $2, now() + make_interval(secs => $3))",
                hash_api_key(token),
                key_id,
                hours * 3600,
            )

    async def session_open(self, token: str) -> bool:
        """A session lasts until logout, its expiry, or its operator key's revocation."""
        found = await self._pool.fetchval(
            "SELECT true FROM intake.console_sessions s JOIN intake.api_keys k ON k.id = s.key_id"
            " WHERE s.token_hash = $1 AND s.expires_at > now() AND k.scope_kind = 'operator'"
            " AND k.revoked_at IS NULL",
            hash_api_key(token),
        )
        return bool(found)

    async def end_session(self, token: str) -> None:
        await self._pool.execute(
            "DELETE FROM intake.console_sessions WHERE token_hash = $1", hash_api_key(token)
        )

    async def pipeline(self, today_starts: datetime) -> Pipeline:
        async with self._pool.acquire() as connection:
            received = await connection.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE received_at >= $1) AS today"
                " FROM intake.complaints",
                today_starts,
            )
            reached = {
                row["event_type"]: row
                for row in await connection.fetch(
                    "SELECT event_type, count(DISTINCT complaint_id) AS total,"
                    " count(DISTINCT complaint_id) FILTER (WHERE occurred_at >= $1) AS today"
                    " FROM intake.operator_timeline WHERE event_type = ANY($2::text[])"
                    " GROUP BY event_type",
                    today_starts,
                    list(_STAGE_EVENTS.values()),
                )
            }
            groups = await connection.fetch(
                "SELECT c.status, CASE WHEN p.agency_code = ANY($1::text[]) THEN p.agency_code"
                " END AS agency_code, p.routed_at IS NOT NULL AS routed,"
                " p.notified_at IS NOT NULL AS notified, p.mirrored_at IS NOT NULL AS mirrored,"
                " count(*) AS n FROM intake.complaints c LEFT JOIN intake.complaint_progress p"
                " USING (complaint_id) GROUP BY 1, 2, 3, 4, 5",
                [TRIAGE_AGENCY, CENTRAL_AGENCY],
            )
            outbox_pending = await connection.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
            )
        assert received is not None
        waiting, in_triage = waiting_counts(
            (
                Progress(g["status"], g["agency_code"], g["routed"], g["notified"], g["mirrored"]),
                g["n"],
            )
            for g in groups
        )
        stages = [StageCounts(Stage.RECEIVED, received["today"], received["total"], 0)]
        for stage, event_type in _STAGE_EVENTS.items():
            row = reached.get(event_type)
            today, total = (row["today"], row["total"]) if row else (0, 0)
            stages.append(StageCounts(stage, today, total, waiting[stage]))
        return Pipeline(stages, in_triage, outbox_pending)

    async def triage_queue(self, limit: int = 200) -> list[TriageItem]:
        """Complaints waiting in triage for an operator, the newest first."""
        rows = await self._pool.fetch(
            "SELECT c.tracking_number, c.document->>'title' AS title,"
            " c.document->'location'->>'region_code' AS region_code,"
            " c.document->'location'->>'text' AS location_text, c.received_at, p.routed_at,"
            " p.override_agency_code FROM intake.complaint_progress p"
            " JOIN intake.complaints c USING (complaint_id)"
            " WHERE p.agency_code = $1 AND NOT c.status = ANY($2::text[])"
            " ORDER BY c.received_at DESC LIMIT $3",
            TRIAGE_AGENCY,
            list(CLOSED_STATUSES),
            limit,
        )
        return [
            TriageItem(
                tracking_number=r["tracking_number"],
                title=masked(r["title"]),
                region_code=r["region_code"],
                location_text=masked(r["location_text"]) if r["location_text"] else None,
                received_at=r["received_at"],
                routed_at=r["routed_at"],
                override_agency_code=r["override_agency_code"],
            )
            for r in rows
        ]

    async def overdue_candidates(self, today: date) -> list[Assignment]:
        """Assignments past their follow-up date still awaiting the agency (the domain decides)."""
        rows = await self._pool.fetch(
            "SELECT p.agency_code, c.status, p.followup_due FROM intake.complaint_progress p"
            " JOIN intake.complaints c USING (complaint_id)"
            " WHERE p.followup_due < $1 AND c.status = ANY($2::text[])",
            today,
            list(AWAITING_FOLLOWUP),
        )
        return [Assignment(r["agency_code"], r["status"], r["followup_due"]) for r in rows]

    async def complaint(self, tracking_number: str) -> ComplaintRecord | None:
        """A complaint with every event after its receipt, in order."""
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "SELECT c.complaint_id, c.document, c.status, c.agency_code, p.disposition_due,"
                " p.followup_due FROM intake.complaints c"
                " LEFT JOIN intake.complaint_progress p USING (complaint_id)"
                " WHERE c.tracking_number = $1",
                tracking_number,
            )
            if row is None:
                return None
            payloads = await connection.fetch(
                "SELECT payload FROM intake.operator_timeline WHERE complaint_id = $1"
                " ORDER BY occurred_at, event_id",
                row["complaint_id"],
            )
        return ComplaintRecord(
            complaint=read_stored(Complaint, row["document"]),
            status=row["status"],
            agency_code=row["agency_code"],
            disposition_due=row["disposition_due"],
            followup_due=row["followup_due"],
            events=[parse_event(p["payload"]) for p in payloads],
        )

    async def request_override(
        self,
        tracking_number: str,
        agency_code: str,
        operator: str,
        topic: str,
        reason: str | None = None,
    ) -> OverrideOutcome:
        """Ask the router to assign a complaint in triage to an agency: the request and its
        `RoutingOverrideRequested` commit together; a second click before the router answers
        publishes nothing more."""
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT p.complaint_id, p.agency_code, p.override_requested_at,"
                " (SELECT t.payload FROM intake.operator_timeline t"
                "   WHERE t.complaint_id = p.complaint_id AND t.event_type = 'ComplaintRouted'"
                "   ORDER BY t.occurred_at DESC LIMIT 1) AS routed"
                " FROM intake.complaint_progress p JOIN intake.complaints c USING (complaint_id)"
                " WHERE c.tracking_number = $1 FOR UPDATE OF p",
                tracking_number,
            )
            if row is None or row["agency_code"] != TRIAGE_AGENCY:
                return OverrideOutcome.NOT_IN_TRIAGE
            if row["override_requested_at"] is not None:
                return OverrideOutcome.ALREADY_REQUESTED
            complaint_id: uuid.UUID = row["complaint_id"]
            # In the flow of the routing that put it in triage (a routing always precedes).
            routed = read_stored(ComplaintRouted, row["routed"]) if row["routed"] else None
            event = RoutingOverrideRequested(
                **caused_by(
                    complaint_id,
                    routed.correlation_id if routed else complaint_id,
                    routed.event_id if routed else None,
                    producer=PRODUCER,
                    tracking_number=tracking_number,
                    agency_code=agency_code,
                    operator=Actor(kind=ActorKind.OPERATOR, id=operator),
                    reason=reason,
                )
            )
            await connection.execute(
                "UPDATE intake.complaint_progress SET override_agency_code = $2,"
                " override_requested_at = now() WHERE complaint_id = $1",
                complaint_id,
                agency_code,
            )
            await enqueue(connection, SCHEMA, event, topic)
        return OverrideOutcome.REQUESTED
