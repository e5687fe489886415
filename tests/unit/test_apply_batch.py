"""How a consumed batch is applied: each complaint's events in order, bulk rounds first."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

from shared.consumer import apply_batch, event_types, own_events
from shared.events import AnyEvent, ComplaintReceived, ComplaintRouted, Event, event_headers
from testkit.factories import complaint_received, mirrored, notified, routed


class _OneByOne:
    """A service's one-by-one handler that notes what it applied; no record may be poison."""

    def __init__(self) -> None:
        self.applied: list[uuid.UUID] = []

    async def handle(self, event: AnyEvent) -> None:
        self.applied.append(event.event_id)

    async def poison(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        raise AssertionError(error)


def _record(event: Event, offset: int, *, headers: bool = False) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=str(event.complaint_id).encode(),
        value=event.model_dump_json().encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple(event_headers(event)) if headers else (),
    )


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

    records = [_record(event, offset) for offset, event in enumerate(events)]
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
    records = [_record(event, offset, headers=True) for offset, event in enumerate(events)]
    # A record without headers (an older producer) is read to find out what it is.
    unlabelled = mirrored(second)
    records.append(_record(unlabelled, 4))
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
    records = [_record(event, offset, headers=True) for offset, event in enumerate(events)]
    service = _OneByOne()
    await apply_batch(
        records,
        service.handle,
        service.poison,
        4,
        passes_over=own_events("intake", ComplaintReceived),
    )
    assert sorted(service.applied) == sorted(e.event_id for e in events[1:])
