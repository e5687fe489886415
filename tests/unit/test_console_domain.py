"""The operator console's decisions: where complaints wait, what is overdue, national LAPOR's state
from sync's metrics, and what operators see of a reporter and of each event."""

from __future__ import annotations

from datetime import date

import pytest

from services.intake.console.domain import (
    AgencyOverdue,
    Assignment,
    Circuit,
    Progress,
    Stage,
    describe,
    duration,
    is_overdue,
    masked_phone,
    national_status,
    overdue_by_agency,
    reporter_for_operator,
    waiting_counts,
    waits_for,
)
from shared.events import (
    Actor,
    ActorKind,
    AgencyNotified,
    ComplaintStatus,
    ComplaintStatusChanged,
    NotificationChannel,
)
from testkit.factories import complaint, complaint_received

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("progress", "waiting"),
    [
        (Progress("received", None, False, False, False), {Stage.ROUTED, Stage.MIRRORED}),
        (Progress("routed", "63.pupr", True, False, True), {Stage.NOTIFIED}),
        (Progress("routed", "63.pupr", True, True, True), set()),
        # Triage waits for an operator, central government is never notified here.
        (Progress("routed", "63.triage", True, False, True), set()),
        (Progress("routed", "pusat", True, False, False), {Stage.MIRRORED}),
        # A closed complaint waits for nothing local, but national must still hear of it.
        (Progress("resolved", "63.pupr", True, False, False), {Stage.MIRRORED}),
        # Followed up before the notification was recorded: the agency evidently knows.
        (Progress("followed_up", "63.pupr", True, False, True), set()),
    ],
)
def test_where_a_complaint_waits(progress: Progress, waiting: set[Stage]) -> None:
    assert waits_for(progress) == waiting


def test_waiting_counts_add_groups_and_count_triage() -> None:
    waiting, triage = waiting_counts(
        [
            (Progress("received", None, False, False, False), 3),
            (Progress("routed", "63.triage", True, False, False), 2),
            (Progress("routed", "63.dishub", True, False, True), 4),
            (Progress("archived", "63.triage", True, False, True), 7),
        ]
    )
    assert waiting == {
        Stage.RECEIVED: 0,
        Stage.ROUTED: 3,
        Stage.NOTIFIED: 4,
        Stage.MIRRORED: 5,
    }
    assert triage == 2


@pytest.mark.parametrize(
    ("assignment", "overdue"),
    [
        (Assignment("63.pupr", "routed", date(2026, 11, 27)), True),
        (Assignment("63.pupr", "acknowledged", date(2026, 11, 1)), True),
        (Assignment("63.pupr", "routed", TODAY), False),  # due today: not yet late
        (Assignment("63.pupr", "followed_up", date(2026, 11, 1)), False),  # answered
        (Assignment("63.pupr", "resolved", date(2026, 11, 1)), False),
        (Assignment("63.triage", "routed", date(2026, 11, 1)), False),  # operators' own queue
    ],
)
def test_overdue_means_past_the_followup_date_without_an_answer(
    assignment: Assignment, overdue: bool
) -> None:
    assert is_overdue(assignment, TODAY) is overdue


def test_overdue_by_agency_counts_and_keeps_the_oldest_most_late_first() -> None:
    late = overdue_by_agency(
        [
            Assignment("63.pupr", "routed", date(2026, 11, 20)),
            Assignment("63.pupr", "acknowledged", date(2026, 11, 10)),
            Assignment("63.dishub", "routed", date(2026, 11, 1)),
            Assignment("63.dishub", "followed_up", date(2026, 10, 1)),
            Assignment("6371", "routed", date(2026, 12, 1)),
        ],
        TODAY,
    )
    assert late == [
        AgencyOverdue("63.dishub", 1, date(2026, 11, 1)),
        AgencyOverdue("63.pupr", 2, date(2026, 11, 10)),
    ]
    assert late[0].days_late(TODAY) == 27


SYNC_METRICS = """\
# HELP lapor_hub_sync_backlog_events Events waiting to be mirrored to national
# TYPE lapor_hub_sync_backlog_events gauge
lapor_hub_sync_backlog_events 42.0
# HELP lapor_hub_sync_backlog_oldest_age_seconds Age of the oldest event waiting to be mirrored
# TYPE lapor_hub_sync_backlog_oldest_age_seconds gauge
lapor_hub_sync_backlog_oldest_age_seconds 754.5
# HELP lapor_hub_sync_circuit_state The circuit to national LAPOR: 0 closed, 1 half-open, 2 open
# TYPE lapor_hub_sync_circuit_state gauge
lapor_hub_sync_circuit_state 2.0
# HELP lapor_hub_sync_current_outage_seconds How long the circuit has been open (0 when closed)
# TYPE lapor_hub_sync_current_outage_seconds gauge
lapor_hub_sync_current_outage_seconds 930.0
# HELP lapor_hub_sync_consumption_paused 1 while Kafka consumption is paused (backpressure)
# TYPE lapor_hub_sync_consumption_paused gauge
lapor_hub_sync_consumption_paused 1.0
# HELP lapor_hub_sync_mirrored_total Events mirrored
# TYPE lapor_hub_sync_mirrored_total counter
lapor_hub_sync_mirrored_total{outcome="created"} 7.0
"""


def test_national_state_read_from_sync_metrics() -> None:
    status = national_status(SYNC_METRICS)
    assert status.backlog == 42
    assert status.oldest_age_s == 754.5
    assert status.circuit is Circuit.OPEN
    assert status.outage_s == 930.0
    assert status.consumption_paused
    assert duration(status.outage_s) == "15 mnt 30 dtk"


def test_metrics_of_another_service_are_refused() -> None:
    with pytest.raises(ValueError, match="lapor_hub_sync_backlog_events"):
        national_status("# TYPE up gauge\nup 1\n")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 dtk"), (59.9, "59 dtk"), (3_725, "1 jam 2 mnt"), (3 * 86_400 + 7_200, "3 hari 2 jam")],
)
def test_durations_read_in_indonesian(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_an_anonymous_reporter_is_not_named_and_contacts_are_masked() -> None:
    anonymous = complaint(
        anonymous=True, reporter={"name": "Siti Aminah", "phone": "+62 812 5555 0101"}
    )
    seen = reporter_for_operator(anonymous)
    assert seen.name is None and seen.anonymous
    assert seen.contacts == ("6281••••••101",)
    named = reporter_for_operator(
        complaint(reporter={"name": "Budi", "email": "budi.santoso@example.com"})
    )
    assert named.name == "Budi"
    assert named.contacts == ("b•••@example.com",)
    assert "5555" not in masked_phone("+62 812 5555 0101")


def test_a_reporters_reply_is_masked_and_hidden_when_anonymous() -> None:
    received = complaint_received()
    reply = ComplaintStatusChanged(
        **received.caused(
            producer="intake",
            tracking_number=received.complaint.tracking_number,
            status=ComplaintStatus.REPORTER_REPLIED,
            actor=Actor(kind=ActorKind.REPORTER, id="sms"),
            note="Saya Siti, hubungi 081255550101",
        )
    )
    shown = describe(reply, anonymous=False)
    assert shown.detail is not None and "081255550101" not in shown.detail
    assert "Siti" not in (describe(reply, anonymous=True).detail or "")


def test_internal_events_are_marked_so() -> None:
    received = complaint_received()
    notified = AgencyNotified(
        **received.caused(
            producer="notifier",
            tracking_number=received.complaint.tracking_number,
            agency_code="63.pupr",
            channel=NotificationChannel.EMAIL,
            delivery_id=received.event_id,
            attempts=2,
        )
    )
    line = describe(notified, anonymous=False)
    assert line.internal
    assert line.title == "Instansi 63.pupr diberi tahu lewat email"
