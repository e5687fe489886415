"""The router as a real process on real Kafka and PostgreSQL: each complaint routed exactly once,
through redelivered events and a kill -9 in the middle of the stream."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer

from shared.events import (
    Actor,
    ActorKind,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    RoutingOverrideRequested,
    parse_event,
)
from shared.topics import TopicSpec
from testkit.factories import complaint_received, publish_all
from testkit.processes import ServiceProcess, free_port


@pytest.fixture
def router_process(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> Iterator[ServiceProcess]:
    port = free_port()
    process = ServiceProcess(
        name="router",
        module="services.router",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        env={
            "LAPOR_HUB_DATABASE_URL": database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": fresh_topic.name,
            "LAPOR_HUB_ROUTER_METRICS_PORT": str(port),
        },
    )
    yield process
    process.stop()


async def _routed(
    bootstrap_servers: str, topic: str, expected: int, timeout_s: float = 60
) -> list[ComplaintRouted]:
    """Every ComplaintRouted on the topic once `expected` have arrived (and a moment more)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    routed: list[ComplaintRouted] = []
    deadline = time.monotonic() + timeout_s
    try:
        settle_until = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value)
                    if isinstance(event, ComplaintRouted):
                        routed.append(event)
            if len(routed) >= expected and settle_until is None:
                settle_until = time.monotonic() + 2  # a duplicate would show up now
            if settle_until is not None and time.monotonic() > settle_until:
                break
    finally:
        await consumer.stop()
    return routed


async def test_each_complaint_is_routed_exactly_once_through_redelivery_and_a_crash(
    router_process: ServiceProcess, bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    received = [complaint_received() for _ in range(200)]
    router_process.start()
    # Every event published twice: what a producer retry or a replay looks like downstream.
    await publish_all(
        bootstrap_servers, fresh_topic.name, [e for e in received[:100] for _ in (1, 2)]
    )
    await asyncio.sleep(1.0)
    router_process.kill()
    await publish_all(
        bootstrap_servers, fresh_topic.name, [e for e in received[100:] for _ in (1, 2)]
    )
    router_process.start()

    routed = await _routed(bootstrap_servers, fresh_topic.name, expected=200)
    # Kafka delivery is at least once (a relay killed between Kafka's ack and its own commit
    # sends again, with the same event id); what must be unique is the assignment event.
    distinct = {r.event_id: r for r in routed}.values()
    per_complaint = Counter(r.complaint_id for r in distinct)
    assert set(per_complaint) == {e.complaint_id for e in received}
    assert max(per_complaint.values()) == 1
    for event in distinct:
        assert event.routing_round == 1
        assert event.agency_code


def _rejection(routed: ComplaintRouted, suggested: str | None) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        **routed.caused(
            producer="notifier",
            tracking_number=routed.tracking_number,
            status=ComplaintStatus.REJECTED,
            actor=Actor(kind=ActorKind.AGENCY, id=routed.agency_code),
            note="bukan wewenang kami",
            suggested_agency_code=suggested,
        )
    )


async def test_rejections_and_overrides_through_kafka_reroute(
    router_process: ServiceProcess, bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    topic = fresh_topic.name
    bounced = complaint_received(
        title="Jalan provinsi rusak", body="Jalan provinsi di Martapura berlubang besar."
    )
    triaged = complaint_received(title="Mohon bantuan", body="Tolong dibantu pak, sudah lama.")
    router_process.start()
    await publish_all(bootstrap_servers, topic, [bounced, triaged])
    first = {r.complaint_id: r for r in await _routed(bootstrap_servers, topic, expected=2)}

    # Three refusals in a row: the third one lands in triage.
    latest = first[bounced.complaint_id]
    for rounds, suggested in enumerate(("6303", "63.dishub", "6371"), start=3):
        await publish_all(bootstrap_servers, topic, [_rejection(latest, suggested)])
        latest = (await _routed(bootstrap_servers, topic, expected=rounds))[-1]
    # An operator routes the vague complaint by hand.
    override = RoutingOverrideRequested(
        **first[triaged.complaint_id].caused(
            producer="intake",
            tracking_number=triaged.complaint.tracking_number,
            agency_code="63.dinsos",
            operator=Actor(kind=ActorKind.OPERATOR, id="operator:rina"),
        )
    )
    await publish_all(bootstrap_servers, topic, [override])
    routed = await _routed(bootstrap_servers, topic, expected=6)

    chain = [r.agency_code for r in routed if r.complaint_id == bounced.complaint_id]
    assert chain == ["63.pupr", "6303", "63.dishub", "63.triage"]
    by_hand = [r for r in routed if r.complaint_id == triaged.complaint_id][-1]
    assert by_hand.agency_code == "63.dinsos"
    assert by_hand.decided_by.kind is ActorKind.OPERATOR
