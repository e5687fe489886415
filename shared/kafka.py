"""Thin Kafka adapters: the idempotent producer, topic creation, and readiness."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import Event, encode_event, event_headers
from shared.topics import ALL_TOPICS, COMPLAINT_EVENTS, TopicSpec


def idempotent_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """A producer that neither loses (acks=all) nor duplicates (idempotence) on retry."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=15_000,
    )


async def publish(
    producer: AIOKafkaProducer, event: Event, topic: TopicSpec = COMPLAINT_EVENTS
) -> None:
    """Publish one event keyed by its complaint id and wait for the broker's acknowledgement."""
    await producer.send_and_wait(
        topic.name, value=encode_event(event), key=event.key, headers=event_headers(event)
    )


class TopicLayoutError(RuntimeError):
    """A topic's partitions differ from `shared/topics.py`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "topic layout differs from shared/topics.py (keyed order depends on it; change the"
            " declaration or move to a new topic, never repartition in place): "
            + "; ".join(problems)
        )
        self.problems = problems


async def ensure_topics(
    bootstrap_servers: str, topics: tuple[TopicSpec, ...] = ALL_TOPICS
) -> list[str]:
    """Create missing topics with their declared partitions and settings; returns those created.

    Raises `TopicLayoutError` when an existing topic has other partitions than declared: a
    complaint's events are kept in order by their key's partition, so a topic is never
    repartitioned silently (see the README on scaling)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lapor-hub-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [t for t in topics if t.name in existing]
        if present:
            described = await admin.describe_topics([t.name for t in present])
            found = {d["topic"]: len(d["partitions"]) for d in described}
            wrong = [
                f"{t.name}: {found[t.name]} partitions, declared {t.partitions}"
                for t in present
                if found.get(t.name, t.partitions) != t.partitions
            ]
            if wrong:
                raise TopicLayoutError(wrong)
        missing = [t for t in topics if t.name not in existing]
        if missing:
            # Another process may create one between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name=t.name,
                            num_partitions=t.partitions,
                            replication_factor=t.replication_factor,
                            topic_configs=t.config,
                        )
                        for t in missing
                    ]
                )
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, names: tuple[str, ...]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lapor-hub-admin")
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


SCRATCH_PREFIXES = ("test.", "bench.")


async def scratch_topics(bootstrap_servers: str) -> tuple[str, ...]:
    """The broker's scratch topics: those of tests and benchmarks."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lapor-hub-admin")
    await admin.start()
    try:
        return tuple(t for t in await admin.list_topics() if t.startswith(SCRATCH_PREFIXES))
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_topic(
    bootstrap_servers: str, prefix: str, partitions: int = 6
) -> AsyncIterator[TopicSpec]:
    """A topic of its own for one test or benchmark, with the complaint-events layout, deleted
    afterwards: a development broker keeping every run's topics spends its idle CPU on thousands
    of partitions (and a benchmark measures that too)."""
    topic = TopicSpec(name=f"{prefix}.{uuid.uuid4().hex[:12]}", partitions=partitions)
    await ensure_topics(bootstrap_servers, (topic,))
    try:
        yield topic
    finally:
        with contextlib.suppress(Exception):  # best effort: the broker may be the one stopped
            await delete_topics(bootstrap_servers, (topic.name,))


async def broker_ready(bootstrap_servers: str, timeout_s: float) -> None:
    """Return once the broker answers a metadata request; raise TimeoutError otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last_error: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=3000,
            client_id="lapor-hub-ready",
        )
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as error:  # any failure means "not ready yet"
            last_error = error
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Kafka at {bootstrap_servers} did not answer metadata: {last_error!r}")
