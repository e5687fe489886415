"""The durable delivery queue and its workers.

Each row is one notification on one channel. Workers claim due rows (`FOR UPDATE SKIP LOCKED`)
under a lease: a row whose worker died mid-send is claimed again when the lease runs out, so a
restart loses nothing (and a receiver may see a delivery twice, with the same delivery id).
Claims are serialised by a transaction-scoped advisory lock, which makes the per-agency limit of
deliveries in flight exact across workers and processes. After a success the `AgencyNotified`
event goes to the outbox in the same transaction (for an alert about a complaint); after the
last failed attempt the row becomes a dead letter that an operator can send again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.notifier.domain.citizen import CITIZEN
from services.notifier.domain.retry import RetryPolicy
from services.notifier.repository import WAKE_CHANNEL, NotifierRepository
from services.notifier.senders import DeliveryFailedError, SmtpSender, WebhookSender
from services.notifier.service import PRODUCER
from shared.db import DATABASE_AWAY
from shared.events import AgencyNotified, NotificationChannel, caused_by
from shared.group_commit import GroupCommit

log = logging.getLogger(__name__)
DRAIN_S = 5.0

DELIVERIES = Counter(
    "lapor_hub_notifier_deliveries_total",
    "Delivery attempts by channel, agency and outcome (delivered, failed, dead)",
    ["channel", "agency", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "lapor_hub_notifier_delivery_latency_seconds",
    "From a notification's enqueueing to its successful delivery",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
QUEUE_DEPTH = Gauge(
    "lapor_hub_notifier_queue_depth", "Deliveries waiting or being sent", ["channel"]
)
QUEUE_OLDEST = Gauge(
    "lapor_hub_notifier_queue_oldest_age_seconds", "Age of the oldest delivery not yet done"
)
DEAD_LETTERS = Gauge(
    "lapor_hub_notifier_dead_letters", "Deliveries that exhausted their attempts", ["channel"]
)


@dataclass(frozen=True)
class ClaimedDelivery:
    delivery_id: uuid.UUID
    complaint_id: uuid.UUID | None  # None: a notice of changed contacts
    tracking_number: str | None
    agency_code: str
    kind: str
    channel: NotificationChannel
    payload: dict[str, Any]
    attempts: int
    cause_event_id: uuid.UUID
    correlation_id: uuid.UUID
    created_at: datetime
    secret: str | None


@dataclass(frozen=True)
class Claim:
    deliveries: list[ClaimedDelivery]
    # Agencies with due deliveries held back by their limit: a slot of theirs freeing is worth
    # claiming again for.
    waiting_agencies: frozenset[str]


class DeliveryQueue:
    def __init__(
        self,
        pool: asyncpg.Pool,
        policy: RetryPolicy,
        *,
        per_agency: int,
        lease_s: float,
        topic: str,
        outcome_linger_s: float = 0.0,
    ) -> None:
        self._pool = pool
        self._policy = policy
        self._per_agency = per_agency
        self._lease_s = lease_s
        self._topic = topic
        self._marking = GroupCommit(self._mark_delivered, linger_s=outcome_linger_s)

    async def claim(self, limit: int) -> Claim:
        """Up to `limit` due deliveries, no agency beyond its limit of deliveries in flight (see
        the migration defining `claim_deliveries`)."""
        async with self._pool.acquire() as connection:
            rows = await NotifierRepository(connection).claim_deliveries(
                limit, self._per_agency, self._lease_s
            )
        return Claim(
            deliveries=[
                ClaimedDelivery(
                    **{
                        **dict(row),
                        "channel": NotificationChannel(row["channel"]),
                        "payload": json.loads(row["payload"]),
                    }
                )
                for row in rows
                if row["delivery_id"] is not None
            ],
            waiting_agencies=frozenset(
                row["agency_code"] for row in rows if row["delivery_id"] is None
            ),
        )

    async def delivered(self, delivery: ClaimedDelivery) -> None:
        """Mark it delivered and, for an agency's alert, announce `AgencyNotified` in the same
        statement. Deliveries done while that statement runs, or within `outcome_linger_s` of
        this one, are marked together (group commit: one round trip for several)."""
        if not await self._marking.submit(delivery):
            return  # another worker took it over after our lease ran out
        DELIVERIES.labels(delivery.channel.value, delivery.agency_code, "delivered").inc()
        DELIVERY_LATENCY.labels(delivery.channel.value).observe(
            time.time() - delivery.created_at.timestamp()
        )

    async def _mark_delivered(self, deliveries: list[ClaimedDelivery]) -> list[bool]:
        """For each, whether it was still ours to mark: whether any was (for a single one, the
        common case, exactly)."""
        announced = {
            delivery.delivery_id: self._agency_notified(delivery)
            for delivery in deliveries
            if delivery.agency_code != CITIZEN and delivery.complaint_id is not None
        }
        async with self._pool.acquire() as connection:
            marked = await NotifierRepository(connection).mark_delivered(
                [
                    (delivery.delivery_id, delivery.attempts, announced.get(delivery.delivery_id))
                    for delivery in deliveries
                ],
                self._topic,
            )
        return [marked] * len(deliveries)

    def _agency_notified(self, delivery: ClaimedDelivery) -> AgencyNotified:
        assert delivery.complaint_id is not None and delivery.tracking_number is not None
        return AgencyNotified(
            **caused_by(
                delivery.complaint_id,
                delivery.correlation_id,
                delivery.cause_event_id,
                producer=PRODUCER,
                tracking_number=delivery.tracking_number,
                agency_code=delivery.agency_code,
                channel=delivery.channel,
                delivery_id=delivery.delivery_id,
                attempts=delivery.attempts,
            )
        )

    async def failed(self, delivery: ClaimedDelivery, error: DeliveryFailedError) -> bool:
        """Schedule the next attempt, or make it a dead letter; True for a dead letter."""
        decision = self._policy.after_failure(
            delivery.attempts, permanent=error.permanent, retry_after=error.retry_after
        )
        async with self._pool.acquire() as connection:
            await NotifierRepository(connection).delivery_failed(
                delivery.delivery_id, delivery.attempts, str(error)[:2000], decision.delay
            )
        outcome = "dead" if decision.give_up else "failed"
        DELIVERIES.labels(delivery.channel.value, delivery.agency_code, outcome).inc()
        return decision.give_up

    async def measure(self) -> None:
        async with self._pool.acquire() as connection:
            rows = await NotifierRepository(connection).queue_by_channel()
        for channel in NotificationChannel:
            QUEUE_DEPTH.labels(channel.value).set(0)
            DEAD_LETTERS.labels(channel.value).set(0)
        for row in rows:
            QUEUE_DEPTH.labels(row["channel"]).set(row["waiting"])
            DEAD_LETTERS.labels(row["channel"]).set(row["dead"])
        QUEUE_OLDEST.set(max((float(row["oldest"] or 0) for row in rows), default=0.0))


class DeliveryWorker:
    """Sends due deliveries, up to `concurrency` at a time, until cancelled."""

    def __init__(
        self,
        queue: DeliveryQueue,
        smtp: SmtpSender,
        webhooks: WebhookSender,
        *,
        database_url: str,
        concurrency: int,
        poll_s: float,
        citizen_sms_secret: str | None = None,
    ) -> None:
        self._queue = queue
        self._smtp = smtp
        self._webhooks = webhooks
        self._database_url = database_url
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._citizen_sms_secret = citizen_sms_secret
        self._wake = asyncio.Event()
        self._claim_batch = max(1, concurrency // 4)

    async def run(self) -> None:
        listener = await self._listen()
        in_flight: dict[asyncio.Task[None], str] = {}  # each send, and its agency
        waiting_agencies: frozenset[str] = frozenset()
        due = True  # something may be claimable
        next_measure = 0.0
        try:
            while True:
                free = self._concurrency - len(in_flight)
                # Under load, claim a few slots at a time rather than each one as it frees:
                # a claim costs a statement however few rows it takes.
                if due and (free >= self._claim_batch or not in_flight):
                    # Cleared first, so a delivery queued during the claim wakes the next wait.
                    self._wake.clear()
                    claim = await self._claim(free)
                    waiting_agencies = claim.waiting_agencies
                    for delivery in claim.deliveries:
                        in_flight[asyncio.create_task(self._deliver(delivery))] = (
                            delivery.agency_code
                        )
                    due = len(claim.deliveries) == free  # more may be due
                    if due:
                        continue
                if time.monotonic() >= next_measure:
                    next_measure = time.monotonic() + 5.0
                    await self._measure()
                wake = asyncio.create_task(self._woken())
                done, _ = await asyncio.wait(
                    [wake, *in_flight], timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
                freed = {in_flight.pop(task) for task in done if task is not wake}
                # Claim again when a delivery was queued, at every poll (retries fall due,
                # leases run out), or when a send freed a slot a waiting delivery needs.
                due = due or wake in done or not done or not freed.isdisjoint(waiting_agencies)
        finally:
            # On shutdown, sends under way may finish (or their lease brings them back later).
            if in_flight:
                await asyncio.wait(in_flight, timeout=DRAIN_S)
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            if listener is not None:
                await listener.close()

    async def _woken(self) -> None:
        await self._wake.wait()

    async def _claim(self, free: int) -> Claim:
        try:
            return await self._queue.claim(free)
        except DATABASE_AWAY as error:
            log.warning("delivery queue unavailable (%r)", error)
            return Claim([], frozenset())

    async def _measure(self) -> None:
        try:
            await self._queue.measure()
        except DATABASE_AWAY as error:
            log.warning("delivery queue not measured (%r)", error)

    async def _listen(self) -> asyncpg.Connection | None:
        """Woken at once when a delivery is queued; without LISTEN, polling still finds it."""
        try:
            listener = await asyncpg.connect(self._database_url)
        except DATABASE_AWAY as error:
            log.warning("no LISTEN connection (%r); polling only", error)
            return None
        await listener.add_listener(WAKE_CHANNEL, lambda *_: self._wake.set())
        return listener

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        """Send and record the outcome; if the database is away, the lease brings it back."""
        try:
            await self._attempt(delivery)
        except DATABASE_AWAY as error:
            log.warning("delivery %s: outcome not recorded (%r)", delivery.delivery_id, error)

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        try:
            await self._send(delivery)
        except Exception as failure:
            error = (
                failure
                if isinstance(failure, DeliveryFailedError)
                else DeliveryFailedError(f"unexpected: {failure!r}")
            )
            dead = await self._queue.failed(delivery, error)
            log.log(
                logging.ERROR if dead else logging.INFO,
                "delivery %s (%s to %s) attempt %d failed%s: %s",
                delivery.delivery_id,
                delivery.channel,
                delivery.agency_code,
                delivery.attempts,
                ", now a dead letter" if dead else "",
                error,
            )
            return
        await self._queue.delivered(delivery)

    async def _send(self, delivery: ClaimedDelivery) -> None:
        delivery_id = str(delivery.delivery_id)
        if delivery.channel is NotificationChannel.EMAIL:
            await self._smtp.send(delivery_id, delivery.payload)
            return
        secret = self._citizen_sms_secret if delivery.agency_code == CITIZEN else delivery.secret
        if secret is None:
            raise DeliveryFailedError(
                f"{delivery.agency_code} has no {delivery.channel} secret", permanent=True
            )
        payload = delivery.payload
        await self._webhooks.send(delivery_id, payload["url"], payload["body"], secret)
