"""The outbox relay on the real stack: nothing lost while Kafka is away, nothing doubled after."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY

from shared.db import create_pool
from shared.events import ComplaintStatus, ComplaintStatusChanged, Event, parse_event
from shared.outbox import OutboxRelay, RelaySettings, enqueue
from shared.topics import TopicSpec
from testkit.factories import complaint_received

SCHEMA = "router"
NOWHERE = "127.0.0.1:1"  # no broker listens here: Kafka is "down"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url)
    await pool.execute(f"DELETE FROM {SCHEMA}.outbox")
    yield pool
    await pool.close()


def _flows(complaints: int, steps: int) -> list[list[Event]]:
    flows: list[list[Event]] = []
    for _ in range(complaints):
        received = complaint_received()
        flow: list[Event] = [received]
        for n in range(steps - 1):
            flow.append(
                ComplaintStatusChanged(
                    **received.caused(
                        producer="test",
                        tracking_number=received.complaint.tracking_number,
                        status=ComplaintStatus.FOLLOWED_UP,
                        actor={"kind": "agency", "id": "63.pupr"},
                        note=f"tindak lanjut {n}",
                    )
                )
            )
        flows.append(flow)
    return flows


async def _run_for(relay: OutboxRelay, seconds: float) -> None:
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _consume(bootstrap_servers: str, topic: str, group: str, count: int) -> list[Event]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[Event] = []
    try:
        while len(events) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            events.extend(parse_event(r.value) for rs in batch.values() for r in rs)
        # Anything more would be a duplicate: give it a moment to show up.
        extra = await consumer.getmany(timeout_ms=1000)
        events.extend(parse_event(r.value) for rs in extra.values() for r in rs)
    finally:
        await consumer.stop()
    return events


async def test_events_stored_while_kafka_is_down_arrive_once_and_in_order_after(
    pool: asyncpg.Pool,
    database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    unique_group: str,
) -> None:
    # 100 complaints of 3 events each, interleaved, stored while the broker is unreachable.
    flows = _flows(100, 3)
    for step in range(3):
        for flow in flows:
            async with pool.acquire() as connection, connection.transaction():
                await enqueue(connection, SCHEMA, flow[step], fresh_topic.name)

    fast = RelaySettings(retry_initial_s=0.1, retry_max_s=0.2, housekeeping_interval_s=0.1)
    await _run_for(OutboxRelay(database_url, pool, SCHEMA, NOWHERE, fast), 2.0)
    pending = await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"
    )
    assert pending == 300

    await _run_for(OutboxRelay(database_url, pool, SCHEMA, bootstrap_servers, fast), 3.0)
    pending = await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"
    )
    assert pending == 0

    events = await _consume(bootstrap_servers, fresh_topic.name, unique_group, 300)
    assert len(events) == 300
    assert len({e.event_id for e in events}) == 300
    by_complaint: dict[object, list[object]] = defaultdict(list)
    for event in events:
        by_complaint[event.complaint_id].append(event.event_id)
    for flow in flows:
        assert by_complaint[flow[0].complaint_id] == [e.event_id for e in flow]


async def test_an_event_is_stored_only_if_its_transaction_commits(pool: asyncpg.Pool) -> None:
    event = complaint_received()
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as connection, connection.transaction():
            await enqueue(connection, SCHEMA, event)
            raise RuntimeError("the handler failed after writing its event")
    stored = await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox WHERE event_id = $1", event.event_id
    )
    assert stored == 0


async def test_only_one_relay_per_schema_publishes(
    pool: asyncpg.Pool, database_url: str, bootstrap_servers: str
) -> None:
    first = OutboxRelay(database_url, pool, SCHEMA, bootstrap_servers)
    second = OutboxRelay(database_url, pool, SCHEMA, bootstrap_servers)
    leader = asyncio.create_task(first.run())
    await asyncio.sleep(0.5)
    follower = await asyncio.wait_for(_leader_attempt(second), 5)
    assert follower is False
    leader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leader


async def _leader_attempt(relay: OutboxRelay) -> bool:
    """Whether the relay becomes leader within a second while another one holds the lock."""
    try:
        listener = await asyncio.wait_for(relay._listen_as_leader(), 1.0)
    except TimeoutError:
        return False
    await listener.close()
    return True


async def _pending(db: asyncpg.Pool | asyncpg.Connection) -> int:
    count: int = await db.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"
    )
    return count


async def test_the_backlog_is_measured_while_kafka_is_down(
    pool: asyncpg.Pool, database_url: str, fresh_topic: TopicSpec
) -> None:
    for flow in _flows(10, 1):
        async with pool.acquire() as connection, connection.transaction():
            await enqueue(connection, SCHEMA, flow[0], fresh_topic.name)
    fast = RelaySettings(retry_initial_s=0.1, retry_max_s=0.2, housekeeping_interval_s=0.1)
    await _run_for(OutboxRelay(database_url, pool, SCHEMA, NOWHERE, fast), 1.5)
    labels = {"schema": SCHEMA}
    assert REGISTRY.get_sample_value("lapor_hub_outbox_pending_events", labels) == 10
    oldest = REGISTRY.get_sample_value("lapor_hub_outbox_oldest_pending_age_seconds", labels)
    assert oldest is not None and oldest > 1.0


async def test_the_relay_outlives_the_loss_of_its_database_connections(
    pool: asyncpg.Pool, database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    fast = RelaySettings(
        retry_initial_s=0.1, retry_max_s=0.5, poll_interval_s=0.2, housekeeping_interval_s=0.1
    )
    relay = asyncio.create_task(
        OutboxRelay(database_url, pool, SCHEMA, bootstrap_servers, fast).run()
    )
    admin = await asyncpg.connect(database_url)
    try:
        for _ in range(2):
            [[event]] = _flows(1, 1)
            await asyncio.sleep(0.5)
            # As when PostgreSQL restarts: every connection of the relay is cut.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            async with admin.transaction():
                await enqueue(admin, SCHEMA, event, fresh_topic.name)
            for _ in range(100):
                if await _pending(admin) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await _pending(admin) == 0
            assert not relay.done()
            # It leads again: a second relay stays a follower.
            rival = OutboxRelay(database_url, pool, SCHEMA, bootstrap_servers)
            assert await _leader_attempt(rival) is False
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await admin.close()
