"""The notifier's PostgreSQL adapter for complaints, assignments, the directory and API keys.
Every method runs on the caller's connection, inside the caller's transaction."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.notifier.domain.directory import WITHOUT_SECRETS, AgencyContacts
from services.notifier.domain.idempotency import RememberedAction
from services.notifier.domain.inbox import Transition
from services.notifier.domain.plan import PlannedDelivery
from shared.api_keys import hash_api_key, new_api_key
from shared.consumer import first_handling
from shared.db import Connection
from shared.events import (
    AgencyNotified,
    Complaint,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    Event,
    read_stored,
)
from shared.idempotency import IdempotencyKey
from shared.outbox import enqueue, enqueue_all

# Delivery workers LISTEN here, so a new delivery goes out at once rather than at the next poll.
SCHEMA = "notifier"
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


class KeyRole(StrEnum):
    """What an inbox API key may do (one role a key)."""

    AGENCY = "agency"  # its agency's own assignments
    DIRECTORY_ADMIN = "directory_admin"  # agencies' contacts, nothing else
    DEAD_LETTER_OPERATOR = "dead_letter_operator"  # dead deliveries, nothing else


@dataclass(frozen=True)
class ApiKey:
    name: str
    agency_code: str | None  # None: a key of the hub's own staff
    role: KeyRole


@dataclass(frozen=True)
class StaffAccount:
    """A staff member of an agency with a login to the web inbox."""

    id: int
    username: str
    agency_code: str
    display_name: str
    password_hash: str


@dataclass(frozen=True)
class HistoryLine:
    """What happened to a complaint's assignments: each routing and each action, with who."""

    at: datetime
    agency_code: str | None  # None for the reporter's
    action: str  # 'routed' for the assignment itself, 'reporter' for what the reporter said,
    # else an InboxAction's value
    status: str
    note: str | None
    suggested_agency_code: str | None
    by: str | None  # the staff member's name, or the API key's; None for a routing


@dataclass(frozen=True)
class AnswerTemplate:
    id: int
    title: str
    body: str


@dataclass(frozen=True)
class DeliveryCause:
    """The event a delivery comes of, and its complaint (none for a notice of changed
    contacts)."""

    complaint_id: uuid.UUID | None
    tracking_number: str | None
    cause_event_id: uuid.UUID
    correlation_id: uuid.UUID


@dataclass
class RoutingFacts:
    complaints: dict[uuid.UUID, Complaint] = field(default_factory=dict)
    contacts: dict[str, AgencyContacts] = field(default_factory=dict)
    handled: set[uuid.UUID] = field(default_factory=set)


def _queue_deliveries(first: int, where: str = "true") -> str:
    """The `queued` CTE: deliveries given as arrays ${first}.. (see `_delivery_arrays`) queued,
    those already queued left as they are."""
    p = [f"${first + n}" for n in range(11)]
    return (
        "queued AS (INSERT INTO notifier.deliveries (delivery_id, notification_key,"
        " complaint_id, tracking_number, agency_code, kind, channel, target, payload,"
        " cause_event_id, correlation_id)"
        " SELECT delivery_id, notification_key, complaint_id, tracking_number, agency_code, kind,"
        " channel, target, payload::jsonb, cause_event_id, correlation_id"
        f" FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::uuid[], {p[3]}::text[],"
        f" {p[4]}::text[], {p[5]}::text[], {p[6]}::text[], {p[7]}::text[], {p[8]}::text[],"
        f" {p[9]}::uuid[], {p[10]}::uuid[]) AS d(delivery_id, notification_key, complaint_id,"
        " tracking_number, agency_code, kind, channel, target, payload, cause_event_id,"
        f" correlation_id) WHERE {where} ON CONFLICT DO NOTHING RETURNING 1)"
    )


# Workers are woken only when a delivery was really queued (delivered at commit).
_WAKE_IF_QUEUED = (
    f"CASE WHEN EXISTS (SELECT 1 FROM queued) THEN pg_notify('{WAKE_CHANNEL}', '') END"
)


@functools.lru_cache(maxsize=512)
def _contacts(document: str) -> AgencyContacts:
    """Parsed once per version of an agency's contacts (frozen, so shared safely), not at every
    routing: validating their email addresses costs (README, Figures)."""
    return AgencyContacts.model_validate_json(document)


def _delivery_arrays(deliveries: Sequence[tuple[PlannedDelivery, DeliveryCause]]) -> list[Any]:
    return [
        [d.delivery_id for d, _ in deliveries],
        [d.notification_key for d, _ in deliveries],
        [cause.complaint_id for _, cause in deliveries],
        [cause.tracking_number for _, cause in deliveries],
        [d.agency_code for d, _ in deliveries],
        [d.kind for d, _ in deliveries],
        [d.channel.value for d, _ in deliveries],
        [d.target for d, _ in deliveries],
        [json.dumps(d.payload, ensure_ascii=False) for d, _ in deliveries],
        [cause.cause_event_id for _, cause in deliveries],
        [cause.correlation_id for _, cause in deliveries],
    ]


_ASSIGNMENT_COLUMNS = (
    "id, complaint_id, tracking_number, routing_round, agency_code, previous_agency_code, status,"
    " current, disposition_due, followup_due, routed_event_id, correlation_id, routed_at"
)


def _assignment(row: object) -> AssignmentRow:
    values = dict(row)  # type: ignore[call-overload]
    values["status"] = ComplaintStatus(values["status"])
    return AssignmentRow(**values)


_STAFF_COLUMNS = "id, username, agency_code, display_name, password_hash"


def _staff(row: object) -> StaffAccount | None:
    return None if row is None else StaffAccount(**dict(row))  # type: ignore[call-overload]


# Only the worker holding the current attempt may mark it (a lease taken over moved `attempts`).
# Given arrays of delivery ids, attempts and the ids of their AgencyNotified (NULL for reporters).
_MARK_DELIVERED = (
    "done AS (UPDATE notifier.deliveries d SET state = 'delivered', delivered_at = now(),"
    " lease_until = NULL FROM unnest($1::uuid[], $2::integer[], $3::uuid[])"
    " AS m(delivery_id, attempts, event_id) WHERE d.delivery_id = m.delivery_id"
    " AND d.state = 'sending' AND d.attempts = m.attempts RETURNING m.event_id)"
)


class NotifierRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def publish(self, event: Event, topic: str) -> None:
        await enqueue(self._db, SCHEMA, event, topic)

    # --- the delivery queue --------------------------------------------------------------------

    async def claim_deliveries(self, limit: int, per_agency: int, lease_s: float) -> list[Any]:
        """Up to `limit` due deliveries, no agency beyond `per_agency` in flight; a row without
        a delivery names an agency held back by its limit (the migration defining
        `claim_deliveries`)."""
        return list(
            await self._db.fetch(
                "SELECT * FROM notifier.claim_deliveries($1, $2, $3)", limit, per_agency, lease_s
            )
        )

    async def mark_delivered(
        self, attempts: Sequence[tuple[uuid.UUID, int, AgencyNotified | None]], topic: str
    ) -> bool:
        """Mark these attempts (delivery id, attempt, its AgencyNotified if an agency's) delivered
        and publish their events, in one statement; whether any was still this worker's."""
        announced = [event for _, _, event in attempts if event is not None]
        return await enqueue_all(
            self._db,
            SCHEMA,
            announced,
            topic,
            along=_MARK_DELIVERED,
            along_args=(
                [delivery_id for delivery_id, _, _ in attempts],
                [attempt for _, attempt, _ in attempts],
                [event.event_id if event else None for _, _, event in attempts],
            ),
            each_only_if="done",
        )

    async def delivery_failed(
        self, delivery_id: uuid.UUID, attempts: int, error: str, retry_in: timedelta | None
    ) -> None:
        """The next attempt in `retry_in`, or (None) a dead letter; only for the current attempt."""
        await self._db.execute(
            "UPDATE notifier.deliveries SET last_error = $3, lease_until = NULL,"
            " state = CASE WHEN $4::interval IS NULL THEN 'dead' ELSE 'pending' END,"
            " next_attempt_at = now() + coalesce($4::interval, '0')"
            " WHERE delivery_id = $1 AND state = 'sending' AND attempts = $2",
            delivery_id,
            attempts,
            error,
            retry_in,
        )

    async def queue_by_channel(self) -> list[Any]:
        """Per channel: deliveries waiting or being sent, dead letters, the oldest waiting (s)."""
        return list(
            await self._db.fetch(
                "SELECT channel, count(*) FILTER (WHERE state IN ('pending', 'sending'))"
                " AS waiting, count(*) FILTER (WHERE state = 'dead') AS dead,"
                " extract(epoch FROM now() - min(created_at) FILTER"
                "  (WHERE state IN ('pending', 'sending'))) AS oldest"
                " FROM notifier.deliveries WHERE state <> 'delivered' GROUP BY channel"
            )
        )

    async def routing_facts(self, routed: Sequence[ComplaintRouted]) -> RoutingFacts:
        """In one statement, what planning these routings needs: their complaints, the contacts
        of every agency they name, and which of them were handled before."""
        codes = {code for r in routed for code in (r.agency_code, r.previous_agency_code) if code}
        rows = await self._db.fetch(
            "SELECT 'complaint' AS kind, complaint_id::text AS key, document::text AS value"
            " FROM notifier.complaints WHERE complaint_id = ANY($1::uuid[])"
            " UNION ALL SELECT 'contacts', agency_code, contacts::text"
            " FROM notifier.agency_contacts WHERE agency_code = ANY($2::text[])"
            " UNION ALL SELECT 'handled', event_id::text, NULL"
            " FROM notifier.processed_events WHERE event_id = ANY($3::uuid[])",
            [r.complaint_id for r in routed],
            list(codes),
            [r.event_id for r in routed],
        )
        facts = RoutingFacts()
        for kind, key, value in rows:
            if kind == "complaint":
                facts.complaints[uuid.UUID(key)] = read_stored(Complaint, value)
            elif kind == "contacts":
                facts.contacts[key] = _contacts(value)
            else:
                facts.handled.add(uuid.UUID(key))
        return facts

    async def apply_events(
        self,
        received: Sequence[ComplaintReceived],
        routed: Sequence[ComplaintRouted],
        deliveries: Sequence[tuple[PlannedDelivery, DeliveryCause]],
    ) -> set[uuid.UUID]:
        """Record the events as handled and, for those not handled before, keep the complaints,
        make the routings the current assignments and queue their deliveries: one statement,
        atomic on its own (no transaction around it). Returns the ids of the events handled now
        (a redelivered one changes nothing)."""
        events: Sequence[ComplaintReceived | ComplaintRouted] = [*received, *routed]
        handled: list[uuid.UUID] = await self._db.fetchval(
            "WITH handled AS (INSERT INTO notifier.processed_events"
            " (event_id, event_type, complaint_id)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])"
            " ON CONFLICT DO NOTHING RETURNING event_id),"
            " kept AS (INSERT INTO notifier.complaints (complaint_id, tracking_number, document)"
            " SELECT complaint_id, tracking_number, document::jsonb"
            " FROM unnest($4::uuid[], $5::uuid[], $6::text[], $7::text[])"
            " AS c(event_id, complaint_id, tracking_number, document)"
            " WHERE event_id IN (SELECT event_id FROM handled) ON CONFLICT DO NOTHING),"
            " routed AS (SELECT * FROM unnest($8::uuid[], $9::uuid[], $10::text[], $11::int[],"
            " $12::text[], $13::text[], $14::date[], $15::date[], $16::uuid[])"
            " AS r(routed_event_id, complaint_id, tracking_number, routing_round, agency_code,"
            " previous_agency_code, disposition_due, followup_due, correlation_id)"
            " WHERE routed_event_id IN (SELECT event_id FROM handled)),"
            # A re-routed complaint's assignment before is no longer current.
            " retired AS (UPDATE notifier.assignments a SET current = false, updated_at = now()"
            " FROM routed WHERE a.complaint_id = routed.complaint_id AND a.current RETURNING 1),"
            # Joined to the count of retirements, which are therefore all done before the first
            # new assignment is inserted (a complaint has one current assignment at a time).
            " assigned AS (INSERT INTO notifier.assignments (complaint_id, tracking_number,"
            " routing_round, agency_code, previous_agency_code, disposition_due, followup_due,"
            " routed_event_id, correlation_id) SELECT complaint_id, tracking_number,"
            " routing_round, agency_code, previous_agency_code, disposition_due, followup_due,"
            " routed_event_id, correlation_id FROM routed, (SELECT count(*) FROM retired) AS r),"
            f" {_queue_deliveries(17, 'cause_event_id IN (SELECT event_id FROM handled)')}"
            f" SELECT array(SELECT event_id FROM handled) FROM (SELECT {_WAKE_IF_QUEUED}) AS woken",
            [event.event_id for event in events],
            [event.event_type for event in events],
            [event.complaint_id for event in events],
            [event.event_id for event in received],
            [event.complaint_id for event in received],
            [event.complaint.tracking_number for event in received],
            [event.complaint.model_dump_json() for event in received],
            [event.event_id for event in routed],
            [event.complaint_id for event in routed],
            [event.tracking_number for event in routed],
            [event.routing_round for event in routed],
            [event.agency_code for event in routed],
            [event.previous_agency_code for event in routed],
            [event.disposition_due for event in routed],
            [event.followup_due for event in routed],
            [event.correlation_id for event in routed],
            *_delivery_arrays(deliveries),
        )
        return set(handled)

    async def complaint(self, complaint_id: uuid.UUID) -> Complaint | None:
        document = await self._db.fetchval(
            "SELECT document FROM notifier.complaints WHERE complaint_id = $1", complaint_id
        )
        return None if document is None else read_stored(Complaint, document)

    async def complaints(self, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Complaint]:
        rows = await self._db.fetch(
            "SELECT complaint_id, document FROM notifier.complaints"
            " WHERE complaint_id = ANY($1::uuid[])",
            list(complaint_ids),
        )
        return {row["complaint_id"]: read_stored(Complaint, row["document"]) for row in rows}

    async def overdue_by_agency(self) -> dict[str, int]:
        """Current assignments past their follow-up due date (in WITA) and not followed up."""
        rows = await self._db.fetch(
            "SELECT agency_code, count(*) AS n FROM notifier.assignments WHERE current"
            " AND status IN ('routed', 'acknowledged')"
            " AND followup_due < (now() AT TIME ZONE 'Asia/Makassar')::date GROUP BY agency_code"
        )
        return {row["agency_code"]: row["n"] for row in rows}

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

    async def current_assignment_of(self, complaint_id: uuid.UUID) -> AssignmentRow | None:
        row = await self._db.fetchrow(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM notifier.assignments"
            " WHERE complaint_id = $1 AND current",
            complaint_id,
        )
        return None if row is None else _assignment(row)

    async def first_handling(self, event: Event) -> bool:
        """Record the event as handled; False when it was handled before (a redelivery)."""
        return await first_handling(self._db, SCHEMA, event)

    async def record_action(
        self,
        assignment: AssignmentRow,
        transition: Transition,
        key_name: str,
        event_id: uuid.UUID,
        staff_account_id: int | None = None,
    ) -> None:
        await self._db.execute(
            "UPDATE notifier.assignments SET status = $2, updated_at = now() WHERE id = $1",
            assignment.id,
            transition.status.value,
        )
        await self._db.execute(
            "INSERT INTO notifier.assignment_actions (assignment_id, action, previous_status,"
            " status, note, suggested_agency_code, key_name, event_id, staff_account_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            assignment.id,
            transition.action.value,
            transition.previous.value,
            transition.status.value,
            transition.note,
            transition.suggested_agency_code,
            key_name,
            event_id,
            staff_account_id,
        )

    async def remembered_action(self, caller: str, key: str) -> RememberedAction | None:
        row = await self._db.fetchrow(
            "SELECT fingerprint, remembered_at, assignment_id, status"
            " FROM notifier.action_idempotency_keys WHERE caller = $1 AND idempotency_key = $2",
            caller,
            key,
        )
        if row is None:
            return None
        return RememberedAction(
            fingerprint=row["fingerprint"],
            remembered_at=row["remembered_at"],
            assignment_id=row["assignment_id"],
            status=ComplaintStatus(row["status"]),
        )

    async def first_answer(self, remembered: RememberedAction) -> AssignmentRow:
        """The assignment as a remembered action answered it (only its status ever changes)."""
        row = await self._db.fetchrow(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM notifier.assignments WHERE id = $1",
            remembered.assignment_id,
        )
        return replace(_assignment(row), status=remembered.status)

    async def remember_action(
        self,
        caller: str,
        key: IdempotencyKey,
        answer: AssignmentRow,
        event_id: uuid.UUID,
        *,
        now: datetime,
        forget_before: datetime,
    ) -> bool:
        """Keep the caller's key with the action's answer, and forget the caller's keys
        remembered at or before `forget_before`. False when the key is taken since then (by
        another request of the caller's, committed meanwhile)."""
        kept = await self._db.fetchval(
            "WITH forgotten AS (DELETE FROM notifier.action_idempotency_keys"
            " WHERE caller = $1 AND idempotency_key <> $2 AND remembered_at <= $8)"
            " INSERT INTO notifier.action_idempotency_keys AS k (caller, idempotency_key,"
            " fingerprint, assignment_id, status, event_id, remembered_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (caller, idempotency_key) DO UPDATE SET"
            " fingerprint = excluded.fingerprint, assignment_id = excluded.assignment_id,"
            " status = excluded.status, event_id = excluded.event_id,"
            " remembered_at = excluded.remembered_at WHERE k.remembered_at <= $8"
            " RETURNING true",
            caller,
            key.key,
            key.fingerprint,
            answer.id,
            answer.status.value,
            event_id,
            now,
            forget_before,
        )
        return bool(kept)

    async def reopen(
        self, assignment: AssignmentRow, event_id: uuid.UUID, note: str | None
    ) -> None:
        """The reporter reopened the resolved assignment: kept in its history as their action."""
        await self._db.execute(
            "UPDATE notifier.assignments SET status = 'reopened', updated_at = now() WHERE id = $1",
            assignment.id,
        )
        await self._db.execute(
            "INSERT INTO notifier.assignment_actions (assignment_id, action, previous_status,"
            " status, note, key_name, event_id) VALUES ($1, 'reopen', $2, 'reopened', $3,"
            " 'pelapor', $4) ON CONFLICT (event_id) DO NOTHING",
            assignment.id,
            assignment.status.value,
            note,
            event_id,
        )

    async def history(self, complaint_id: uuid.UUID) -> list[HistoryLine]:
        """Every routing of the complaint, every action on it and what the reporter said, in the
        order they happened (the reporter's words as they wrote them: mask them to show)."""
        rows = await self._db.fetch(
            "SELECT routed_at AS at, agency_code, 'routed' AS action, 'routed' AS status,"
            " NULL AS note, NULL AS suggested_agency_code, NULL AS by, 0 AS seq"
            " FROM notifier.assignments WHERE complaint_id = $1"
            " UNION ALL SELECT x.acted_at, a.agency_code, x.action, x.status, x.note,"
            " x.suggested_agency_code, coalesce(s.display_name || ' (' || s.username || ')',"
            " x.key_name), x.id FROM notifier.assignment_actions x"
            " JOIN notifier.assignments a ON a.id = x.assignment_id"
            " LEFT JOIN notifier.staff_accounts s ON s.id = x.staff_account_id"
            " WHERE a.complaint_id = $1"
            " UNION ALL SELECT occurred_at, NULL, 'reporter', status, note, NULL, NULL, 0"
            " FROM notifier.reporter_events WHERE complaint_id = $1 ORDER BY at, seq",
            complaint_id,
        )
        return [HistoryLine(**{k: v for k, v in dict(row).items() if k != "seq"}) for row in rows]

    async def record_reporter_event(self, event: ComplaintStatusChanged, note: str | None) -> None:
        """What the reporter said (`note`, as they wrote it), for the assignment's history."""
        await self._db.execute(
            "INSERT INTO notifier.reporter_events (event_id, complaint_id, status, note,"
            " occurred_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            event.event_id,
            event.complaint_id,
            event.status.value,
            note,
            event.occurred_at,
        )

    # --- staff accounts of the web inbox and their answer templates ----------------------------

    async def create_staff(
        self, username: str, agency_code: str, display_name: str, password_hash: str
    ) -> bool:
        """False when the username is taken."""
        created = await self._db.fetchval(
            "INSERT INTO notifier.staff_accounts (username, agency_code, display_name,"
            " password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING"
            " RETURNING true",
            username,
            agency_code,
            display_name,
            password_hash,
        )
        return bool(created)

    async def staff_by_username(self, username: str) -> StaffAccount | None:
        """An account that may log in (not disabled)."""
        return _staff(
            await self._db.fetchrow(
                f"SELECT {_STAFF_COLUMNS} FROM notifier.staff_accounts"
                " WHERE username = $1 AND disabled_at IS NULL",
                username,
            )
        )

    async def open_staff_session(self, account_id: int, token: str, lifetime_s: int) -> None:
        """A session of the account for `lifetime_s` (expired ones are cleared)."""
        await self._db.execute("DELETE FROM notifier.staff_sessions WHERE expires_at < now()")
        await self._db.execute(
            "INSERT INTO notifier.staff_sessions (token_hash, account_id, expires_at)"
            " VALUES ($1, $2, now() + make_interval(secs => $3))",
            hash_api_key(token),
            account_id,
            lifetime_s,
        )

    async def staff_session(self, token: str) -> StaffAccount | None:
        """The account of an open session (not ended at logout, not expired, the account
        enabled)."""
        return _staff(
            await self._db.fetchrow(
                f"SELECT {_STAFF_COLUMNS} FROM notifier.staff_accounts WHERE disabled_at IS NULL"
                " AND id = (SELECT account_id FROM notifier.staff_sessions"
                " WHERE token_hash = $1 AND expires_at > now())",
                hash_api_key(token),
            )
        )

    async def end_staff_session(self, token: str) -> None:
        await self._db.execute(
            "DELETE FROM notifier.staff_sessions WHERE token_hash = $1", hash_api_key(token)
        )

    async def set_staff_password(self, username: str, password_hash: str) -> bool:
        """A new password (and re-enabled); the account's sessions end."""
        changed = await self._db.fetchval(
            "WITH account AS (UPDATE notifier.staff_accounts SET password_hash = $2,"
            " disabled_at = NULL WHERE username = $1 RETURNING id),"
            " ended AS (DELETE FROM notifier.staff_sessions WHERE account_id IN"
            " (SELECT id FROM account)) SELECT true FROM account",
            username,
            password_hash,
        )
        return bool(changed)

    async def disable_staff(self, username: str) -> bool:
        """The account can no longer log in; its sessions end."""
        disabled = await self._db.fetchval(
            "WITH account AS (UPDATE notifier.staff_accounts SET disabled_at = now()"
            " WHERE username = $1 AND disabled_at IS NULL RETURNING id),"
            " ended AS (DELETE FROM notifier.staff_sessions WHERE account_id IN"
            " (SELECT id FROM account)) SELECT true FROM account",
            username,
        )
        return bool(disabled)

    async def staff_list(self) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            "SELECT username, agency_code, display_name, created_at, disabled_at"
            " FROM notifier.staff_accounts ORDER BY agency_code, username"
        )
        return [dict(row) for row in rows]

    async def answer_templates(self, agency_code: str) -> list[AnswerTemplate]:
        rows = await self._db.fetch(
            "SELECT id, title, body FROM notifier.answer_templates WHERE agency_code = $1"
            " ORDER BY title",
            agency_code,
        )
        return [AnswerTemplate(**dict(row)) for row in rows]

    async def add_answer_template(
        self, agency_code: str, title: str, body: str, created_by: int | None
    ) -> bool:
        """False when the agency has a template of that title."""
        added = await self._db.fetchval(
            "INSERT INTO notifier.answer_templates (agency_code, title, body, created_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (agency_code, title) DO NOTHING"
            " RETURNING true",
            agency_code,
            title,
            body,
            created_by,
        )
        return bool(added)

    async def delete_answer_template(self, agency_code: str, template_id: int) -> bool:
        deleted = await self._db.fetchval(
            "DELETE FROM notifier.answer_templates WHERE agency_code = $1 AND id = $2"
            " RETURNING true",
            agency_code,
            template_id,
        )
        return bool(deleted)

    async def contacts(self, agency_code: str) -> AgencyContacts | None:
        document = await self._db.fetchval(
            "SELECT contacts FROM notifier.agency_contacts WHERE agency_code = $1", agency_code
        )
        return None if document is None else _contacts(document)

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

    async def record_contacts_change(
        self,
        change_id: uuid.UUID,
        previous: AgencyContacts | None,
        contacts: AgencyContacts,
        changed_by: str,
    ) -> datetime:
        """Who replaced an agency's contacts, and with what; when it was recorded."""
        changed_at: datetime = await self._db.fetchval(
            "INSERT INTO notifier.agency_contact_changes"
            " (change_id, agency_code, changed_by, previous, contacts)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING changed_at",
            change_id,
            contacts.code,
            changed_by,
            previous.model_dump_json(exclude=WITHOUT_SECRETS) if previous else None,
            contacts.model_dump_json(exclude=WITHOUT_SECRETS),
        )
        return changed_at

    async def enqueue_deliveries(
        self,
        planned: Iterable[PlannedDelivery],
        *,
        complaint_id: uuid.UUID | None,
        tracking_number: str | None,
        cause_event_id: uuid.UUID,
        correlation_id: uuid.UUID,
    ) -> int:
        """Queue the deliveries (a delivery already queued stays as it is), in one statement;
        how many are new."""
        cause = DeliveryCause(complaint_id, tracking_number, cause_event_id, correlation_id)
        queued: int = await self._db.fetchval(
            f"WITH {_queue_deliveries(1)}"
            f" SELECT (SELECT count(*) FROM queued) FROM (SELECT {_WAKE_IF_QUEUED}) AS woken",
            *_delivery_arrays([(delivery, cause) for delivery in planned]),
        )
        return queued

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
            "SELECT name, agency_code, role FROM notifier.api_keys"
            " WHERE key_hash = $1 AND revoked_at IS NULL",
            hash_api_key(key),
        )
        return (
            None if row is None else ApiKey(row["name"], row["agency_code"], KeyRole(row["role"]))
        )

    async def revoke_api_key(self, name: str) -> bool:
        revoked = await self._db.fetchval(
            "UPDATE notifier.api_keys SET revoked_at = now()"
            " WHERE name = $1 AND revoked_at IS NULL RETURNING true",
            name,
        )
        return bool(revoked)

    async def create_api_key(self, name: str, agency_code: str | None, role: KeyRole) -> str:
        """A new key; only its hash is stored, so this is the one time it is seen. An agency's
        key names its agency; the hub's roles name none."""
        if (role is KeyRole.AGENCY) != (agency_code is not None):
            raise ValueError("an agency key needs its agency, and only an agency key has one")
        key = new_api_key()
        await self._db.execute(
            "INSERT INTO notifier.api_keys (key_hash, name, agency_code, role)"
            " VALUES ($1, $2, $3, $4)",
            hash_api_key(key),
            name,
            agency_code,
            role.value,
        )
        return key
