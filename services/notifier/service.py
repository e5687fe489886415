"""The notifier's use cases: the event handlers, and the agencies' actions from their inbox.
Events are applied in bulk, each bulk one statement that records the event ids with their
effects, so a redelivered event changes nothing and never notifies twice. An action is applied
with its ComplaintStatusChanged in the outbox, in one transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter

from services.notifier.domain.attachments import agency_links
from services.notifier.domain.citizen import (
    place_question,
    plan_citizen_update,
    routed_update,
    status_update,
)
from services.notifier.domain.directory import AgencyContacts, contact_changes
from services.notifier.domain.idempotency import action_key, caller_scope, is_retry
from services.notifier.domain.inbox import InboxAction, apply_action
from services.notifier.domain.messages import ContactsChanged, ReporterReply
from services.notifier.domain.plan import (
    PlannedDelivery,
    RoutedComplaint,
    plan_assignment,
    plan_contacts_notice,
    plan_reply,
)
from services.notifier.domain.privacy import (
    AgencyView,
    agency_view,
    reply_for_agency,
    reporter_words,
)
from services.notifier.repository import AssignmentRow, DeliveryCause, NotifierRepository
from shared.events import (
    Actor,
    ActorKind,
    AnyEvent,
    Complaint,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    caused_by,
)
from shared.idempotency import IdempotencyKeyReusedError
from shared.topics import COMPLAINT_EVENTS

log = logging.getLogger(__name__)
PRODUCER = "notifier"

ASSIGNMENTS = Counter(
    "lapor_hub_notifier_assignments_total", "Assignments received, by agency", ["agency"]
)


# What a reporter says on the tracking page that the agency holding the complaint is told of
# (a reopening is told too, with the assignment opened again: `_reopen`).
_PASSED_ON = frozenset({ComplaintStatus.REPORTER_REPLIED, ComplaintStatus.RATED})


class MissingComplaintError(LookupError):
    """A routing arrived for a complaint the notifier never received."""


@dataclass(frozen=True)
class Acted:
    """What an inbox action answers: the assignment after it; `replayed` for a retry answered
    as the first time, with nothing done again."""

    assignment: AssignmentRow
    replayed: bool


class NotifierService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        public_url: str,
        citizen_sms_gateway_url: str | None = None,
        topic: str = COMPLAINT_EVENTS.name,
        *,
        idempotency_window: timedelta = timedelta(hours=24),
        intake_url: str = "",
    ) -> None:
        """`intake_url`: where intake's stored attachments begin (`intake_public_url`); the
        agency is sent those at the notifier's inbox API."""
        self._pool = pool
        self._intake_url = intake_url
        self._idempotency_window = idempotency_window
        self._public_url = public_url.rstrip("/")
        self._citizen_sms_gateway_url = citizen_sms_gateway_url
        self._topic = topic

    def inbox_url(self, tracking_number: str) -> str:
        return f"{self._public_url}/inbox/assignments/{tracking_number}"

    def view(self, complaint: Complaint) -> AgencyView:
        """The complaint as its agency is sent it, its attachments at the inbox API."""
        links = agency_links(
            complaint.attachments, self._intake_url, self.inbox_url(complaint.tracking_number)
        )
        return agency_view(complaint, links)

    async def handle(self, event: AnyEvent) -> None:
        """Apply one event of the complaint stream; the others pass by."""
        if event.event_id not in await self.apply_together((event,)):
            # Kept as a dead letter (the consumer's poison handler) for an operator.
            raise MissingComplaintError(f"complaint {event.complaint_id} was never received")

    async def apply_together(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """Apply events of different complaints together: two statements however many (one
        read for what the routings need, one write); returns the ids of the events applied. A
        routing whose complaint was never received is left out (alone, it is a dead letter)."""
        received = [event for event in events if isinstance(event, ComplaintReceived)]
        routings = [event for event in events if isinstance(event, ComplaintRouted)]
        left_out: set[uuid.UUID] = set()
        async with self._pool.acquire() as connection:
            repository = NotifierRepository(connection)
            facts = await repository.routing_facts(routings) if routings else None
            routed: list[ComplaintRouted] = []
            deliveries: list[tuple[PlannedDelivery, DeliveryCause]] = []
            for routing in routings:
                assert facts is not None
                if routing.event_id in facts.handled:
                    continue  # a redelivery
                complaint = facts.complaints.get(routing.complaint_id)
                if complaint is None:
                    left_out.add(routing.event_id)
                    continue
                routed.append(routing)
                cause = DeliveryCause(
                    routing.complaint_id,
                    routing.tracking_number,
                    routing.event_id,
                    routing.correlation_id,
                )
                deliveries.extend(
                    (delivery, cause)
                    for delivery in self._deliveries(routing, complaint, facts.contacts)
                )
            handled = (
                await repository.apply_events(received, routed, deliveries)
                if received or routed
                else set()
            )
        for routing in routed:
            if routing.event_id in handled:
                ASSIGNMENTS.labels(routing.agency_code).inc()
        for event in events:
            if isinstance(event, ComplaintStatusChanged) and event.status in _PASSED_ON:
                await self._pass_on_reply(event)
            elif (
                isinstance(event, ComplaintStatusChanged)
                and event.status is ComplaintStatus.REOPENED
            ):
                await self._reopen(event)
            elif isinstance(event, ComplaintPlaceRequested):
                await self._ask_the_reporter(event)
        return {event.event_id for event in events} - left_out

    async def _ask_the_reporter(self, request: ComplaintPlaceRequested) -> None:
        """The router's question where, to the reporter in their channel, once."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            if not await repository.first_handling(request):
                return
            complaint = await repository.complaint(request.complaint_id)
            if complaint is None:
                return
            question = place_question(request.tracking_number, request.topic, request.answer_due)
            await self._to_the_reporter(
                repository, complaint, question, request.event_id, request.correlation_id
            )

    async def _reopen(self, reopened: ComplaintStatusChanged) -> None:
        """ "Masalah belum selesai": the resolved assignment is open again in the agency's inbox
        (acknowledge or follow up), and the agency is told as of a reply, once."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            if not await repository.first_handling(reopened):
                return
            row = await repository.current_assignment_of(reopened.complaint_id)
            complaint = await repository.complaint(reopened.complaint_id)
            if row is None or complaint is None or row.status is not ComplaintStatus.RESOLVED:
                return
            await repository.reopen(row, reopened.event_id, reopened.note)
            said = reply_for_agency(complaint, reopened.note) if reopened.note else ""
            text = f"Pelapor menyatakan masalah belum selesai. {said}".strip()
            await self._tell_the_agency(repository, row, complaint, reopened, text)

    async def _pass_on_reply(self, reply: ComplaintStatusChanged) -> None:
        """A reporter's reply, or their rating of a resolved complaint (1-5 and a comment),
        goes to the agency holding the complaint, masked, once."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            if not await repository.first_handling(reply):
                return
            words = reporter_words(reply)
            await repository.record_reporter_event(reply, words)  # the web inbox's history
            row = await repository.current_assignment_of(reply.complaint_id)
            complaint = await repository.complaint(reply.complaint_id)
            if row is None or complaint is None:
                log.info(
                    "reply to %s before any assignment: kept in the timeline only",
                    reply.tracking_number,
                )
                return
            text = reply_for_agency(complaint, words)
            await self._tell_the_agency(repository, row, complaint, reply, text)

    async def _tell_the_agency(
        self,
        repository: NotifierRepository,
        row: AssignmentRow,
        complaint: Complaint,
        cause: ComplaintStatusChanged,
        text: str,
    ) -> None:
        """What the reporter said (`text`, masked) to the agency holding the complaint."""
        contacts = await repository.contacts(row.agency_code)
        if contacts is None:
            return
        notice = ReporterReply(
            tracking_number=row.tracking_number,
            agency_code=row.agency_code,
            text=text,
            confidential=complaint.confidential,
            inbox_url=self.inbox_url(row.tracking_number),
            rating=cause.rating,
        )
        await repository.enqueue_deliveries(
            plan_reply(cause.event_id, notice, contacts),
            complaint_id=row.complaint_id,
            tracking_number=row.tracking_number,
            cause_event_id=cause.event_id,
            correlation_id=row.correlation_id,
        )

    def _deliveries(
        self,
        routed: ComplaintRouted,
        complaint: Complaint,
        directory: Mapping[str, AgencyContacts],
    ) -> list[PlannedDelivery]:
        """The alerts of the agency (and of the one before it, for a re-route), and the
        reporter's update."""
        contacts = directory.get(routed.agency_code)
        previous = directory.get(routed.previous_agency_code or "")
        if contacts is None:
            log.warning(
                "%s routed to %s, which has no contacts",
                routed.tracking_number,
                routed.agency_code,
            )
        planned = plan_assignment(
            RoutedComplaint(
                cause_event_id=routed.event_id,
                agency_code=routed.agency_code,
                previous_agency_code=routed.previous_agency_code,
                routing_round=routed.routing_round,
                disposition_due=routed.disposition_due,
                followup_due=routed.followup_due,
            ),
            self.view(complaint),
            contacts,
            previous,
            inbox_url=self.inbox_url(routed.tracking_number),
            inbox_root=f"{self._public_url}/inbox/assignments",
        )
        agency_name = contacts.name if contacts else routed.agency_code
        update = plan_citizen_update(
            complaint,
            routed_update(routed.tracking_number, agency_name, routed.followup_due),
            key=str(routed.event_id),
            sms_gateway_url=self._citizen_sms_gateway_url,
        )
        return [*planned, *([update] if update else [])]

    async def act(
        self,
        agency: str,
        officer: str,
        tracking_number: str,
        action: InboxAction,
        *,
        note: str | None = None,
        suggested_agency_code: str | None = None,
        staff_account_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> Acted | None:
        """An agency's action on its current assignment (by an API key's `officer`, or a staff
        member's web login), stored with its ComplaintStatusChanged (and the reporter's update)
        in one transaction; the assignment as it is now, or None when the agency has no such
        assignment. With an `idempotency_key` the caller's retry of the same action within the
        window gets the first answer and nothing is done again. Raises InvalidTransitionError,
        MissingTextError or IdempotencyKeyReusedError."""
        caller = caller_scope(officer, staff_account_id)
        key = (
            action_key(idempotency_key, tracking_number, action, note, suggested_agency_code)
            if idempotency_key
            else None
        )
        now = datetime.now(UTC)
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            # The assignment's lock first: a retry racing its first attempt reads the key the
            # first one committed.
            row = await repository.current_assignment(tracking_number, agency, for_update=True)
            if key is not None:
                remembered = await repository.remembered_action(caller, key.key)
                if remembered and is_retry(
                    key, remembered, now=now, window=self._idempotency_window
                ):
                    return Acted(await repository.first_answer(remembered), replayed=True)
            if row is None:
                return None
            transition = apply_action(row.status, action, note, suggested_agency_code)
            event = ComplaintStatusChanged(
                **caused_by(
                    row.complaint_id,
                    row.correlation_id,
                    row.routed_event_id,
                    producer=PRODUCER,
                    tracking_number=row.tracking_number,
                    status=transition.status,
                    previous_status=transition.previous,
                    actor=Actor(kind=ActorKind.AGENCY, id=agency),
                    agency_code=agency,
                    note=transition.note,
                    suggested_agency_code=transition.suggested_agency_code,
                )
            )
            await repository.record_action(
                row, transition, officer, event.event_id, staff_account_id
            )
            await repository.publish(event, self._topic)
            await self._tell_the_reporter(repository, row, event)
            answer = replace(row, status=transition.status)
            if key is not None and not await repository.remember_action(
                caller,
                key,
                answer,
                event.event_id,
                now=now,
                forget_before=now - self._idempotency_window,
            ):
                raise IdempotencyKeyReusedError(key.key)
            return Acted(answer, replayed=False)

    async def _tell_the_reporter(
        self, repository: NotifierRepository, row: AssignmentRow, event: ComplaintStatusChanged
    ) -> None:
        contacts = await repository.contacts(row.agency_code)
        agency_name = contacts.name if contacts else row.agency_code
        text = status_update(row.tracking_number, agency_name, event.status, event.note)
        complaint = await repository.complaint(row.complaint_id)
        if text is None or complaint is None:
            return
        await self._to_the_reporter(repository, complaint, text, event.event_id, row.correlation_id)

    async def _to_the_reporter(
        self,
        repository: NotifierRepository,
        complaint: Complaint,
        text: str,
        cause_event_id: uuid.UUID,
        correlation_id: uuid.UUID,
    ) -> None:
        """`text` to the reporter, once for its cause: an email, else a text through the
        gateway, else nothing."""
        update = plan_citizen_update(
            complaint, text, key=str(cause_event_id), sms_gateway_url=self._citizen_sms_gateway_url
        )
        if update is not None:
            await repository.enqueue_deliveries(
                [update],
                complaint_id=complaint.complaint_id,
                tracking_number=complaint.tracking_number,
                cause_event_id=cause_event_id,
                correlation_id=correlation_id,
            )


async def change_contacts(
    repository: NotifierRepository, contacts: AgencyContacts, changed_by: str
) -> None:
    """Replace an agency's contacts (kept over the directory file from then on), record who did
    it, and tell the agency at its old addresses what changed: future complaints flow to the new
    ones, so a change the agency did not ask for must not go unnoticed. In the caller's
    transaction."""
    previous = await repository.contacts(contacts.code)
    change_id = uuid.uuid4()
    await repository.put_contacts(contacts)
    changed_at = await repository.record_contacts_change(change_id, previous, contacts, changed_by)
    changes = contact_changes(previous, contacts) if previous else []
    if previous is None or not changes:
        return
    notice = ContactsChanged(
        agency_code=contacts.code,
        agency_name=previous.name,
        changed_by=changed_by,
        changed_at=changed_at,
        changes=tuple(changes),
    )
    await repository.enqueue_deliveries(
        [plan_contacts_notice(change_id, previous, notice)],
        complaint_id=None,
        tracking_number=None,
        cause_event_id=change_id,
        correlation_id=change_id,
    )
