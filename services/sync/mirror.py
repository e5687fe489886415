"""Draining the mirror queue to national LAPOR exactly once and in order per complaint.

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
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import asyncpg
from prometheus_client import Counter
from pydantic import ValidationError

from services.sync.adapters.lapor_api import ComplaintDraft, FollowupDraft
from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.domain.national import INTEGRATION_ACTOR, PRODUCER
from services.sync.domain.plan import (
    AddFollowup,
    CreateComplaint,
    Forward,
    Ignore,
    MirrorAction,
    plan_mirror,
)
from services.sync.gate import CREDENTIAL_STATUSES, NationalGate, TalksToNational
from services.sync.repository import Done, Mapping, QueuedEvent, SyncRepository
from services.sync.settings import SyncSettings
from shared.db import DATABASE_AWAY
from shared.events import AnyEvent, ComplaintMirrored, parse_event
from shared.group_commit import GroupCommit, each_alone_on
from shared.masking import masked
from shared.topics import COMPLAINT_EVENTS, SYNC_DEAD_LETTERS

log = logging.getLogger(__name__)

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
TAKEN_OVER = Counter(
    "lapor_hub_sync_claims_taken_over_total",
    "Releases and dead letters of a worker whose claim another had taken over (left undone)",
)


class LeaseRunningOutError(Exception):
    """Too little of a claim's lease is left to start another call to national."""


@dataclass
class _Attempt:
    queued: QueuedEvent
    event: AnyEvent
    mapping: Mapping | None
    in_doubt: bool
    lease_ends: float  # time.monotonic() by which the claim may have been taken over


class Mirror(TalksToNational):
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
        self._lease_ends: dict[int, float] = {}  # claimed queue rows: when their lease may end
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
        lease_ends = time.monotonic() + self._settings.sync_lease_s  # before the claim's own now()
        try:
            async with self._pool.acquire() as connection:
                claimed = await SyncRepository(connection).claim(self._settings.sync_lease_s, limit)
        except BaseException:
            self._gate.give_back()
            raise
        if not claimed:
            self._gate.give_back()
        for queued in claimed:
            self._lease_ends[queued.id] = lease_ends
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
        lease_ends = self._lease_ends.pop(queued.id, time.monotonic() + self._settings.sync_lease_s)
        if not admitted:
            try:
                await self._admit(lease_ends)
            except LeaseRunningOutError:
                await self._release(queued, 0.0, "not admitted in time", queued.in_doubt)
                return
        try:
            event = parse_event(queued.payload)
        except ValidationError as error:
            await self._dead(queued, f"unreadable event: {error}", None)
            return
        attempt = _Attempt(queued, event, queued.mapping, queued.in_doubt, lease_ends)
        try:
            await self._execute(attempt, plan_mirror(event))
        except LeaseRunningOutError:
            RETRIES.labels("lease").inc()
            await self._release(
                queued, 0.0, "its lease ran short before the call", attempt.in_doubt
            )
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
                # National's answer may quote the complaint's text back.
                await self._dead(queued, masked(str(error)), error.status)
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
                await self._complete(attempt.queued, "followup")
            case Forward(institution_id, reason):
                national_id = mapping.national_id
                if not await self._checked(
                    attempt, partial(self._forwarded, national_id, institution_id)
                ):
                    await self._gate.call(
                        "forward",
                        partial(self._national.forward, national_id, institution_id, reason),
                    )
                await self._complete(attempt.queued, "forward", institution_id=institution_id)

    async def _checked(self, attempt: _Attempt, applied: Callable[[], Awaitable[bool]]) -> bool:
        """For a write in doubt: whether it was applied (then it is not sent again); otherwise
        a further call is admitted for the write. Not in doubt: False, without a call."""
        if not attempt.in_doubt:
            return False
        if await applied():
            return True
        attempt.in_doubt = False
        await self._admit(attempt.lease_ends)
        return False

    async def _admit(self, lease_ends: float) -> None:
        """Admission for one more call of a claimed event, waited for only while half its lease
        is left for the call (national's timeouts are well under that): a worker held at its
        gate (an open circuit, the pace) never writes once its lease may have run out and
        another worker taken the event over (LeaseRunningOutError)."""
        wait_s = lease_ends - self._settings.sync_lease_s / 2 - time.monotonic()
        try:
            await asyncio.wait_for(self._gate.admit(), max(wait_s, 0.0))
        except TimeoutError:
            raise LeaseRunningOutError from None

    async def _create(self, attempt: _Attempt, draft: ComplaintDraft) -> None:
        national_id: int | None = None
        if attempt.in_doubt:
            national_id = await self._find_created(attempt.queued.tracking_number)
            attempt.in_doubt = False
            if national_id is None:
                await self._admit(attempt.lease_ends)
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
            queued.claim_token,
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
        institution_id: int | None = None,
    ) -> None:
        await self._record(
            Done(
                queued.id,
                queued.claim_token,
                queued.complaint_id,
                detail or outcome,
                institution_id,
            ),
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
            released = await SyncRepository(connection).release(
                queued, retry_in_s=retry_in_s, error=error, in_doubt=doubt
            )
        if not released:
            TAKEN_OVER.inc()

    async def _dead(self, queued: QueuedEvent, error: str, status: int | None) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            repository = SyncRepository(connection)
            if not await repository.dead(queued, SYNC_DEAD_LETTERS.name, error, status):
                TAKEN_OVER.inc()
                return
            with contextlib.suppress(ValidationError):  # unreadable: the table keeps its bytes
                await repository.publish(parse_event(queued.payload), SYNC_DEAD_LETTERS.name)
        log.warning("event %s of %s set aside: %s", queued.event_id, queued.tracking_number, error)
        DEAD_LETTERS.inc()


async def _free_places(places: asyncio.Semaphore, at_most: int) -> int:
    """Wait for one free place, then take every other one free now (up to `at_most`)."""
    await places.acquire()
    taken = 1
    while taken < at_most and not places.locked():
        await places.acquire()  # free: returns at once
        taken += 1
    return taken
