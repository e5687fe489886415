"""Events go through the real broker keyed by complaint id and come back in order."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer

from shared.events import parse_event
from shared.kafka import (
    TopicLayoutError,
    ensure_topics,
    idempotent_producer,
    publish,
    scratch_topic,
)
from shared.topics import TopicSpec
from testkit.factories import complaint_received, followup


async def test_events_are_keyed_by_complaint_and_stay_in_order(
    bootstrap_servers: str, fresh_topic: TopicSpec, unique_group: str
) -> None:
    flows = {}
    for _ in range(5):
        received = complaint_received()
        flows[received.complaint_id] = [received, *(followup(received, n) for n in range(9))]

    producer = idempotent_producer(bootstrap_servers, client_id="test-producer")
    await producer.start()
    try:
        # Interleave complaints, as real traffic does.
        for step in range(10):
            for events in flows.values():
                await publish(producer, events[step], fresh_topic)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        fresh_topic.name,
        bootstrap_servers=bootstrap_servers,
        group_id=unique_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[object, list[str]] = defaultdict(list)
    partitions: dict[object, set[int]] = defaultdict(set)
    try:
        while sum(len(ids) for ids in seen.values()) < 50:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no events came back from the broker"
            for partition, records in batch.items():
                for record in records:
                    event = parse_event(record.value)
                    assert record.key == str(event.complaint_id).encode()
                    seen[event.complaint_id].append(str(event.event_id))
                    partitions[event.complaint_id].add(partition.partition)
    finally:
        await consumer.stop()

    for complaint_id, events in flows.items():
        assert seen[complaint_id] == [str(e.event_id) for e in events]
        assert len(partitions[complaint_id]) == 1


async def test_a_topic_with_other_partitions_than_declared_is_reported_not_repartitioned(
    bootstrap_servers: str,
) -> None:
    async with scratch_topic(bootstrap_servers, "test.layout", partitions=3) as topic:
        assert await ensure_topics(bootstrap_servers, (topic,)) == []  # as declared: fine
        declared = dataclasses.replace(topic, partitions=6)
        with pytest.raises(TopicLayoutError, match=f"{topic.name}: 3 partitions, declared 6"):
            await ensure_topics(bootstrap_servers, (declared,))
