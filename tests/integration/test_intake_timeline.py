"""Intake's timeline consumer on real PostgreSQL (and Kafka): a batch's leading events recorded
together leave exactly what recording them one by one leaves, and a redelivery changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.intake.repository import IntakeRepository
from services.intake.service import REPLY_NOTE, IntakeService
from shared.consumer import apply_batch
from shared.dead_letters import keep_in_dead_letters
from shared.events import (
    Actor,
    ActorKind,
    AnyEvent,
    ComplaintReceived,
    ComplaintStatus,
    ComplaintStatusChanged,
    RoutingOverrideRequested,
    encode_event,
)
from shared.migrations import apply_migrations
from shared.topics import TopicSpec
from testkit.factories import complaint_received, mirrored, notified, publish_all, routed
from testkit.processes import ServiceProcess, free_port
from testkit.waiting import eventually


def _status(
    received: ComplaintReceived, status: ComplaintStatus, agency: str | None, note: str
) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        **received.caused(
            producer="intake" if status is ComplaintStatus.REPORTER_REPLIED else "notifier",
            tracking_number=received.complaint.tracking_number,
            status=status,
            actor=Actor(kind=ActorKind.AGENCY, id=agency),
            agency_code=agency,
            note=note,
        )
    )


@dataclass(frozen=True)
class Scenario:
    """Complaints intake accepted (`local`), and rounds of events, each round at most one event
    of a complaint (as a batch's leading events are); between rounds 0 and 1 an operator asks to
    route one complaint out of triage."""

    local: list[ComplaintReceived]
    national: ComplaintReceived  # received elsewhere: intake learns of it from its event
    never_received: ComplaintReceived
    rounds: list[list[AnyEvent]]

    @property
    def complaint_ids(self) -> list[uuid.UUID]:
        return [r.complaint_id for r in (*self.local, self.national, self.never_received)]

    @property
    def triaged(self) -> ComplaintReceived:
        return self.local[2]

    @property
    def events(self) -> list[AnyEvent]:
        return [event for round_ in self.rounds for event in round_]


def _scenario() -> Scenario:
    national = ComplaintReceived.of(complaint_received().complaint, producer="sync")
    never = complaint_received()
    c1, c2, c3, c4 = local = [complaint_received() for _ in range(4)]
    rounds: list[list[AnyEvent]] = [
        [c1, national, mirrored(c2), routed(c3, "63.triage")],
        [
            routed(c1, "63.pupr"),
            routed(c2, "63.dishub"),
            notified(c3, "63.triage"),
            routed(national, "63.pupr"),
            routed(never, "63.pupr"),
        ],
        [
            notified(c1, "63.pupr"),
            notified(c2, "63.pupr"),  # not the agency assigned: no progress
            routed(c3, "63.dinkes", routing_round=2),  # ends the override, to be notified
            _status(c4, ComplaintStatus.REPORTER_REPLIED, None, "Saya Siti, 0812 5555 0101"),
            notified(national, "63.pupr"),
        ],
        [
            routed(c1, "63.dishub", routing_round=2),
            mirrored(c2),  # a later event mirrored: the first mirroring is kept
            _status(c3, ComplaintStatus.FOLLOWED_UP, "63.dinkes", "Sudah ditangani"),
            RoutingOverrideRequested(
                **c4.caused(
                    producer="intake",
                    tracking_number=c4.complaint.tracking_number,
                    agency_code="63.dinkes",
                    operator=Actor(kind=ActorKind.OPERATOR, id="rina"),
                )
            ),
        ],
        [
            notified(c1, "63.pupr"),  # late, from the agency no longer assigned
            notified(c2, "63.dishub"),
            notified(c3, "63.dinkes"),
            _status(never, ComplaintStatus.RESOLVED, "63.pupr", "Selesai"),
        ],
    ]
    return Scenario(local, national, never, rounds)


async def _accept(pool: asyncpg.Pool, scenario: Scenario) -> None:
    async with pool.acquire() as connection:
        for received in scenario.local:
            await IntakeRepository(connection).add(received.complaint, None, "channel:web")


async def _request_override(pool: asyncpg.Pool, scenario: Scenario) -> None:
    """What the console's triage queue stores (its own statement, not the consumer's)."""
    await pool.execute(
        "UPDATE intake.complaint_progress SET override_agency_code = '63.dinkes',"
        " override_requested_at = now() WHERE complaint_id = $1",
        scenario.triaged.complaint_id,
    )


async def _read_model(pool: asyncpg.Pool, scenario: Scenario) -> dict[str, list[dict[str, Any]]]:
    """Everything the consumer writes about the scenario's complaints, comparable across
    databases (an override's request time aside: it is the database's clock)."""
    ids = scenario.complaint_ids
    queries = {
        "complaints": "SELECT complaint_id, tracking_number, status, agency_code, submitted_by,"
        " document FROM intake.complaints WHERE complaint_id = ANY($1) ORDER BY complaint_id",
        "progress": "SELECT complaint_id, agency_code, routed_at, disposition_due, followup_due,"
        " notified_at, mirrored_at, override_agency_code,"
        " override_requested_at IS NOT NULL AS override_requested"
        " FROM intake.complaint_progress WHERE complaint_id = ANY($1) ORDER BY complaint_id",
        "timeline": "SELECT * FROM intake.timeline WHERE complaint_id = ANY($1) ORDER BY event_id",
        "operator_timeline": "SELECT * FROM intake.operator_timeline"
        " WHERE complaint_id = ANY($1) ORDER BY event_id",
    }
    return {
        table: [dict(row) for row in await pool.fetch(query, ids)]
        for table, query in queries.items()
    }


def _record(event: AnyEvent, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(event)
    return ConsumerRecord(
        "test.intake", 0, offset, 0, 0, event.key, value, None, len(event.key), len(value), []
    )


async def _one_by_one(service: IntakeService, events: Sequence[AnyEvent]) -> None:
    for event in events:
        await service.handle(event)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield created
    await created.close()


@pytest.fixture
async def other_pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A second database with intake's schema, for the same complaints recorded another way."""
    apply_migrations(empty_database_url)
    created = await asyncpg.create_pool(empty_database_url, min_size=1, max_size=4)
    yield created
    await created.close()


async def test_leading_events_together_leave_what_one_by_one_leaves_and_redelivery_nothing(
    pool: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    scenario = _scenario()
    together, alone = IntakeService(pool), IntakeService(other_pool)
    for database in (pool, other_pool):
        await _accept(database, scenario)
    taken: list[set[uuid.UUID]] = []

    async def record_later_events(events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        taken.append(await together.apply_together(events))
        return taken[-1]

    on_poison = keep_in_dead_letters(pool, "intake")
    for number, round_ in enumerate(scenario.rounds):
        records = [_record(event, offset) for offset, event in enumerate(round_)]
        await apply_batch(
            records, together.handle, on_poison, 4, handle_leading=record_later_events
        )
        await _one_by_one(alone, round_)
        if number == 0:
            await _request_override(pool, scenario)
            await _request_override(other_pool, scenario)
    # Every round in one call; only the complaint received elsewhere was left to `handle`.
    assert taken == [
        {event.event_id for event in round_ if event is not scenario.national}
        for round_ in scenario.rounds
    ]
    recorded = await _read_model(pool, scenario)
    assert recorded == await _read_model(other_pool, scenario)
    assert not await pool.fetchval(
        "SELECT count(*) FROM intake.dead_letters WHERE key = ANY($1::bytea[])",
        [event.key for event in scenario.events],
    )

    progress = {row["complaint_id"]: row for row in recorded["progress"]}
    c1, c2, c3, c4 = scenario.local
    # Rerouted, then a late notification from the old agency: still to be notified.
    assert progress[c1.complaint_id]["agency_code"] == "63.dishub"
    assert progress[c1.complaint_id]["notified_at"] is None
    assert progress[c2.complaint_id]["notified_at"] == scenario.rounds[4][1].occurred_at
    assert progress[c2.complaint_id]["mirrored_at"] == scenario.rounds[0][2].occurred_at
    # The override was answered by the rerouting, whose agency was then notified.
    assert progress[c3.complaint_id]["override_agency_code"] is None
    assert not progress[c3.complaint_id]["override_requested"]
    assert progress[c3.complaint_id]["notified_at"] == scenario.rounds[4][2].occurred_at
    statuses = {r["complaint_id"]: (r["status"], r["agency_code"]) for r in recorded["complaints"]}
    assert statuses[c1.complaint_id] == ("routed", "63.dishub")
    assert statuses[c3.complaint_id] == ("followed_up", "63.dinkes")
    assert statuses[c4.complaint_id] == ("reporter_replied", None)
    public = {r["complaint_id"]: r["public_note"] for r in recorded["timeline"]}
    assert public[c4.complaint_id] == REPLY_NOTE  # never the reporter's own words
    assert scenario.national.complaint_id in statuses  # kept for its reporter to follow
    assert scenario.never_received.complaint_id not in statuses
    assert len(recorded["operator_timeline"]) == len(scenario.events) - 4  # no receipts, never

    # Redelivered, round by round and one by one (the rounds' events again, not new ones).
    for round_, first_taken in zip(scenario.rounds, taken, strict=True):
        assert await together.apply_together(round_) == first_taken
    await _one_by_one(together, scenario.events)
    assert await _read_model(pool, scenario) == recorded


async def _consumed(bootstrap_servers: str, topic: TopicSpec, group: str) -> bool:
    """Has `group` committed every partition of `topic` to its end?"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        ends = await consumer.end_offsets(partitions)
        return all([(await consumer.committed(p) or 0) == ends[p] for p in partitions])
    finally:
        await consumer.stop()


def _intake_process(
    database_url: str, bootstrap_servers: str, topic: TopicSpec, group: str
) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name="intake-timeline",
        module="services.intake",
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={
            "LAPOR_HUB_DATABASE_URL": database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
            "LAPOR_HUB_INTAKE_HTTP_PORT": str(port),
            "LAPOR_HUB_INTAKE_CONSUMER_GROUP": group,
        },
    )


async def test_the_intake_process_builds_the_same_read_model_from_kafka_and_again_on_a_replay(
    pool: asyncpg.Pool,
    other_pool: asyncpg.Pool,
    empty_database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    scenario = _scenario()
    for database in (pool, other_pool):
        await _accept(database, scenario)
    group = f"test-intake-{uuid.uuid4().hex[:8]}"
    intake = _intake_process(empty_database_url, bootstrap_servers, fresh_topic, group)
    intake.start()
    try:
        # Round by round, so that each round reaches the consumer as leading events.
        for number, round_ in enumerate(scenario.rounds):
            await publish_all(bootstrap_servers, fresh_topic.name, round_)
            await eventually(lambda: _consumed(bootstrap_servers, fresh_topic, group), 30)
            await _one_by_one(IntakeService(pool), round_)
            if number == 0:
                await _request_override(other_pool, scenario)
                await _request_override(pool, scenario)
    finally:
        intake.stop()
    recorded = await _read_model(other_pool, scenario)
    assert recorded == await _read_model(pool, scenario)

    # A new group reads the whole topic again: every event redelivered, most in one batch.
    replay = f"{group}-replay"
    intake = _intake_process(empty_database_url, bootstrap_servers, fresh_topic, replay)
    intake.start()
    try:
        await eventually(lambda: _consumed(bootstrap_servers, fresh_topic, replay), 30)
    finally:
        intake.stop()
    assert await _read_model(other_pool, scenario) == recorded
