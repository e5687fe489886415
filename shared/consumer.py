"""Consuming the complaint stream: delivered at least once, applied exactly once.

FastStream's Kafka default (ACK_FIRST) commits before the handler runs, which loses events on a
crash. Here offsets are committed only after a whole batch has been applied (each handler commits
its own database transaction and records the event id, so a redelivery is absorbed). A passing
fault (PostgreSQL restarting) is retried with backoff inside the batch for a bounded time, well
under Kafka's max.poll.interval; past that the batch is rewound and fetched again. An event that
cannot be parsed, or that its handler refuses for any other reason, is handed to `on_poison`
(kept with its reason, for an operator to replay) instead of blocking the partition. An event of
a newer major schema version than the service reads is not poison (see `shared.events`): the
batch is held, nothing committed, and fetched again after a pause until the service is upgraded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from shared.db import TRANSIENT_ERRORS, Connection
from shared.events import AnyEvent, Event, NewerSchemaError, parse_event
from shared.topics import COMPLAINT_EVENTS

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_WITHIN_BATCH_S = 120.0
# Kafka answers a fetch once it has this much, or after this wait: under load a batch gathers
# many events (each service applies a batch's events together, in a few statements) instead of
# one or two per fetch, whose fixed costs then dominated (README, Architecture); when quiet an
# event waits at most the wait.
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 100
# How long a batch holding an event of a newer major schema waits before it is fetched again.
HOLD_NEWER_SCHEMA_S = 5.0

HELD_NEWER_SCHEMA = Counter(
    "lapor_hub_events_held_newer_schema_total",
    "Batches held because an event is of a newer major schema than the service reads",
    ["group"],
)
CONSUMER_LAG = Gauge(
    "lapor_hub_consumer_lag_events",
    "Events in the partition not yet consumed by the group",
    ["group", "partition"],
)

EventHandler = Callable[[AnyEvent], Awaitable[None]]
# Applies, together, whichever of the given events (each the next of a different complaint) it
# takes, and returns their ids; all or nothing, like one event's handler.
LeadingEventsHandler = Callable[[Sequence[AnyEvent]], Awaitable[set[uuid.UUID]]]
PoisonHandler = Callable[[ConsumerRecord[bytes, bytes], Exception], Awaitable[None]]


class ConsumingService(Protocol):
    """What a service's consumer calls: `handle` applies one event, `apply_together` (the one
    bulk handler) the leading events of a batch (`LeadingEventsHandler`)."""

    async def handle(self, event: AnyEvent) -> None: ...

    async def apply_together(self, events: Sequence[AnyEvent]) -> set[uuid.UUID]: ...


async def _retried(call: Callable[[], Awaitable[T]], retry_for_s: float) -> T:
    """`call()`, tried again with backoff while it fails transiently (for up to `retry_for_s`).
    Tenacity steps in only after a first failure: its bookkeeping on every event was a tenth of
    a service's CPU."""
    try:
        return await call()
    except TRANSIENT_ERRORS:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            stop=stop_after_delay(retry_for_s),
            reraise=True,
        )
        return await retrying(call)


def _parsed(record: ConsumerRecord[bytes, bytes]) -> AnyEvent | ValidationError:
    try:
        return parse_event(record.value or b"")
    except ValidationError as error:
        return error


async def apply_record(
    record: ConsumerRecord[bytes, bytes],
    handle: EventHandler,
    on_poison: PoisonHandler,
    retry_for_s: float = RETRY_WITHIN_BATCH_S,
    event: AnyEvent | ValidationError | None = None,
) -> None:
    """Apply one record (`event`: already parsed from it, if it was)."""
    event = _parsed(record) if event is None else event
    if isinstance(event, ValidationError):
        log.error(
            "poison event at %s[%s]@%s: %s", record.topic, record.partition, record.offset, event
        )
        await on_poison(record, event)
        return
    try:
        await _retried(partial(handle, event), retry_for_s)
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        log.exception("event %s refused by its handler", event.event_id)
        await on_poison(record, error)


async def _apply_leading(
    leading: Sequence[AnyEvent], handle_leading: LeadingEventsHandler
) -> set[uuid.UUID]:
    """The ids of the leading events applied together; none when the handler refuses the lot
    (each is then applied alone, which isolates a poison event)."""
    if not leading:
        return set()
    try:
        return await _retried(partial(handle_leading, leading), RETRY_WITHIN_BATCH_S)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        log.exception("%d events not applied together; applying them one by one", len(leading))
    return set()


async def apply_batch(
    records: Sequence[ConsumerRecord[bytes, bytes]],
    handle: EventHandler,
    on_poison: PoisonHandler,
    concurrency: int,
    *,
    handle_leading: LeadingEventsHandler | None = None,
    acts_on: frozenset[bytes] | None = None,
    passes_over: frozenset[tuple[bytes, bytes]] = frozenset(),
) -> None:
    """Apply a batch: one complaint's events in order, different complaints side by side (up to
    `concurrency`), so their database commits overlap instead of queueing. With `acts_on` (event
    types), events whose `event_type` header names another type are passed over unread, and so
    are those whose `event_type` and `producer` headers are a pair in `passes_over` (a service's
    own events of that type).

    With `handle_leading`, the first event of every complaint in the batch is offered to it
    first, all together (one statement for a whole burst instead of one each), then, round by
    round, the next event of every complaint whose previous one it took; the events it leaves,
    and every later one of their complaints, go to `handle` one by one, in order."""
    by_complaint: dict[bytes | None, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    for record in records:
        if _may_act_on(record, acts_on, passes_over):
            by_complaint[record.key].append(record)
    queues = list(by_complaint.values())
    # Every record parsed before any is applied: an event of a newer major schema
    # (NewerSchemaError) holds the whole batch before it changed anything.
    parsed = {id(record): _parsed(record) for queue in queues for record in queue}
    if handle_leading is not None:
        offered, queues = queues, []
        while offered:
            heads = {id(queue[0]): parsed[id(queue[0])] for queue in offered}
            leading = [e for e in heads.values() if not isinstance(e, ValidationError)]
            applied = await _apply_leading(leading, handle_leading)
            again = []
            for queue in offered:
                if _event_id(heads[id(queue[0])]) in applied:
                    if len(queue) > 1:
                        again.append(queue[1:])
                else:
                    queues.append(queue)
            offered = again
    limit = asyncio.Semaphore(concurrency)

    async def apply_in_order(complaint_records: list[ConsumerRecord[bytes, bytes]]) -> None:
        async with limit:
            for record in complaint_records:
                await apply_record(record, handle, on_poison, event=parsed[id(record)])

    async with asyncio.TaskGroup() as group:
        for complaint_records in queues:
            if complaint_records:
                group.create_task(apply_in_order(complaint_records))


def _may_act_on(
    record: ConsumerRecord[bytes, bytes],
    acts_on: frozenset[bytes] | None,
    passes_over: frozenset[tuple[bytes, bytes]],
) -> bool:
    """By the record's headers; a record without an `event_type` is read to find out."""
    if acts_on is None and not passes_over:
        return True
    headers = dict(record.headers)
    kind = headers.get("event_type")
    if kind is None:
        return True
    if acts_on is not None and kind not in acts_on:
        return False
    return (kind, headers.get("producer", b"")) not in passes_over


async def first_handling(db: Connection, schema: str, event: Event) -> bool:
    """Record the event as handled in `schema`'s processed_events, in the transaction of its
    effects; False when it was handled before (a redelivery)."""
    handled = await db.fetchval(
        f"INSERT INTO {schema}.processed_events (event_id, event_type, complaint_id)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
        event.event_id,
        event.event_type,
        event.complaint_id,
    )
    return bool(handled)


def event_types(*kinds: type[Event]) -> frozenset[bytes]:
    """The `event_type` header values of these events, for `acts_on`."""
    return frozenset(str(kind.model_fields["event_type"].default).encode() for kind in kinds)


def own_events(producer: str, *kinds: type[Event]) -> frozenset[tuple[bytes, bytes]]:
    """A producer's events of these types, for `passes_over`."""
    return frozenset((kind, producer.encode()) for kind in event_types(*kinds))


def _event_id(event: AnyEvent | ValidationError) -> uuid.UUID | None:
    return None if isinstance(event, ValidationError) else event.event_id


async def _records_only(message: StreamMessage[Any]) -> None:
    """The handler reads the raw records (and parses each once): FastStream's decoding of every
    body to JSON would be thrown away."""


def subscribe_to_complaint_events(
    broker: KafkaBroker,
    service: ConsumingService,
    *,
    group_id: str,
    on_poison: PoisonHandler,
    topic: str = COMPLAINT_EVENTS.name,
    max_records: int = 200,
    concurrency: int = 4,
    listener: ConsumerRebalanceListener | None = None,
    acts_on: frozenset[bytes] | None = None,
    passes_over: frozenset[tuple[bytes, bytes]] = frozenset(),
) -> Any:
    """Register the service's one subscriber to the complaint stream; returns the subscriber.
    `listener` hears of rebalances (a `ConsumptionSwitch` re-pauses there); `acts_on` (see
    `event_types`) and `passes_over` spare parsing the events the service's handlers would
    pass by (see `apply_batch`)."""
    subscriber = broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        fetch_min_bytes=FETCH_MIN_BYTES,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        title=f"{group_id}: complaint events",
        listener=listener,
        decoder=_records_only,
    )

    @subscriber
    async def consume() -> None:
        # Taken from the context rather than injected: FastStream resolves an injected message
        # on a worker thread, a thread hop for every batch.
        message: KafkaMessage = broker.context.get_local("message")
        raw = message.raw_message
        records: tuple[ConsumerRecord[bytes, bytes], ...] = (
            raw if isinstance(raw, tuple) else (raw,)
        )
        try:
            await apply_batch(
                records,
                service.handle,
                on_poison,
                concurrency,
                handle_leading=service.apply_together,
                acts_on=acts_on,
                passes_over=passes_over,
            )
        except NewerSchemaError as error:
            HELD_NEWER_SCHEMA.labels(group_id).inc()
            log.warning("%s: batch held, %s", group_id, error)
            await asyncio.sleep(HOLD_NEWER_SCHEMA_S)
            await message.nack()
            return
        except Exception:
            log.exception("batch of %d events not applied; it will be fetched again", len(records))
            await message.nack()
            return
        await message.ack()

    return subscriber


async def observe_lag(subscriber: Any, group_id: str, interval_s: float = 5.0) -> None:
    """Publish the group's lag per partition until cancelled (aiokafka knows the high-water mark
    of every partition it fetches from). A round that fails (a partition taken away by a
    rebalance, Kafka away) is measured again at the next."""
    while True:
        consumer: AIOKafkaConsumer | None = subscriber.consumer
        if consumer is not None:
            try:
                for partition in consumer.assignment():
                    highwater = consumer.highwater(partition)
                    if highwater is not None:
                        position = await consumer.position(partition)
                        CONSUMER_LAG.labels(group_id, str(partition.partition)).set(
                            highwater - position
                        )
            except KafkaError as error:
                log.debug("%s: lag not measured this round (%r)", group_id, error)
        await asyncio.sleep(interval_s)


class ConsumptionSwitch(ConsumerRebalanceListener):  # type: ignore[misc]
    """Pause and resume fetching from a subscriber's partitions (FastStream has no API for it).

    While paused nothing more is fetched and, the handler having nothing to apply, nothing more
    is committed: Kafka holds the backlog. aiokafka forgets pauses on every rebalance, so the
    switch pauses newly assigned partitions again; pass it as the subscriber's `listener`.
    """

    def __init__(self) -> None:
        self.paused = False
        self._subscriber: Any = None

    def attach(self, subscriber: Any) -> None:
        self._subscriber = subscriber

    def _consumer(self) -> AIOKafkaConsumer | None:
        return None if self._subscriber is None else self._subscriber.consumer

    def pause(self) -> None:
        self.paused = True
        consumer = self._consumer()
        if consumer is not None:
            consumer.pause(*consumer.assignment())

    def resume(self) -> None:
        self.paused = False
        consumer = self._consumer()
        if consumer is not None:
            consumer.resume(*consumer.assignment())

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer()
        if self.paused and consumer is not None:
            consumer.pause(*assigned)
