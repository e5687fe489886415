"""The event contracts: round trips, versions, and the errors a bad payload gets."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.events import (
    Actor,
    ActorKind,
    AuthorityLevel,
    Complaint,
    ComplaintContent,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    NewerSchemaError,
    encode_event,
    event_headers,
    parse_event,
    read_stored,
)
from shared.schemas import stale_schemas
from testkit.factories import complaint, complaint_received


def _routed(received: ComplaintReceived) -> ComplaintRouted:
    return ComplaintRouted(
        **received.caused(
            producer="router",
            tracking_number=received.complaint.tracking_number,
            agency_code="63.pupr",
            level=AuthorityLevel.PROVINSI,
            region_code="6303",
            category="Infrastruktur",
            confidence=0.92,
            reasons=("jalan provinsi", "Gambut → Kab. Banjar"),
            routing_table_version="2026.11.1",
            disposition_due=date(2026, 12, 3),
            followup_due=date(2026, 12, 5),
        )
    )


def test_every_event_survives_a_round_trip_through_json() -> None:
    received = complaint_received()
    routed = _routed(received)
    changed = ComplaintStatusChanged(
        **routed.caused(
            producer="notifier",
            tracking_number=received.complaint.tracking_number,
            status=ComplaintStatus.ACKNOWLEDGED,
            previous_status=ComplaintStatus.ROUTED,
            actor=Actor(kind=ActorKind.AGENCY, id="63.pupr"),
        )
    )
    for event in (received, routed, changed):
        assert parse_event(encode_event(event)) == event


def test_caused_events_keep_the_flow_and_point_at_their_cause() -> None:
    received = complaint_received()
    routed = _routed(received)
    assert routed.correlation_id == received.event_id == received.correlation_id
    assert routed.causation_id == received.event_id
    assert routed.key == received.key == str(received.complaint_id).encode()


def test_times_are_kept_in_utc() -> None:
    wita = timezone(timedelta(hours=8))
    event = complaint_received(received_at=datetime(2026, 11, 28, 9, 0, tzinfo=wita))
    assert event.complaint.received_at.utcoffset() == timedelta(0)
    assert event.complaint.received_at.hour == 1


def test_a_newer_major_schema_version_is_held_not_poison() -> None:
    payload = json.loads(encode_event(complaint_received()))
    payload["schema_version"] = 2
    payload["complaint"] = {"renamed": "beyond what version 1 reads"}
    with pytest.raises(NewerSchemaError, match="ComplaintReceived schema_version 2"):
        parse_event(payload)


def test_an_older_or_nonsense_schema_version_is_rejected() -> None:
    payload = json.loads(encode_event(complaint_received()))
    payload["schema_version"] = 0
    with pytest.raises(ValidationError) as error:
        parse_event(payload)
    assert [e["loc"] for e in error.value.errors()] == [("ComplaintReceived", "schema_version")]


def test_unknown_event_type_is_rejected() -> None:
    payload = json.loads(encode_event(complaint_received()))
    payload["event_type"] = "ComplaintTeleported"
    with pytest.raises(ValidationError) as error:
        parse_event(payload)
    assert error.value.errors()[0]["type"] == "union_tag_invalid"


def test_bad_payload_names_every_bad_field() -> None:
    payload = json.loads(encode_event(complaint_received()))
    payload["complaint"]["title"] = ""
    payload["complaint"]["channel"] = "pigeon"
    payload["complaint"]["location"]["region_code"] = "3171"
    payload["complaint"]["reporter"]["email"] = "not-an-email"
    with pytest.raises(ValidationError) as error:
        parse_event(payload)
    bad = {e["loc"][2:] for e in error.value.errors()}
    assert bad == {
        ("title",),
        ("channel",),
        ("location", "region_code"),
        ("reporter", "email"),
    }


def test_a_reader_ignores_what_a_newer_minor_version_added_at_any_depth() -> None:
    received = complaint_received()
    payload = json.loads(encode_event(received))
    payload["schema_minor"] = 3
    payload["priority"] = "urgent"
    payload["complaint"]["sentiment"] = {"score": -0.8}
    payload["complaint"]["location"]["what3words"] = "kopi.sungai.jukung"
    parsed = parse_event(json.dumps(payload))
    assert parsed.schema_minor == 3
    assert parsed.model_copy(update={"schema_minor": 0}) == received
    stored = json.dumps(payload["complaint"])
    assert read_stored(Complaint, stored) == received.complaint


def test_a_writer_is_strict_about_unknown_fields() -> None:
    """Tolerance is for reading events: a model built in code (and intake's HTTP input, which
    is a ComplaintContent) still refuses a field it does not know."""
    with pytest.raises(ValidationError, match="priority"):
        complaint(priority="urgent")
    with pytest.raises(ValidationError, match="priority"):
        ComplaintContent.model_validate({"title": "t", "body": "b", "priority": "urgent"})


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="received_at"):
        complaint(received_at=datetime(2026, 11, 28, 9, 0))


def test_routed_confidence_must_be_a_probability() -> None:
    with pytest.raises(ValidationError, match="confidence"):
        ComplaintRouted.model_validate(
            {**_routed(complaint_received()).model_dump(), "confidence": 1.5}
        )


def test_headers_name_type_and_version() -> None:
    headers = dict(event_headers(complaint_received()))
    assert headers["event_type"] == b"ComplaintReceived"
    assert headers["schema_version"] == b"1"


def test_event_ids_are_unique() -> None:
    assert len({complaint_received().event_id for _ in range(100)}) == 100
    assert isinstance(complaint_received().event_id, uuid.UUID)


def test_committed_json_schemas_match_the_models() -> None:
    assert stale_schemas() == [], "run `make schemas` and commit shared/schemas/"
