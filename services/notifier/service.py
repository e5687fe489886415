"""The notifier's event handlers: each event is one transaction that records the event id, so a
redelivered event changes nothing and never notifies twice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter

from services.notifier.domain.citizen import plan_citizen_update, routed_update
from services.notifier.domain.plan import RoutedComplaint, plan_assignment
from services.notifier.domain.privacy import agency_view
from services.notifier.repository import NotifierRepository
from shared.events import AnyEvent, ComplaintReceived, ComplaintRouted

log = logging.getLogger(__name__)

ASSIGNMENTS = Counter(
    "lapor_hub_notifier_assignments_total", "Assignments received, by agency", ["agency"]
)


class MissingComplaintError(LookupError):
    """A routing arrived for a complaint the notifier never received."""


class NotifierService:
    def __init__(
        self, pool: asyncpg.Pool, public_url: str, citizen_sms_gateway_url: str | None = None
    ) -> None:
        self._pool = pool
        self._public_url = public_url.rstrip("/")
        self._citizen_sms_gateway_url = citizen_sms_gateway_url

    def inbox_url(self, tracking_number: str) -> str:
        return f"{self._public_url}/inbox/assignments/{tracking_number}"

    async def handle(self, event: AnyEvent) -> None:
        """Apply one event of the complaint stream; the others pass by."""
        if isinstance(event, ComplaintReceived):
            await self.keep_complaints((event,))
        elif isinstance(event, ComplaintRouted):
            await self._notify_assignment(event)

    async def keep_complaints(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """Keep every new complaint among `events` in one statement (what agencies will be told
        of it when it is routed); returns the ids of the events taken."""
        received = [event for event in events if isinstance(event, ComplaintReceived)]
        if received:
            async with self._pool.acquire() as connection:
                await NotifierRepository(connection).keep_complaints(received)
        return {event.event_id for event in received}

    async def _notify_assignment(self, routed: ComplaintRouted) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            repository = NotifierRepository(connection)
            if not await repository.first_time(routed):
                return
            complaint = await repository.complaint(routed.complaint_id)
            if complaint is None:
                # Kept as a dead letter (the consumer's poison handler) for an operator.
                raise MissingComplaintError(f"{routed.tracking_number} was never received")
            await repository.save_assignment(routed)
            contacts = await repository.contacts(routed.agency_code)
            previous = (
                await repository.contacts(routed.previous_agency_code)
                if routed.previous_agency_code
                else None
            )
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
                agency_view(complaint),
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
            await repository.enqueue_deliveries(
                [*planned, *([update] if update else [])],
                complaint_id=routed.complaint_id,
                tracking_number=routed.tracking_number,
                cause_event_id=routed.event_id,
                correlation_id=routed.correlation_id,
            )
        ASSIGNMENTS.labels(routed.agency_code).inc()
