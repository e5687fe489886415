"""The whole system: intake, router, notifier and sync as real processes, with the national LAPOR
simulator and a real SMTP server, on real Kafka and PostgreSQL. Every complaint accepted is routed
once, notified (agencies other than central ones) and mirrored to national exactly once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer

from lapor_hub.demo_complaints import sample_complaint_fields
from shared.events import (
    AgencyNotified,
    Channel,
    ComplaintMirrored,
    ComplaintReceived,
    ComplaintRouted,
    Event,
    parse_event,
)
from shared.topics import TopicSpec
from testkit.processes import ServiceProcess

COMPLAINTS = 200
CENTRAL = "pusat"  # handed back to national LAPOR: no agency here to alert


async def _submit_all(base_url: str, key: str) -> list[str]:
    async with aiohttp.ClientSession(
        base_url=base_url,
        headers={"X-API-Key": key},
        connector=aiohttp.TCPConnector(limit=16),
    ) as client:

        async def submit(index: int) -> str:
            fields = sample_complaint_fields(index, Channel.WEB)
            form = {
                "title": fields["title"],
                "body": fields["body"],
                "location": fields["location"],
                "reporter": fields["reporter"],
                "anonymous": fields["anonymous"],
                "confidential": fields["confidential"],
            }
            async with client.post("/v1/complaints", json=form) as response:
                assert response.status == 202, await response.text()
                tracking: str = (await response.json())["tracking_number"]
                return tracking

        return list(await asyncio.gather(*(submit(i) for i in range(COMPLAINTS))))


async def _stream_until(
    bootstrap_servers: str, topic: str, done: Callable[[list[Event]], bool], timeout_s: float = 150
) -> list[Event]:
    """Every event on the topic, read until `done(events)` holds (then 3 s more) or timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[Event] = []
    deadline = time.monotonic() + timeout_s
    settle: float | None = None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            batch = await consumer.getmany(timeout_ms=500)
            events.extend(parse_event(r.value) for rs in batch.values() for r in rs)
            if settle is None and done(events):
                settle = time.monotonic() + 3
    finally:
        await consumer.stop()
    return events


async def test_every_complaint_is_routed_notified_and_mirrored_exactly_once(
    system: Mapping[str, ServiceProcess],
    web_key: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    intake_url = system["intake"].ready_url.removesuffix("/readyz")
    tracking = await _submit_all(intake_url, web_key)
    assert len(set(tracking)) == COMPLAINTS

    def finished(events: list[Event]) -> bool:
        routed = {e.complaint_id: e for e in events if isinstance(e, ComplaintRouted)}
        notified = {e.complaint_id for e in events if isinstance(e, AgencyNotified)}
        mirrored = {e.complaint_id for e in events if isinstance(e, ComplaintMirrored)}
        return (
            len(routed) == COMPLAINTS
            and {c for c, r in routed.items() if r.agency_code != CENTRAL} <= notified
            and len(mirrored) == COMPLAINTS
        )

    events = await _stream_until(bootstrap_servers, fresh_topic.name, finished)
    distinct = {e.event_id: e for e in events}.values()  # Kafka delivery is at least once
    received = {e.complaint_id: e for e in distinct if isinstance(e, ComplaintReceived)}
    routed = [e for e in distinct if isinstance(e, ComplaintRouted)]
    notified = [e for e in distinct if isinstance(e, AgencyNotified)]
    mirrored = [e for e in distinct if isinstance(e, ComplaintMirrored)]

    assert sorted(r.complaint.tracking_number for r in received.values()) == sorted(tracking)
    assert sorted(r.complaint_id for r in routed) == sorted(received)  # routed once each
    to_agencies = {r.complaint_id for r in routed if r.agency_code != CENTRAL}
    notified_complaints = {n.complaint_id for n in notified}
    assert to_agencies <= notified_complaints
    deliveries = {(n.complaint_id, n.channel, n.agency_code) for n in notified}
    assert len(deliveries) == len({n.delivery_id for n in notified})  # one delivery id each
    assert sorted(m.complaint_id for m in mirrored) == sorted(received)  # mirrored once each

    simulator = system["simulator"].ready_url.removesuffix("/_sim/health")
    async with httpx.AsyncClient(timeout=10) as client:
        audit = (await client.get(f"{simulator}/_sim/audit")).json()
    creates = {t: counts.get("create", 0) for t, counts in audit["applied"].items()}
    assert creates == dict.fromkeys(tracking, 1)  # no duplicate national record
