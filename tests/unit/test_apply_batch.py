"""How a consumed batch is applied: each complaint's events in order, bulk rounds first."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from shared.consumer import apply_batch, event_types, own_events
from shared.events import AnyEvent, ComplaintReceived, ComplaintRouted, Event, NewerSchemaError
from testkit.factories import complaint_received, consumer_record, mirrored, notified, routed


class _OneByOne:
    """A service's one-by-one handler that notes what it applied; no record may be poison."""

    def __init__(self) -> None:
        self.applied: list[uuid.UUID] = []

    async def handle(self, event: AnyEvent) -> None:
        self.applied.append(event.event_id)

    async def poison(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        raise AssertionError(error)


async def test_rounds_take_each_complaints_next_event_and_leave_the_rest_in_order() -> None:
    first, second = complaint_received(), complaint_received()
    # First: received, routed, notified, mirrored; second: received, mirrored.
    events: list[Event] = [
        first,
        second,
        routed(first, "63.pupr"),
        notified(first, "63.pupr"),
        mirrored(second),
        mirrored(first),
    ]
    rounds: list[list[uuid.UUID]] = []
    service = _OneByOne()
    one_by_one = service.applied

    async def take_all_but_notified(lot: Sequence[AnyEvent]) -> set[uuid.UUID]:
        rounds.append([e.event_id for e in lot])
        return {e.event_id for e in lot if isinstance(e, ComplaintReceived | ComplaintRouted)}

    records = [consumer_record(event, offset) for offset, event in enumerate(events)]
    await apply_batch(
        records, service.handle, service.poison, 4, handle_leading=take_all_but_notified
    )

    ids = [e.event_id for e in events]
    # Round 1: both received; round 2: first's routed, second's mirrored (refused: it and
    # nothing after it go one by one); round 3: first's notified (refused, with what follows).
    assert rounds == [[ids[0], ids[1]], [ids[2], ids[4]], [ids[3]]]
    assert sorted(one_by_one) == sorted([ids[4], ids[3], ids[5]])
    assert one_by_one.index(ids[3]) < one_by_one.index(ids[5])  # first's order kept


async def test_events_of_other_types_are_passed_over_unread_by_their_header() -> None:
    first, second = complaint_received(), complaint_received()
    events: list[Event] = [first, routed(first, "63.pupr"), notified(first, "63.pupr"), second]
    records = [consumer_record(event, offset, headers=True) for offset, event in enumerate(events)]
    # A record without headers (an older producer) is read to find out what it is.
    unlabelled = mirrored(second)
    records.append(consumer_record(unlabelled, 4))
    # A poison record of a type the service does not act on is never read at all.
    records.append(dataclasses.replace(records[2], value=b"not json"))
    service = _OneByOne()
    await apply_batch(
        records,
        service.handle,
        service.poison,
        4,
        acts_on=event_types(ComplaintReceived, ComplaintRouted),
    )
    assert sorted(service.applied) == sorted(e.event_id for e in (*events[:2], second, unlabelled))


async def test_a_services_own_events_of_a_type_are_passed_over_unread() -> None:
    own, elsewhere = complaint_received(), complaint_received()
    elsewhere = elsewhere.model_copy(update={"producer": "sync"})  # national disposed it here
    events: list[Event] = [own, routed(own, "63.pupr"), elsewhere]
    records = [consumer_record(event, offset, headers=True) for offset, event in enumerate(events)]
    service = _OneByOne()
    await apply_batch(
        records,
        service.handle,
        service.poison,
        4,
        passes_over=own_events("intake", ComplaintReceived),
    )
    assert sorted(service.applied) == sorted(e.event_id for e in events[1:])


@pytest.mark.parametrize(
    "fault",
    [
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.exceptions.DiskFullError("could not extend file: No space left on device"),
        asyncpg.exceptions.OutOfMemoryError("out of memory"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
    ],
    ids=lambda fault: type(fault).__name__,
)
async def test_a_database_servers_fault_is_retried_never_poison(fault: Exception) -> None:
    """Set aside as a dead letter, its offset committed, the event would be lost to the service
    and every later event of its complaint ignored: a server's fault is retried until it passes."""
    received = complaint_received()
    service = _OneByOne()
    failures = [fault]

    async def handle(event: AnyEvent) -> None:
        if failures:
            raise failures.pop()
        await service.handle(event)

    await apply_batch([consumer_record(received, 0)], handle, service.poison, 1)

    assert service.applied == [received.event_id]


async def test_an_event_its_handler_refuses_is_still_poison() -> None:
    received = complaint_received()
    poisoned: list[Exception] = []

    async def refuse(event: AnyEvent) -> None:
        raise asyncpg.exceptions.CheckViolationError("new row violates check constraint")

    async def poison(record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        poisoned.append(error)

    await apply_batch([consumer_record(received, 0)], refuse, poison, 1)

    assert [type(error) for error in poisoned] == [asyncpg.exceptions.CheckViolationError]


def _written_by_a_newer_producer(event: Event, **changes: object) -> ConsumerRecord[bytes, bytes]:
    record = consumer_record(event)
    document = {**json.loads(record.value or b""), **changes}
    return dataclasses.replace(record, value=json.dumps(document).encode())


async def test_a_consumer_applies_an_event_of_a_newer_minor_version() -> None:
    received = complaint_received()
    service = _OneByOne()
    record = _written_by_a_newer_producer(received, schema_minor=2, priority="urgent")

    await apply_batch([record], service.handle, service.poison, 1)

    assert service.applied == [received.event_id]


async def test_a_consumer_holds_an_event_of_a_newer_major_version() -> None:
    """Neither applied nor a dead letter: the batch fails, nothing is committed, and it is
    fetched again until the service is upgraded."""
    first, newer = complaint_received(), complaint_received()
    service = _OneByOne()
    records = [consumer_record(first), _written_by_a_newer_producer(newer, schema_version=2)]

    with pytest.raises(NewerSchemaError):
        await apply_batch(records, service.handle, service.poison, 1, handle_leading=None)
