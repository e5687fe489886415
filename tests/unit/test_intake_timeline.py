"""What the public timeline shows of each later event, and the columns the bulk statement reads."""

from __future__ import annotations

from datetime import date

from services.intake.domain.model import PublicEntry
from services.intake.repository import later_event_columns
from services.intake.service import REPLY_NOTE, public_entry, routed_note
from shared.events import (
    Actor,
    ActorKind,
    ComplaintStatus,
    ComplaintStatusChanged,
    RoutingOverrideRequested,
)
from testkit.factories import complaint_received, mirrored, notified, routed

RECEIVED = complaint_received()
TRACKING = RECEIVED.complaint.tracking_number
ROUTED, NOTIFIED, MIRRORED = (
    routed(RECEIVED, "63.pupr"),
    notified(RECEIVED, "63.pupr"),
    mirrored(RECEIVED),
)
REPLIED = ComplaintStatusChanged(
    **RECEIVED.caused(
        producer="intake",
        tracking_number=TRACKING,
        status=ComplaintStatus.REPORTER_REPLIED,
        actor=Actor(kind=ActorKind.REPORTER, id="sms"),
        agency_code="63.pupr",
        note="Saya Siti, 0812 5555 0101: jalannya masih rusak",
    )
)
OVERRIDE = RoutingOverrideRequested(
    **RECEIVED.caused(
        producer="intake",
        tracking_number=TRACKING,
        agency_code="63.dinkes",
        operator=Actor(kind=ActorKind.OPERATOR, id="rina"),
    )
)


def test_citizens_see_routing_status_changes_and_mirroring_but_never_a_reporters_words() -> None:
    assert public_entry(ROUTED) == PublicEntry(
        "routed",
        "Diteruskan ke Dinas Pekerjaan Umum dan Penataan Ruang Provinsi Kalimantan Selatan",
        "63.pupr",
        True,
    )
    assert public_entry(REPLIED) == PublicEntry("reporter_replied", REPLY_NOTE, "63.pupr", True)
    mirrored = public_entry(MIRRORED)
    assert mirrored is not None and not mirrored.changes_status
    assert public_entry(NOTIFIED) is None and public_entry(OVERRIDE) is None


def test_columns_carry_the_progress_agency_and_due_dates_only_where_they_count() -> None:
    events = [ROUTED, NOTIFIED, MIRRORED, REPLIED, OVERRIDE]
    columns = later_event_columns([(e, public_entry(e)) for e in events])
    assert len(columns) == 12 and all(len(column) == len(events) for column in columns)
    event_ids, _, _, types, _, statuses, _, public_agencies, changes, agencies, due, followup = (
        columns
    )
    assert event_ids == [e.event_id for e in events]
    assert types == [e.event_type for e in events]
    assert statuses == ["routed", None, "mirrored", "reporter_replied", None]
    assert public_agencies == ["63.pupr", None, None, "63.pupr", None]
    assert changes == [True, None, False, True, None]
    # The override's agency is an operator's wish, not the complaint's progress.
    assert agencies == ["63.pupr", "63.pupr", None, None, None]
    assert due == [date(2026, 12, 1), None, None, None, None]
    assert followup == [date(2026, 12, 8), None, None, None, None]


def test_no_events_make_empty_columns() -> None:
    assert later_event_columns([]) == tuple([] for _ in range(12))


def test_the_public_line_says_who_and_why_without_the_routers_internals() -> None:
    placed = ROUTED.model_copy(
        update={
            "agency_code": "6303",
            "region_code": "6303",
            "category": "PENDIDIKAN DAN KEBUDAYAAN",
            "reasons": ("model router-model-x: topik 'sekolah'", "aturan kewenangan: SD/SMP"),
        }
    )
    assert routed_note(placed) == (
        "Diteruskan ke Pemerintah Kabupaten Banjar"
        " (urusan pendidikan dan kebudayaan; SD/SMP; wilayah Kabupaten Banjar)"
    )
    triaged = ROUTED.model_copy(update={"agency_code": "63.triage"})
    assert "admin LAPOR Kalsel" in routed_note(triaged)
