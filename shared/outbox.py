"""Transactional outbox: events are stored with the state they announce, then relayed to Kafka.

A service writes its outgoing events with `enqueue` inside the transaction that changes its
state, so an event exists if and only if the change committed. `OutboxRelay` publishes pending
rows in order with the idempotent producer (acks=all) and marks them published. While Kafka is
away rows simply accumulate (the depth and oldest age are metrics) and are drained, in order,
when it returns.

Rows are taken by state (not yet published, in id order), never by a moving id cursor (which can
skip a row whose transaction commits late). Only one relay per schema publishes at a time: a
PostgreSQL advisory lock held by its listening connection, which also reads and marks every
batch, so a relay that lost the lock (with its connection) cannot publish any more; one
complaint's events cannot overtake each other even with several instances of a service running.
Losing Kafka or PostgreSQL is never fatal to the relay: it backs off, keeps measuring the
backlog, and stands again for leadership when its connection returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram

from shared.db import Connection
from shared.events import Event, encode_event
from shared.kafka import idempotent_producer
from shared.topics import COMPLAINT_EVENTS

log = logging.getLogger(__name__)

OUTBOX_PENDING = Gauge(
    "lapor_hub_outbox_pending_events", "Events stored but not yet published to Kafka", ["schema"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "lapor_hub_outbox_oldest_pending_age_seconds",
    "Age of the oldest event not yet published to Kafka",
    ["schema"],
)
OUTBOX_PUBLISHED = Counter(
    "lapor_hub_outbox_published_events_total", "Events the relay published to Kafka", ["schema"]
)
OUTBOX_FAILURES = Counter(
    "lapor_hub_outbox_publish_failures_total", "Batches Kafka did not acknowledge", ["schema"]
)
OUTBOX_PUBLISH_SECONDS = Histogram(
    "lapor_hub_outbox_publish_duration_seconds",
    "From an event's commit to Kafka's acknowledgement",
    ["schema"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


# Kafka or PostgreSQL away (or a connection lost): retried with backoff, never fatal.
RELAY_FAILURES = (KafkaError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _channel(schema: str) -> str:
    return f"{schema}_outbox"


async def enqueue(
    connection: Connection,
    schema: str,
    event: Event,
    topic: str = COMPLAINT_EVENTS.name,
    *,
    along: str = "",
    along_args: Sequence[object] = (),
    only_if: str = "",
) -> bool:
    """Store an event in the schema's outbox (see `enqueue_all`)."""
    return await enqueue_all(
        connection, schema, (event,), topic, along=along, along_args=along_args, only_if=only_if
    )


async def enqueue_all(
    connection: Connection,
    schema: str,
    events: Sequence[Event],
    topic: str = COMPLAINT_EVENTS.name,
    *,
    along: str = "",
    along_args: Sequence[object] = (),
    only_if: str = "",
    each_only_if: str = "",
) -> bool:
    """Store events in the schema's outbox, in the given order, inside the caller's transaction,
    or together with the state they announce: `along` are data-modifying CTEs (`name AS (INSERT
    ...)`, parameters $1..$n given as `along_args`) run in the same statement, which is atomic on
    its own, so state and events take one round trip and no transaction. With `only_if` (the
    name of one of those CTEs) the events are stored only when it returned a row (the state did
    change); returns whether they were. With `each_only_if` (a CTE returning `event_id`s) only
    the events whose ids it returned are stored; returns whether it returned any."""
    # The notification is delivered at commit only, so the relay wakes when there is really
    # something to send. Rows are numbered in array order (WITH ORDINALITY), which the outbox's
    # id sequence follows, so the relay publishes them in the order given.
    first = len(along_args) + 1
    p = [f"${first + n}" for n in range(6)]
    condition = (
        f"EXISTS (SELECT 1 FROM {only_if or each_only_if})" if only_if or each_only_if else "true"
    )
    each = f"e.event_id IN (SELECT event_id FROM {each_only_if})" if each_only_if else "true"
    stored: bool = await connection.fetchval(
        f"WITH {along + ', ' if along else ''}"
        f'stored_events AS (INSERT INTO "{schema}".outbox'
        " (event_id, complaint_id, event_type, topic, payload)"
        " SELECT event_id, complaint_id, event_type, topic, payload FROM unnest("
        f"{p[0]}::uuid[], {p[1]}::uuid[], {p[2]}::text[], {p[3]}::bytea[])"
        " WITH ORDINALITY AS e(event_id, complaint_id, event_type, payload, n),"
        f" (SELECT {p[4]}::text AS topic) AS t WHERE {condition} AND {each}"
        " ORDER BY n ON CONFLICT (event_id) DO NOTHING)"
        f" SELECT {condition} FROM (SELECT pg_notify({p[5]}, '')) AS woken",
        *along_args,
        [event.event_id for event in events],
        [event.complaint_id for event in events],
        [event.event_type for event in events],
        [encode_event(event) for event in events],
        topic,
        _channel(schema),
    )
    return stored


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int = 500
    poll_interval_s: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 15.0
    keep_published_days: int = 7
    housekeeping_interval_s: float = 5.0


class OutboxRelay:
    """Publishes one schema's outbox to Kafka until stopped."""

    def __init__(
        self,
        database_url: str,
        pool: asyncpg.Pool,
        schema: str,
        bootstrap_servers: str,
        settings: RelaySettings = RelaySettings(),
    ) -> None:
        self._database_url = database_url
        self._pool = pool
        self._schema = schema
        self._bootstrap_servers = bootstrap_servers
        self._settings = settings
        self._wake = asyncio.Event()
        self._acknowledged: list[int] = []  # sent, acknowledged by Kafka, not yet marked
        self._producer_name = schema.encode()  # a service's schema is named after it
        self._producer: AIOKafkaProducer | None = None
        self._next_housekeeping = 0.0

    async def run(self) -> None:
        """Publish as the schema's only relay; stand again for leadership whenever the
        connection holding it is lost (a PostgreSQL restart ends the lock, not the relay)."""
        while True:
            listener = await self._listen_as_leader()
            try:
                await self._publish_while_leading(listener)
            finally:
                # Stopping: mark what Kafka has, so that a restart does not send it again.
                with contextlib.suppress(*RELAY_FAILURES, asyncio.CancelledError):
                    async with asyncio.timeout(1):
                        await self._mark_acknowledged_and_read(listener, 0)
                await self._reset_producer()
                await _close(listener)

    async def _publish_while_leading(self, listener: asyncpg.Connection) -> None:
        """Publish whenever woken or polled; while Kafka or PostgreSQL fails, back off and keep
        measuring the backlog (that is when it grows)."""
        delay = self._settings.retry_initial_s
        while not listener.is_closed():
            try:
                published = await self.publish_pending(listener)
            except RELAY_FAILURES as error:
                OUTBOX_FAILURES.labels(self._schema).inc()
                log.warning(
                    "outbox %s: publishing failed (%r), retrying in %.1f s",
                    self._schema,
                    error,
                    delay,
                )
                await self._reset_producer()
                await self._housekeeping()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_s)
                continue
            delay = self._settings.retry_initial_s
            await self._housekeeping()
            if published < self._settings.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)
                self._wake.clear()

    async def publish_pending(self, leader: asyncpg.Connection) -> int:
        """Publish one batch of pending rows in order; returns how many were published.

        On the connection holding the leader's lock: were it lost (and another relay the
        leader now), these statements fail with it, so no two relays ever publish side by side,
        without a transaction or row locks. One round trip a batch: the rows Kafka acknowledged
        are marked published by the statement reading the next batch (or the next poll's, at
        most `poll_interval_s` later). Rows sent whose marking is lost with the connection are
        sent again by the next leader: consumers absorb the redelivery by event id."""
        producer = await self._ready_producer()
        rows = await self._mark_acknowledged_and_read(leader, self._settings.batch_size)
        if not rows:
            return 0
        sends = [
            await producer.send(
                row["topic"],
                value=row["payload"],
                key=str(row["complaint_id"]).encode(),
                headers=[
                    ("event_type", row["event_type"].encode()),
                    ("producer", self._producer_name),
                    ("content-type", b"application/json"),
                ],
            )
            for row in rows
        ]
        await asyncio.gather(*sends)
        self._acknowledged = [row["id"] for row in rows]
        now = time.time()
        for row in rows:
            OUTBOX_PUBLISH_SECONDS.labels(self._schema).observe(now - row["created_at"].timestamp())
        OUTBOX_PUBLISHED.labels(self._schema).inc(len(rows))
        return len(rows)

    async def _mark_acknowledged_and_read(
        self, leader: asyncpg.Connection, limit: int
    ) -> list[asyncpg.Record]:
        """Mark the rows Kafka acknowledged, and read the next `limit` pending ones."""
        acknowledged, self._acknowledged = self._acknowledged, []
        try:
            rows: list[asyncpg.Record] = await leader.fetch(
                f'WITH marked AS (UPDATE "{self._schema}".outbox'
                " SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($2::bigint[]))"
                " SELECT id, topic, complaint_id, payload, event_type, created_at"
                f' FROM "{self._schema}".outbox WHERE published_at IS NULL'
                " AND id <> ALL($2::bigint[]) ORDER BY id LIMIT $1",  # the marked, as of before
                limit,
                acknowledged,
            )
        except BaseException:
            self._acknowledged = acknowledged  # to be marked by the next statement that can
            raise
        return rows

    async def _listen_as_leader(self) -> asyncpg.Connection:
        """A dedicated connection (LISTEN does not survive a pool's reset) holding the lock."""
        while True:
            try:
                listener = await asyncpg.connect(self._database_url)
            except RELAY_FAILURES as error:
                log.warning("outbox %s: no database for the relay (%r)", self._schema, error)
                await asyncio.sleep(self._settings.retry_max_s)
                continue
            try:
                # Waits in PostgreSQL until the leader's lock is released (or its connection lost).
                await listener.execute(
                    "SELECT pg_advisory_lock(hashtext($1))", _channel(self._schema)
                )
                await listener.add_listener(_channel(self._schema), lambda *_: self._wake.set())
                # Losing the connection wakes the relay to stand again at once.
                listener.add_termination_listener(lambda _: self._wake.set())
                return listener
            except RELAY_FAILURES as error:
                log.warning("outbox %s: lost the relay's connection (%r)", self._schema, error)
                await _close(listener)
            except BaseException:  # cancelled while following: leave no connection behind
                await _close(listener)
                raise

    async def _housekeeping(self) -> None:
        """Now and then: measure the backlog, forget rows published long ago. Best effort: the
        database being away shows in the failures metric, and the next round tries again."""
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self._settings.housekeeping_interval_s
        try:
            await self._measure_and_trim()
        except RELAY_FAILURES as error:
            log.info("outbox %s: backlog not measured (%r)", self._schema, error)

    async def _measure_and_trim(self) -> None:
        await self._pool.execute(
            f'DELETE FROM "{self._schema}".outbox'
            " WHERE published_at < now() - make_interval(days => $1)",
            self._settings.keep_published_days,
        )
        row = await self._pool.fetchrow(
            f"SELECT count(*) AS pending, extract(epoch FROM now() - min(created_at)) AS oldest"
            f' FROM "{self._schema}".outbox WHERE published_at IS NULL'
        )
        assert row is not None
        OUTBOX_PENDING.labels(self._schema).set(row["pending"])
        OUTBOX_OLDEST_AGE.labels(self._schema).set(float(row["oldest"] or 0))

    async def _ready_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = idempotent_producer(
                self._bootstrap_servers, f"lapor-hub-{self._schema}-outbox"
            )
            try:
                await producer.start()
            except BaseException:  # Kafka away: close what start() opened, try again later
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


async def _close(connection: asyncpg.Connection) -> None:
    with contextlib.suppress(*RELAY_FAILURES):
        await connection.close(timeout=1)
