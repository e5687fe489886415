"""The console's read model on real PostgreSQL: built by intake's timeline handler, unchanged by a
redelivered event, and the triage override stored once with its event in the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.intake.console.queries import ConsoleQueries, OverrideOutcome
from services.intake.repository import IntakeRepository
from services.intake.service import IntakeService
from shared.events import (
    ComplaintReceived,
)
from shared.topics import TopicSpec
from testkit.factories import complaint_received, mirrored, notified, routed


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield created
    await created.close()


async def _progress(pool: asyncpg.Pool, received: ComplaintReceived) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT agency_code, routed_at, notified_at, mirrored_at, override_agency_code"
        " FROM intake.complaint_progress WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert row is not None
    return row


async def test_redelivered_events_change_nothing(pool: asyncpg.Pool) -> None:
    received = complaint_received()
    async with pool.acquire() as connection:
        await IntakeRepository(connection).add(received.complaint, None, "test")
    service = IntakeService(pool)
    first, notification = routed(received, "63.pupr"), notified(received, "63.pupr")
    mirroring = mirrored(received)
    for event in (first, notification, mirroring):
        await service.handle(event)
    progress = await _progress(pool, received)
    assert progress["agency_code"] == "63.pupr" and progress["notified_at"] is not None
    assert progress["mirrored_at"] == mirroring.occurred_at

    rerouted = routed(received, "63.dishub", routing_round=2)
    await service.handle(rerouted)
    # Redelivered: the old routing, the old agency's notification and the mirror change nothing.
    for event in (first, notification, mirroring, rerouted):
        await service.handle(event)
    progress = await _progress(pool, received)
    assert progress["agency_code"] == "63.dishub"
    assert progress["routed_at"] == rerouted.occurred_at
    assert progress["notified_at"] is None  # the new agency is yet to be told
    events = await pool.fetchval(
        "SELECT count(*) FROM intake.operator_timeline WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert events == 4
    record = await ConsoleQueries(pool).complaint(received.complaint.tracking_number)
    assert record is not None
    assert [e.event_id for e in record.events] == [
        e.event_id for e in (first, notification, mirroring, rerouted)
    ]


async def test_an_override_is_requested_once_until_the_router_answers(
    pool: asyncpg.Pool, fresh_topic: TopicSpec
) -> None:
    received = complaint_received()
    async with pool.acquire() as connection:
        await IntakeRepository(connection).add(received.complaint, None, "test")
    service, queries = IntakeService(pool), ConsoleQueries(pool)
    tracking, topic = received.complaint.tracking_number, fresh_topic.name
    triage = routed(received, "63.triage")
    assert await queries.request_override(tracking, "63.dinkes", "rina", topic) == (
        OverrideOutcome.NOT_IN_TRIAGE  # not routed yet
    )
    await service.handle(triage)
    assert tracking in [item.tracking_number for item in await queries.triage_queue()]
    outcomes = [await queries.request_override(tracking, "63.dinkes", "rina", topic) for _ in "ab"]
    assert outcomes == [OverrideOutcome.REQUESTED, OverrideOutcome.ALREADY_REQUESTED]
    stored = await pool.fetch(
        "SELECT payload FROM intake.outbox WHERE complaint_id = $1"
        " AND event_type = 'RoutingOverrideRequested'",
        received.complaint_id,
    )
    assert len(stored) == 1
    # Published by hand: no relay runs here, and none of a later test should inherit it.
    await pool.execute(
        "UPDATE intake.outbox SET published_at = now() WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert (await _progress(pool, received))["override_agency_code"] == "63.dinkes"

    await service.handle(routed(received, "63.dinkes", routing_round=2))
    assert tracking not in [item.tracking_number for item in await queries.triage_queue()]
    assert (await _progress(pool, received))["override_agency_code"] is None
