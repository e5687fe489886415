"""The router's service layer: one small handler per event, each one transaction.

Every handler records the event id in `processed_events` in the same transaction as its effects
and writes the events it causes to the outbox there too, so a redelivered event changes nothing
and an assignment is never stored without its `ComplaintRouted` (nor published without being
stored).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from services.router.domain import ComplaintText, Router, RoutingDecision
from services.router.domain.asking import (
    PlacePolicy,
    answered_reasons,
    unanswered_reasons,
    with_answer,
)
from services.router.repository import RouterRepository
from services.router.rerouting import after_rejection
from shared.agencies import CLOSED_STATUSES, TRIAGE_AGENCY
from shared.db import Connection
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
    RoutingOverrideRequested,
)
from shared.runtime import every
from shared.topics import COMPLAINT_EVENTS
from shared.working_days import due_dates

PRODUCER = "router"

ROUTED = Counter(
    "lapor_hub_router_assignments_total",
    "Assignments published, by agency and authority level (63.triage: sent to triage)",
    ["agency", "level"],
)
REROUTES = Counter(
    "lapor_hub_router_reroutes_total", "Assignments made again, by what caused them", ["cause"]
)
PLACE_QUESTIONS = Counter(
    "lapor_hub_router_place_questions_total",
    "Reporters asked where their complaint is, and how it ended (asked, answered, timed_out)",
    ["outcome"],
)
DECISION_SECONDS = Histogram(
    "lapor_hub_router_decision_duration_seconds",
    "Time the routing rules take to decide one complaint",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
)
log = logging.getLogger(__name__)


def complaint_text(complaint: Complaint) -> ComplaintText:
    """What the routing rules read of a complaint."""
    return ComplaintText(
        title=complaint.title,
        body=complaint.body,
        location=complaint.location.text,
        region_code=complaint.location.region_code,
        district_code=complaint.location.district_code,
        category=complaint.category,
        channel=complaint.channel,
    )


def _first_assignment(
    envelope: dict[str, Any],
    complaint: Complaint,
    decision: RoutingDecision,
    *,
    possible_duplicate_of: str | None = None,
    reasons: tuple[str, ...] | None = None,
) -> ComplaintRouted:
    """Round 1: the agency's time runs from when the complaint was received."""
    disposition_due, followup_due = due_dates(complaint.received_at)
    return ComplaintRouted(
        **envelope,
        tracking_number=complaint.tracking_number,
        agency_code=decision.agency,
        level=decision.level,
        region_code=decision.region,
        category=decision.category,
        confidence=decision.confidence,
        reasons=decision.reasons if reasons is None else reasons,
        routing_table_version=decision.table_version,
        model_version=decision.model_version,
        disposition_due=disposition_due,
        followup_due=followup_due,
        possible_duplicate_of=possible_duplicate_of,
    )


class RouterService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router: Router,
        topic: str = COMPLAINT_EVENTS.name,
        places: PlacePolicy | None = None,
    ) -> None:
        self._pool = pool
        self._router = router
        self._places = places or PlacePolicy()
        self._topic = topic
        self._agencies = {agency.code: agency for agency in router.table.agencies}

    async def handle(self, event: AnyEvent) -> None:
        """Apply one event from the complaint stream; events the router does not act on pass."""
        if isinstance(event, ComplaintReceived):
            await self.apply_together((event,))
        elif isinstance(event, ComplaintStatusChanged):
            if event.status is ComplaintStatus.REPORTER_REPLIED:
                await self._route_on_answer(event)
            else:
                await self._apply_status(event)
        elif isinstance(event, RoutingOverrideRequested):
            await self._apply_override(event)

    async def apply_together(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """Route every new complaint among `events` in one transaction (a burst of complaints
        costs a few statements, not a few per complaint); returns the ids of the events taken.
        A kab/kota matter naming no kab/kota, from a reporter who can be reached, is not routed
        yet: the reporter is asked where (`ComplaintPlaceRequested`)."""
        received = [event for event in events if isinstance(event, ComplaintReceived)]
        if not received:
            return set()
        decisions = {}
        for event in received:
            with DECISION_SECONDS.time():
                decisions[event.event_id] = self._router.decide(complaint_text(event.complaint))
        now = datetime.now(UTC)
        async with self._pool.acquire() as connection, connection.transaction():
            repository = RouterRepository(connection)
            # A redelivered event, or a second ComplaintReceived for a known complaint (a
            # replay), is no new complaint.
            new = await repository.save_new_complaints(received)
            fresh = [event for event in received if event.complaint_id in new]
            asked = [
                self._place_request(event, decisions[event.event_id], now)
                for event in fresh
                if self._places.asks(
                    decisions[event.event_id], event.complaint.reporter, event.complaint.channel
                )
            ]
            asked_about = {question.complaint_id for question in asked}
            to_route = [event for event in fresh if event.complaint_id not in asked_about]
            duplicates = await repository.probable_duplicates([e.complaint for e in to_route])
            routed = [
                _first_assignment(
                    event.caused(producer=PRODUCER),
                    event.complaint,
                    decisions[event.event_id],
                    possible_duplicate_of=duplicates.get(event.complaint_id),
                )
                for event in to_route
            ]
            if routed:
                await repository.save_assignments(routed)
                await self._publish(connection, routed)
            if asked:
                await repository.ask_places(asked)
                await repository.publish_all(asked, self._topic)
                PLACE_QUESTIONS.labels("asked").inc(len(asked))
        return {event.event_id for event in received}

    def _place_request(
        self, event: ComplaintReceived, decision: RoutingDecision, now: datetime
    ) -> ComplaintPlaceRequested:
        return ComplaintPlaceRequested(
            **event.caused(
                producer=PRODUCER,
                tracking_number=event.complaint.tracking_number,
                category=decision.category,
                topic=self._router.topic_label(decision.topic),
                answer_due=self._places.answer_due(now),
            )
        )

    async def _route_on_answer(self, reply: ComplaintStatusChanged) -> None:
        """A reporter's reply to the question where: routed on it (triage if it names no
        Kalsel kab/kota). A reply to a complaint not waiting for its place changes nothing here."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = RouterRepository(connection)
            question = await repository.open_place_question(reply.complaint_id)
            if question is None or not await repository.first_handling(reply):
                return
            answer = reply.note or ""
            read = with_answer(complaint_text(question.complaint), answer)
            decision = self._router.decide(read)
            routed = _first_assignment(
                reply.caused(producer=PRODUCER),
                question.complaint,
                decision,
                reasons=answered_reasons(decision, answer),
            )
            await repository.settle_place_question(reply.complaint_id, "answered", answer)
            await repository.save_assignments((routed,))
            await self._publish(connection, (routed,))
        PLACE_QUESTIONS.labels("answered").inc()

    async def keep_routing_unanswered(self, interval_s: float) -> None:
        """Background work: every `interval_s`, the unanswered questions past their time."""
        await every(interval_s, self.route_unanswered, "unanswered place questions")

    async def route_unanswered(self, now: datetime | None = None, limit: int = 200) -> int:
        """Triage the complaints whose question where went unanswered in time; how many."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = RouterRepository(connection)
            due = await repository.due_place_questions(now or datetime.now(UTC), limit)
            routed = []
            for question in due:
                decision = self._router.decide(complaint_text(question.complaint))
                envelope = {
                    "complaint_id": question.complaint.complaint_id,
                    "correlation_id": question.correlation_id,
                    "causation_id": question.question_event_id,
                    "producer": PRODUCER,
                }
                reasons = unanswered_reasons(decision, self._places)
                routed.append(
                    _first_assignment(envelope, question.complaint, decision, reasons=reasons)
                )
                await repository.settle_place_question(question.complaint.complaint_id, "timed_out")
            if routed:
                await repository.save_assignments(routed)
                await self._publish(connection, routed)
        PLACE_QUESTIONS.labels("timed_out").inc(len(routed))
        return len(routed)

    async def _apply_status(self, event: ComplaintStatusChanged) -> None:
        rejected = event.status is ComplaintStatus.REJECTED and event.actor.kind is ActorKind.AGENCY
        if not rejected and event.status not in CLOSED_STATUSES:
            return
        async with self._pool.acquire() as connection, connection.transaction():
            repository = RouterRepository(connection)
            if not await repository.first_handling(event):
                return
            if not rejected:
                await repository.close(event.complaint_id)
                await repository.settle_place_question(event.complaint_id, "closed")
                return
            history = await repository.history(event.complaint_id)
            # A refusal of an assignment that is no longer current changes nothing.
            current = history.current_agency if history else None
            if history is None or current is None or current != event.actor.id:
                return
            decision = self._router.decide(complaint_text(history.complaint))
            choice = after_rejection(
                rejected_by=(*history.rejected_by, current),
                suggested_agency=event.suggested_agency_code,
                automatic_choice=decision.agency,
                automatic_confidence=decision.confidence,
                known_agencies=frozenset(self._agencies),
            )
            await repository.save_correction(
                complaint_id=event.complaint_id,
                wrong_agency=current,
                right_agency=None if choice.agency_code == TRIAGE_AGENCY else choice.agency_code,
                source="agency_rejection",
                actor_id=event.actor.id,
                reason=event.note,
                cause_event_id=event.event_id,
            )
            REROUTES.labels("agency_rejection").inc()
            await self._reassign(
                connection,
                event,
                history.routing_round,
                previous_agency=current,
                agency_code=choice.agency_code,
                confidence=choice.confidence,
                reasons=choice.reasons,
                table_version=decision.table_version,
                model_version=decision.model_version,
                region=decision.region,
                category=decision.category,
                decided_by=Actor(kind=ActorKind.SYSTEM, id=PRODUCER),
            )

    async def _apply_override(self, event: RoutingOverrideRequested) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            repository = RouterRepository(connection)
            if not await repository.first_handling(event):
                return
            history = await repository.history(event.complaint_id)
            # The console validates both before publishing; a bad one is dropped, not retried.
            if event.agency_code not in self._agencies or history is None:
                log.warning(
                    "override of %s to %s ignored: unknown complaint or agency",
                    event.tracking_number,
                    event.agency_code,
                )
                return
            decision = self._router.decide(complaint_text(history.complaint))
            await repository.save_correction(
                complaint_id=event.complaint_id,
                wrong_agency=history.current_agency,
                right_agency=event.agency_code,
                source="operator_override",
                actor_id=event.operator.id,
                reason=event.reason,
                cause_event_id=event.event_id,
            )
            REROUTES.labels("operator_override").inc()
            await repository.settle_place_question(event.complaint_id, "overridden")
            reason = f"ditetapkan operator {event.operator.id or ''}".strip()
            await self._reassign(
                connection,
                event,
                history.routing_round,
                previous_agency=history.current_agency,
                agency_code=event.agency_code,
                confidence=1.0,
                reasons=(f"{reason}: {event.reason}" if event.reason else reason,),
                table_version=decision.table_version,
                model_version=decision.model_version,
                region=decision.region,
                category=decision.category,
                decided_by=event.operator,
            )

    async def _reassign(
        self,
        connection: Connection,
        cause: ComplaintStatusChanged | RoutingOverrideRequested,
        routing_round: int,
        *,
        previous_agency: str | None,
        agency_code: str,
        confidence: float,
        reasons: tuple[str, ...],
        table_version: str,
        model_version: str | None,
        region: str | None,
        category: str | None,
        decided_by: Actor,
    ) -> None:
        """A new routing round; the new agency gets its full time from today."""
        disposition_due, followup_due = due_dates(datetime.now(UTC))
        routed = ComplaintRouted(
            **cause.caused(
                producer=PRODUCER,
                tracking_number=cause.tracking_number,
                agency_code=agency_code,
                previous_agency_code=previous_agency,
                level=self._agencies[agency_code].level,
                region_code=region,
                category=category,
                confidence=confidence,
                reasons=reasons,
                routing_table_version=table_version,
                model_version=model_version,
                routing_round=routing_round + 1,
                decided_by=decided_by,
                disposition_due=disposition_due,
                followup_due=followup_due,
            )
        )
        await RouterRepository(connection).save_assignments((routed,))
        await self._publish(connection, (routed,))

    async def _publish(self, connection: Connection, routed: Sequence[ComplaintRouted]) -> None:
        await RouterRepository(connection).publish_all(routed, self._topic)
        # Counted when the transaction is about to commit; a rollback retries and counts again,
        # which is rare enough not to matter for a rate.
        for assignment in routed:
            ROUTED.labels(assignment.agency_code, assignment.level.value).inc()
