"""The machine's floor: raw aiokafka and asyncpg on the same payloads the services carry.

Every service benchmark prints its figures beside these, so a ratio to what the hardware and
the broker can do at all is visible, not only an absolute number.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from functools import partial

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.measure import Figures, figures, timed_concurrently
from lapor_hub.demo_complaints import sample_complaint_fields
from shared.events import Channel, Complaint, ComplaintReceived, encode_event
from shared.kafka import idempotent_producer, scratch_topic

CONCURRENCY = 16


def sample_events(count: int) -> list[ComplaintReceived]:
    return [
        ComplaintReceived.of(
            Complaint.model_validate(sample_complaint_fields(n, Channel.WEB)), producer="bench"
        )
        for n in range(count)
    ]


async def kafka_baseline(bootstrap_servers: str, events: list[ComplaintReceived]) -> list[Figures]:
    """Produce acknowledgement latency, and produce-to-consume latency with a live consumer."""
    async with scratch_topic(bootstrap_servers, "bench.baseline") as topic:
        consumer = AIOKafkaConsumer(
            topic.name,
            bootstrap_servers=bootstrap_servers,
            group_id=f"bench-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        sent_at: dict[bytes, float] = {}
        delivered: list[float] = []

        async def consume() -> None:
            while len(delivered) < len(events):
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                now = time.perf_counter()
                delivered.extend(now - sent_at[r.value] for rs in batch.values() for r in rs)

        producer = idempotent_producer(bootstrap_servers, client_id="bench-baseline")
        await producer.start()
        payloads = [(encode_event(e), e.key) for e in events]

        async def send(value: bytes, key: bytes) -> None:
            sent_at[value] = time.perf_counter()
            await producer.send_and_wait(topic.name, value, key=key)

        began = time.perf_counter()
        consuming = asyncio.create_task(consume())
        try:
            produced = await timed_concurrently(
                "baseline: aiokafka produce (acks=all, idempotent)",
                [partial(send, value, key) for value, key in payloads],
                CONCURRENCY,
            )
            await asyncio.wait_for(consuming, timeout=60)
        finally:
            consuming.cancel()
            await producer.stop()
            await consumer.stop()
        end_to_end = figures(
            "baseline: aiokafka produce → consume", delivered, time.perf_counter() - began
        )
        return [produced, end_to_end]


async def postgres_baseline(database_url: str, events: list[ComplaintReceived]) -> Figures:
    """One row per transaction, as an intake request commits its complaint."""
    pool = await asyncpg.create_pool(database_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    assert pool is not None
    table = f"bench_baseline_{uuid.uuid4().hex[:8]}"
    try:
        # A durable (logged) table, like the services': UNLOGGED would flatter the floor.
        await pool.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, body jsonb)")
        insert = f"INSERT INTO {table} (id, body) VALUES ($1, $2::jsonb)"
        return await timed_concurrently(
            "baseline: asyncpg insert (1 row/commit)",
            [
                partial(pool.execute, insert, e.complaint_id, encode_event(e).decode())
                for e in events
            ],
            CONCURRENCY,
        )
    finally:
        await pool.execute(f"DROP TABLE IF EXISTS {table}")
        await pool.close()
