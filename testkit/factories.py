"""Builders of valid contracts for tests, so each test states only what it cares about."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from shared.events import (
    Actor,
    ActorKind,
    AgencyNotified,
    AuthorityLevel,
    Channel,
    Complaint,
    ComplaintMirrored,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    Event,
    NotificationChannel,
    encode_event,
    event_headers,
)
from shared.kafka import idempotent_producer


def complaint(**overrides: Any) -> Complaint:
    complaint_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "complaint_id": complaint_id,
        "tracking_number": f"LPR-2026-{complaint_id.hex[:12].upper()}-T",  # no birthday clashes
        "channel": Channel.WHATSAPP,
        "title": "Jalan berlubang di Jl. A. Yani km 12",
        "body": "Sudah 2 minggu jalan rusak parah, banyak pengendara jatuh malam hari.",
        "incident_date": date(2026, 11, 20),
        "location": {"text": "Jl. A. Yani km 12, Gambut", "region_code": "6303"},
        "reporter": {"name": "Siti Aminah", "phone": "+62 812 5555 0101"},
        "received_at": datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC),
    }
    fields.update(overrides)
    return Complaint.model_validate(fields)


def complaint_received(**overrides: Any) -> ComplaintReceived:
    return ComplaintReceived.of(complaint(**overrides), producer="intake")


def followup(
    received: ComplaintReceived, number: int, producer: str = "notifier"
) -> ComplaintStatusChanged:
    """The agency's `number`-th follow-up of a received complaint (its text unique to both)."""
    return ComplaintStatusChanged(
        **received.caused(
            producer=producer,
            tracking_number=received.complaint.tracking_number,
            status=ComplaintStatus.FOLLOWED_UP,
            actor=Actor(kind=ActorKind.AGENCY, id="63.pupr"),
            note=f"tindak lanjut {number} untuk {received.complaint.tracking_number}",
        )
    )


def routed(
    received: ComplaintReceived,
    agency: str,
    routing_round: int = 1,
    *,
    previous: str | None = None,
    disposition_due: date = date(2026, 12, 1),
    followup_due: date = date(2026, 12, 8),
) -> ComplaintRouted:
    return ComplaintRouted(
        **received.caused(
            producer="router",
            tracking_number=received.complaint.tracking_number,
            agency_code=agency,
            previous_agency_code=previous,
            level=AuthorityLevel.PROVINSI,
            confidence=0.9,
            routing_table_version="test",
            routing_round=routing_round,
            disposition_due=disposition_due,
            followup_due=followup_due,
        )
    )


def notified(received: ComplaintReceived, agency: str) -> AgencyNotified:
    return AgencyNotified(
        **received.caused(
            producer="notifier",
            tracking_number=received.complaint.tracking_number,
            agency_code=agency,
            channel=NotificationChannel.EMAIL,
            delivery_id=uuid.uuid4(),
            attempts=1,
        )
    )


def mirrored(received: ComplaintReceived) -> ComplaintMirrored:
    """The complaint's receipt as it reached national SP4N-LAPOR!."""
    return ComplaintMirrored(
        **received.caused(
            producer="sync",
            tracking_number=received.complaint.tracking_number,
            national_complaint_id="1000001",
            mirrored_event_id=received.event_id,
        )
    )


def consumer_record(
    event: Event, offset: int = 0, *, headers: bool = False
) -> ConsumerRecord[bytes, bytes]:
    """The event as a consumer fetches it from the complaint stream (keyed by its complaint)."""
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


async def publish_all(bootstrap_servers: str, topic: str, events: Sequence[Event]) -> None:
    """Publish events to a test topic as a service would: keyed, idempotent, acknowledged."""
    producer = idempotent_producer(bootstrap_servers, client_id="test-publisher")
    await producer.start()
    try:
        # Queued one by one, acknowledged together: hundreds of sends started at once wait for
        # buffer space in no order, and on a loaded machine some waited past the timeout.
        delivered = [
            await producer.send(topic, value=encode_event(e), key=e.key, headers=event_headers(e))
            for e in events
        ]
        await asyncio.gather(*delivered)
    finally:
        await producer.stop()
