"""Every Kafka topic lapor-hub uses, in one place.

All of one complaint's events share a topic and are keyed by complaint id, so a consumer sees
them in the order they were produced (received, routed, status changes, mirrored...).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


COMPLAINT_EVENTS = TopicSpec(
    name="lapor.complaint-events.v1",
    partitions=6,
    # Complaints are a legal record: Kafka keeps them a year; PostgreSQL is the archive.
    config={"retention.ms": str(365 * 24 * 3600 * 1000), "min.insync.replicas": "1"},
)

SYNC_DEAD_LETTERS = TopicSpec(
    name="lapor.sync.dead-letters.v1",
    partitions=1,
    config={"retention.ms": "-1"},
)

ALL_TOPICS: tuple[TopicSpec, ...] = (COMPLAINT_EVENTS, SYNC_DEAD_LETTERS)
