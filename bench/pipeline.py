"""Stage benchmarks on the real pipeline: events in at an offered rate, their results timed out.

Latency of a stage is measured from the moment its input event was sent to the moment its
output event (same complaint) is read back from the complaint stream, so it includes Kafka
both ways: what a user of the stage actually waits.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer

from bench.measure import Figures, figures
from shared.events import Event, encode_event, event_headers, parse_event
from shared.kafka import idempotent_producer


async def offered_load_stage(
    stage: str,
    *,
    bootstrap_servers: str,
    topic: str,
    inputs: list[Event],
    output_type: str,
    rate_per_s: float,
    timeout_s: float = 120.0,
) -> Figures:
    """Send `inputs` at `rate_per_s`; time each until an `output_type` event for its complaint."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    await consumer.seek_to_end()
    sent_at: dict[uuid.UUID, float] = {}
    latencies: list[float] = []

    async def collect() -> None:
        while len(latencies) < len(inputs):
            batch = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    if dict(record.headers).get("event_type") != output_type.encode():
                        continue
                    complaint_id = parse_event(record.value).complaint_id
                    if complaint_id in sent_at:
                        latencies.append(now - sent_at.pop(complaint_id))

    producer = idempotent_producer(bootstrap_servers, client_id="bench-load")
    await producer.start()
    collecting = asyncio.create_task(collect())
    began = time.perf_counter()
    try:
        for n, event in enumerate(inputs):
            due = began + n / rate_per_s
            if (pause := due - time.perf_counter()) > 0:
                await asyncio.sleep(pause)
            sent_at[event.complaint_id] = time.perf_counter()
            await producer.send(
                topic, encode_event(event), key=event.key, headers=event_headers(event)
            )
        await producer.flush()
        await asyncio.wait_for(collecting, timeout_s)
    finally:
        collecting.cancel()
        await producer.stop()
        await consumer.stop()
    return figures(stage, latencies, time.perf_counter() - began, offered_per_s=rate_per_s)
