"""The notifier's event handlers. Events are applied in bulk, each bulk one statement that
records the event ids with their effects, so a redelivered event changes nothing and never
notifies twice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence

import asyncpg
from prometheus_client import Counter

from services.notifier.domain.citizen import plan_citizen_update, routed_update
from services.notifier.domain.directory import AgencyContacts
from services.notifier.domain.plan import PlannedDelivery, RoutedComplaint, plan_assignment
from services.notifier.domain.privacy import agency_view
from services.notifier.repository import DeliveryCause, NotifierRepository
from shared.events import AnyEvent, Complaint, ComplaintReceived, ComplaintRouted

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
        return {event.event_id for event in events} - left_out

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
        return [*planned, *([update] if update else [])]
