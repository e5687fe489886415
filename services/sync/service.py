"""The sync service's use cases: take events off Kafka into the mirror queue, and replay a dead
letter. National is never called from here, so an outage never holds a Kafka batch: the queue is
drained by `mirror.Mirror`, national's own changes come back through `poller.Poller`, and
`backpressure.Backpressure` pauses consumption while national is down or the queue is full.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import asyncpg

from services.sync.domain.plan import is_mirrored
from services.sync.repository import EventToMirror, SyncRepository
from shared.events import (
    AnyEvent,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatusChanged,
    parse_event,
)


def to_mirror(event: AnyEvent) -> EventToMirror:
    return EventToMirror(event, _tracking_number(event), event.model_dump_json().encode())


def _tracking_number(event: AnyEvent) -> str:
    if isinstance(event, ComplaintReceived):
        return event.complaint.tracking_number
    if isinstance(event, ComplaintRouted | ComplaintStatusChanged):
        return event.tracking_number
    return ""


class SyncService:
    """The consumer's handler: only queues what is to be mirrored (national is never called
    from here, so an outage never holds a Kafka batch)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        queued: Callable[[set[uuid.UUID]], None] = lambda complaints: None,
    ) -> None:
        self._pool = pool
        self._queued = queued  # told the complaints of the events queued (the drain wakes)

    async def handle(self, event: AnyEvent) -> None:
        await self.apply_together((event,))

    async def apply_together(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """Queue the events to mirror among `events` (each of a different complaint), in one
        statement; all of them are taken (the others have nothing to mirror)."""
        mirrored = [to_mirror(event) for event in events if is_mirrored(event)]
        if mirrored:
            async with self._pool.acquire() as connection:
                await SyncRepository(connection).enqueue(mirrored)
            self._queued({e.event.complaint_id for e in mirrored})
        return {event.event_id for event in events}

    async def replay(self, dead_id: int) -> int:
        """Queue a dead letter again; returns how many events were queued (0: not found or
        already replayed)."""
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            dead = await repository.dead_letter(dead_id)
            if dead is None or dead.replayed_at is not None:
                return 0
            if dead.queue_id is not None:
                return await repository.replay(dead)
            # Refused on the way in from Kafka: through the handler again, as if redelivered.
            await repository.mark_replayed(dead_id)
            event = parse_event(dead.payload or b"")
            if not is_mirrored(event):
                return 0
            return await repository.enqueue((to_mirror(event),))
