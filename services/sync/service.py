"""The sync service layer: take events off Kafka into the mirror queue, drain the queue to
national LAPOR exactly once and in order, and bring national admins' changes back.

Exactly once without help from national: the local -> national id mapping is stored in the
transaction that completes the create (with its `ComplaintMirrored` in the outbox). A write
whose outcome is unknown (timeout, cut connection, a worker that died mid-call) leaves its queue
row in doubt, and the next attempt first asks national whether it was applied: a complaint is
looked up by its reference tag, a follow-up among the complaint's follow-ups, a forward in its
disposition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import asyncpg
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from services.sync.adapters.lapor_api import (
    ComplaintDraft,
    ComplaintRecord,
    FollowupDraft,
    tracking_number_in,
)
from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.domain.consumption import keep_paused
from services.sync.domain.national import (
    INTEGRATION_ACTOR,
    PRODUCER,
    actions_by_others,
    disposed_to_province,
    received_from_national,
    status_change,
)
from services.sync.domain.plan import (
    AddFollowup,
    CreateComplaint,
    Forward,
    Ignore,
    MirrorAction,
    is_mirrored,
    plan_mirror,
)
from services.sync.gate import CREDENTIAL_STATUSES, NationalGate
from services.sync.repository import Done, EventToMirror, Mapping, QueuedEvent, SyncRepository
from services.sync.settings import SyncSettings
from shared.consumer import ConsumptionSwitch
from shared.db import DATABASE_AWAY
from shared.events import (
    AnyEvent,
    ComplaintMirrored,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatusChanged,
    parse_event,
)
from shared.group_commit import GroupCommit, each_alone_on
from shared.topics import COMPLAINT_EVENTS, SYNC_DEAD_LETTERS

log = logging.getLogger(__name__)

BACKLOG = Gauge("lapor_hub_sync_backlog_events", "Events waiting to be mirrored to national")
BACKLOG_OLDEST = Gauge(
    "lapor_hub_sync_backlog_oldest_age_seconds", "Age of the oldest event waiting to be mirrored"
)
CONSUMPTION_PAUSED = Gauge(
    "lapor_hub_sync_consumption_paused", "1 while Kafka consumption is paused (backpressure)"
)
MIRRORED = Counter(
    "lapor_hub_sync_mirrored_total",
    "Events mirrored (or found already mirrored), by outcome",
    ["outcome"],
)
RETRIES = Counter(
    "lapor_hub_sync_retries_total", "Events put back for another attempt, by cause", ["cause"]
)
AMBIGUOUS_RESOLVED = Counter(
    "lapor_hub_sync_ambiguous_resolved_total",
    "Writes in doubt checked on the national side before sending again, by what was found",
    ["operation", "found"],
)
DEAD_LETTERS = Counter(
    "lapor_hub_sync_dead_letters_total", "Events national rejected, set aside for an operator"
)
NATIONAL_CHANGES = Counter(
    "lapor_hub_sync_national_changes_total",
    "National admins' actions published as local events, by event type",
    ["event_type"],
)


@dataclass
class _Attempt:
    queued: QueuedEvent
    event: AnyEvent
    mapping: Mapping | None
    in_doubt: bool


def _to_mirror(event: AnyEvent) -> EventToMirror:
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
        await self.queue((event,))

    async def queue(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        """Queue the events to mirror among `events` (each of a different complaint), in one
        statement; all of them are taken (the others have nothing to mirror)."""
        mirrored = [_to_mirror(event) for event in events if is_mirrored(event)]
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
            await connection.execute(
                "UPDATE sync.dead_letters SET replayed_at = now() WHERE id = $1", dead_id
            )
            event = parse_event(dead.payload or b"")
            if not is_mirrored(event):
                return 0
            return await repository.enqueue((_to_mirror(event),))


class Backpressure:
    """Pauses Kafka consumption while national is down or the queue is at its bound."""

    def __init__(
        self, pool: asyncpg.Pool, gate: NationalGate, switch: ConsumptionSwitch, bound: int
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._switch = switch
        self._bound = bound

    async def check(self) -> None:
        async with self._pool.acquire() as connection:
            pending, oldest = await SyncRepository(connection).backlog()
        BACKLOG.set(pending)
        BACKLOG_OLDEST.set(oldest)
        pause = keep_paused(self._switch.paused, self._gate.breaker.state, pending, self._bound)
        if pause and not self._switch.paused:
            log.info(
                "pausing Kafka consumption (circuit %s, backlog %d)",
                self._gate.breaker.state,
                pending,
            )
        if not pause and self._switch.paused:
            log.info("resuming Kafka consumption (backlog %d)", pending)
        # Applied every time: a rebalance may have assigned partitions since.
        if pause:
            self._switch.pause()
        else:
            self._switch.resume()
        CONSUMPTION_PAUSED.set(int(pause))

    async def run(self, interval_s: float = 0.2) -> None:
        while True:
            try:
                await self.check()
            except DATABASE_AWAY as error:
                log.warning("backpressure check failed: %r", error)
            await asyncio.sleep(interval_s)


class _TalksToNational:
    """What the drain and the poller share: the database, the gate, where events go."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: NationalGate,
        settings: SyncSettings,
        topic: str = COMPLAINT_EVENTS.name,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._national = gate.client
        self._settings = settings
        self._topic = topic


class Mirror(_TalksToNational):
    """Drains the mirror queue: one claimer hands due events (each the next of its complaint) to
    at most `concurrency` calls in flight, claiming as many as there are free places (up to
    `sync_claim_batch`) in one statement; each call still waits for the gate's pace. When
    nothing more is due the claimer waits to be woken: by events queued in this process, or by
    an event recorded whose complaint has a next one waiting (at most `sync_idle_poll_s`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: NationalGate,
        settings: SyncSettings,
        topic: str = COMPLAINT_EVENTS.name,
    ) -> None:
        super().__init__(pool, gate, settings, topic)
        self._due = asyncio.Event()
        self._in_flight: set[uuid.UUID] = set()  # complaints with an event claimed
        self._followed: set[uuid.UUID] = set()  # ... and a next one queued since
        self._queued_since_claim: set[uuid.UUID] = set()
        # Every event of a group goes on (and frees its place) at once, so the claimer finds
        # all their places free together and claims for them in one statement.
        # A created complaint whose national id another complaint is already mapped to fails
        # its own recording only (the others of its group are recorded one by one).
        self._recording = GroupCommit(
            each_alone_on(asyncpg.UniqueViolationError, self._record_together),
            linger_s=settings.sync_outcome_linger_s,
        )

    def queued(self, complaints: set[uuid.UUID]) -> None:
        """Events of these complaints were queued: claim again, unless each has an event in
        flight (its next is claimed once that one is recorded)."""
        self._followed |= complaints & self._in_flight
        self._queued_since_claim |= complaints
        if complaints - self._in_flight:
            self._due.set()

    async def run(self) -> None:
        places = asyncio.Semaphore(self._settings.sync_concurrency)
        async with asyncio.TaskGroup() as calls:
            while True:
                free = await _free_places(places, self._settings.sync_claim_batch)
                try:
                    claimed = await self.claim_due(free)
                except Exception as error:  # the drain goes on, whatever failed
                    if isinstance(error, DATABASE_AWAY):
                        log.warning("mirror: database unavailable (%r)", error)
                    else:
                        log.exception("mirror: claiming failed unexpectedly; going on")
                    claimed = []
                    await asyncio.sleep(1.0)
                for _ in range(free - len(claimed)):
                    places.release()
                for number, queued in enumerate(claimed):
                    calls.create_task(self._mirror_in_place(queued, number == 0, places))
                if len(claimed) < free:  # nothing more is due now
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._due.wait(), self._settings.sync_idle_poll_s)

    async def _mirror_in_place(
        self, queued: QueuedEvent, admitted: bool, places: asyncio.Semaphore
    ) -> None:
        try:
            await self.mirror(queued, admitted)
        except DATABASE_AWAY as error:
            # Its lease runs out and it is taken up again, in doubt.
            log.warning("mirror: database unavailable (%r)", error)
        except Exception:
            # A failure must not reach the task group: it would stop the whole drain while the
            # service still looks alive. Logged loudly; the lease brings the event back.
            log.exception("mirror: unexpected failure; going on")
        finally:
            places.release()

    async def claim_due(self, limit: int) -> list[QueuedEvent]:
        """Up to `limit` due events, claimed once a call to national is admitted (the first
        event's; the others are admitted one by one as they go)."""
        await self._gate.admit()
        # Whatever is queued or recorded from now on wakes the next claim.
        self._due.clear()
        self._queued_since_claim.clear()
        try:
            async with self._pool.acquire() as connection:
                claimed = await SyncRepository(connection).claim(self._settings.sync_lease_s, limit)
        except BaseException:
            self._gate.give_back()
            raise
        if not claimed:
            self._gate.give_back()
        for queued in claimed:
            self._in_flight.add(queued.complaint_id)
            if queued.complaint_id in self._queued_since_claim:  # maybe after the claim's look
                self._followed.add(queued.complaint_id)
        return claimed

    async def mirror_due(self, limit: int = 1) -> int:
        """One step of the drain for a caller that drives it (tests): claim up to `limit`
        events, mirror them side by side; returns how many there were."""
        claimed = await self.claim_due(limit)
        await asyncio.gather(*(self.mirror(q, n == 0) for n, q in enumerate(claimed)))
        return len(claimed)

    def _backoff(self, attempts: int) -> float:
        return min(
            self._settings.sync_retry_max_s,
            self._settings.sync_retry_initial_s * 2.0 ** max(0, attempts - 1),
        )

    async def mirror(self, queued: QueuedEvent, admitted: bool = True) -> None:
        """Mirror one claimed event. Not yet `admitted`: its call waits for the gate, for at
        most half its lease (national down, say); then it is put back, as it was."""
        try:
            await self._mirror(queued, admitted)
        finally:
            complaint = queued.complaint_id
            self._in_flight.discard(complaint)
            if queued.followed or complaint in self._followed:  # its next event may be due
                self._followed.discard(complaint)
                self._due.set()

    async def _mirror(self, queued: QueuedEvent, admitted: bool) -> None:
        if not admitted:
            try:
                await asyncio.wait_for(self._gate.admit(), self._settings.sync_lease_s / 2)
            except TimeoutError:
                await self._release(queued, 0.0, "not admitted in time", queued.in_doubt)
                return
        try:
            event = parse_event(queued.payload)
        except ValidationError as error:
            await self._dead(queued, f"unreadable event: {error}", None)
            return
        attempt = _Attempt(queued, event, queued.mapping, in_doubt=queued.in_doubt)
        try:
            await self._execute(attempt, plan_mirror(event))
        except RateLimitedError as error:
            RETRIES.labels("rate_limited").inc()
            await self._release(queued, error.retry_after, str(error), attempt.in_doubt)
        except AmbiguousWriteError as error:
            RETRIES.labels("ambiguous").inc()
            await self._release(queued, self._backoff(queued.attempts), str(error), True)
        except NationalUnavailableError as error:
            RETRIES.labels("unavailable").inc()
            await self._release(
                queued, self._backoff(queued.attempts), str(error), attempt.in_doubt
            )
        except RejectedError as error:
            if error.status not in CREDENTIAL_STATUSES:
                await self._dead(queued, str(error), error.status)
                return
            RETRIES.labels("credentials").inc()
            await self._release(
                queued, self._settings.sync_retry_max_s, str(error), attempt.in_doubt
            )

    async def _execute(self, attempt: _Attempt, action: MirrorAction) -> None:
        """Carry out one planned action; the caller holds one admitted call for it."""
        mapping = attempt.mapping
        match action:
            case Ignore(reason):
                self._gate.give_back()
                await self._complete(attempt.queued, "ignored", reason)
            case CreateComplaint() if mapping is not None:
                self._gate.give_back()
                await self._complete(attempt.queued, "already mirrored")
            case CreateComplaint(complaint_draft):
                await self._create(attempt, complaint_draft)
            case _ if mapping is None:
                self._gate.give_back()
                await self._dead(attempt.queued, "its complaint is not mirrored nationally", None)
            case Forward(institution_id, _) if mapping.institution_id == institution_id:
                self._gate.give_back()
                await self._complete(attempt.queued, "already with the institution")
            case AddFollowup(content, status):
                draft = FollowupDraft(
                    complaint_id=mapping.national_id, content=content, status=status
                )
                if not await self._checked(attempt, partial(self._followup_found, draft)):
                    await self._gate.call(
                        "add_followup", partial(self._national.add_followup, draft)
                    )
                await self._complete(attempt.queued, "followup", written=True)
            case Forward(institution_id, reason):
                national_id = mapping.national_id
                if not await self._checked(
                    attempt, partial(self._forwarded, national_id, institution_id)
                ):
                    await self._gate.call(
                        "forward",
                        partial(self._national.forward, national_id, institution_id, reason),
                    )
                await self._complete(
                    attempt.queued, "forward", written=True, institution_id=institution_id
                )

    async def _checked(self, attempt: _Attempt, applied: Callable[[], Awaitable[bool]]) -> bool:
        """For a write in doubt: whether it was applied (then it is not sent again); otherwise
        a further call is admitted for the write. Not in doubt: False, without a call."""
        if not attempt.in_doubt:
            return False
        if await applied():
            return True
        attempt.in_doubt = False
        await self._gate.admit()
        return False

    async def _create(self, attempt: _Attempt, draft: ComplaintDraft) -> None:
        national_id: int | None = None
        if attempt.in_doubt:
            national_id = await self._find_created(attempt.queued.tracking_number)
            attempt.in_doubt = False
            if national_id is None:
                await self._gate.admit()
        if national_id is None:
            created = await self._gate.call(
                "create_complaint", partial(self._national.create_complaint, draft)
            )
            national_id = created.complaint_id
        await self._created(attempt.queued, attempt.event, national_id, draft.institution_id)

    async def _find_created(self, tracking_number: str) -> int | None:
        """After a create in doubt: the national complaint carrying its tag, if it was made."""
        found = await self._gate.call(
            "find_by_reference", partial(self._national.find_by_reference, tracking_number)
        )
        AMBIGUOUS_RESOLVED.labels("create", str(bool(found)).lower()).inc()
        return min(record.complaint_id for record in found) if found else None

    async def _followup_found(self, draft: FollowupDraft) -> bool:
        followups = await self._gate.call(
            "followups", partial(self._national.followups, draft.complaint_id)
        )
        found = any(f.content == draft.content and f.actor == INTEGRATION_ACTOR for f in followups)
        AMBIGUOUS_RESOLVED.labels("followup", str(found).lower()).inc()
        return found

    async def _forwarded(self, national_id: int, institution_id: int) -> bool:
        record = await self._gate.call("complaint", partial(self._national.complaint, national_id))
        found = (
            record.disposition is not None and record.disposition.institution_id == institution_id
        )
        AMBIGUOUS_RESOLVED.labels("forward", str(found).lower()).inc()
        return found

    async def _created(
        self, queued: QueuedEvent, event: AnyEvent, national_id: int, institution_id: int | None
    ) -> None:
        mirrored = ComplaintMirrored(
            **event.caused(
                producer=PRODUCER,
                tracking_number=queued.tracking_number,
                national_complaint_id=str(national_id),
                mirrored_event_id=event.event_id,
            )
        )
        done = Done(
            queued.id,
            queued.complaint_id,
            "created",
            institution_id=institution_id,
            mirrored=mirrored,
            national_id=national_id,
        )
        try:
            await self._record(done, "created")
        except asyncpg.UniqueViolationError as collision:
            # Never dropped quietly: every later event of the complaint would be set aside.
            reason = f"mapping to national id {national_id} not saved: {collision.detail}"
            await self._dead(queued, reason, None)

    async def _complete(
        self,
        queued: QueuedEvent,
        outcome: str,
        detail: str | None = None,
        *,
        written: bool = False,
        institution_id: int | None = None,
    ) -> None:
        await self._record(
            Done(queued.id, queued.complaint_id, detail or outcome, written, institution_id),
            outcome,
        )

    async def _record(self, done: Done, outcome: str) -> None:
        """Record an outcome together with those of other events done meanwhile (group commit:
        while the previous recording statement runs, or within `sync_outcome_linger_s`); the
        event's place is held until it is recorded, so its complaint's next event is claimed
        only then."""
        await self._recording.submit(done)
        MIRRORED.labels(outcome).inc()

    async def _record_together(self, done: list[Done]) -> None:
        async with self._pool.acquire() as connection:
            await SyncRepository(connection).record(done, self._topic)

    async def _release(
        self, queued: QueuedEvent, retry_in_s: float, error: str, doubt: bool
    ) -> None:
        async with self._pool.acquire() as connection:
            await SyncRepository(connection).release(
                queued.id, retry_in_s=retry_in_s, error=error, in_doubt=doubt
            )

    async def _dead(self, queued: QueuedEvent, error: str, status: int | None) -> None:
        log.warning("event %s of %s set aside: %s", queued.event_id, queued.tracking_number, error)
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            await repository.dead(queued, SYNC_DEAD_LETTERS.name, error, status)
            with contextlib.suppress(ValidationError):  # unreadable: the table keeps its bytes
                await repository.publish(parse_event(queued.payload), SYNC_DEAD_LETTERS.name)
        DEAD_LETTERS.inc()


class Poller(_TalksToNational):
    """Reads what changed nationally since its cursor and publishes national admins' actions."""

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except (
                NationalUnavailableError,
                AmbiguousWriteError,
                RateLimitedError,
                RejectedError,
            ) as error:
                log.info("polling national: %s", error)
            except DATABASE_AWAY as error:
                log.warning("polling national: database unavailable (%r)", error)
            await asyncio.sleep(self._settings.sync_poll_interval_s)

    async def poll(self) -> int:
        """One pass over everything changed since the cursor; returns events published."""
        async with self._pool.acquire() as connection:
            cursor = await SyncRepository(connection).poll_cursor()
        published = 0
        while True:
            await self._gate.admit()
            page = await self._gate.call(
                "changed_since",
                partial(self._national.changed_since, cursor, self._settings.sync_poll_page),
            )
            async with self._pool.acquire() as connection:
                mappings = await SyncRepository(connection).mappings_of_national(
                    [record.complaint_id for record in page.complaints]
                )
            for record in page.complaints:
                published += await self._apply(record, mappings.get(record.complaint_id))
                cursor = record.updated_at
            async with self._pool.acquire() as connection:
                await SyncRepository(connection).advance_poll_cursor(cursor)
            if page.next_since is None or not page.complaints:
                return published

    async def _apply(self, record: ComplaintRecord, mapping: Mapping | None) -> int:
        """One changed national complaint, with its mapping as read for its page."""
        if mapping is None:
            if tracking_number_in(record.tags) is not None or not disposed_to_province(record):
                return 0  # lapor-hub's own (its mapping is on the way), or not the province's
            return await self._received(record)
        # National's clock against lapor-hub's: a change no later than lapor-hub's last write
        # is taken for lapor-hub's own (LAPOR_HUB_SYNC docs: keep clocks in sync).
        if record.updated_at <= mapping.last_written_at:
            return 0
        await self._gate.admit()
        detailed = await self._gate.call(
            "complaint", partial(self._national.complaint, record.complaint_id)
        )
        actions = actions_by_others(detailed.logs, mapping.national_seen_at)
        institution = detailed.disposition.institution_id if detailed.disposition else None
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            for entry in actions:
                change = status_change(
                    detailed,
                    entry,
                    complaint_id=mapping.complaint_id,
                    tracking_number=mapping.tracking_number,
                    correlation_id=mapping.correlation_id,
                )
                await repository.publish(change, self._topic)
                NATIONAL_CHANGES.labels(change.event_type).inc()
            seen_until = max((e.at for e in detailed.logs), default=record.updated_at)
            await repository.seen(mapping.complaint_id, seen_until, institution)
        return len(actions)

    async def _received(self, record: ComplaintRecord) -> int:
        received = received_from_national(record)
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            if not await repository.save_mapping(
                complaint_id=received.complaint_id,
                tracking_number=record.tracking_id,
                national_id=record.complaint_id,
                origin="national",
                correlation_id=received.correlation_id,
                institution_id=record.disposition.institution_id if record.disposition else None,
                national_seen_at=record.updated_at,
            ):
                return 0
            await repository.publish(received, self._topic)
        NATIONAL_CHANGES.labels(received.event_type).inc()
        return 1


async def _free_places(places: asyncio.Semaphore, at_most: int) -> int:
    """Wait for one free place, then take every other one free now (up to `at_most`)."""
    await places.acquire()
    taken = 1
    while taken < at_most and not places.locked():
        await places.acquire()  # free: returns at once
        taken += 1
    return taken
