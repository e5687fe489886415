"""The sync service's pure domain: circuit breaker, drain pace, mirroring plan, national
changes, reconciliation and backpressure, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.sync.adapters.lapor_api import (
    Classification,
    ComplaintRecord,
    Disposition,
    Followup,
    LogEntry,
    NationalStatus,
    reference_tag,
)
from services.sync.domain.circuit import CircuitBreaker, CircuitState
from services.sync.domain.consumption import keep_paused
from services.sync.domain.national import (
    actions_by_others,
    national_complaint_id,
    received_from_national,
    status_change,
)
from services.sync.domain.pace import DrainPace
from services.sync.domain.plan import (
    PROVINCE_INSTITUTION,
    AddFollowup,
    CreateComplaint,
    Forward,
    Ignore,
    institution_of,
    plan_mirror,
)
from services.sync.domain.reconcile import Difference, LocalRecord, compare
from shared.events import (
    Actor,
    ActorKind,
    AuthorityLevel,
    Channel,
    ComplaintMirrored,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    ReportType,
)
from testkit.factories import complaint_received

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


# --- circuit breaker ---------------------------------------------------------------------------


def test_circuit_opens_after_failures_in_a_row_and_probes_on_schedule() -> None:
    breaker = CircuitBreaker(failure_threshold=3, probe_interval_s=5, max_probe_interval_s=20)
    breaker.failed(0)
    breaker.failed(1)
    breaker.succeeded()  # a success in between resets the count
    breaker.failed(2)
    breaker.failed(3)
    assert breaker.allows_traffic
    breaker.failed(4)
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allows_traffic
    assert not breaker.start_probe(8.9)
    assert breaker.start_probe(9)
    assert breaker.state is CircuitState.HALF_OPEN
    assert not breaker.start_probe(9.5)  # one probe at a time


def test_failed_probes_back_off_up_to_the_ceiling_and_outage_time_counts_from_opening() -> None:
    breaker = CircuitBreaker(failure_threshold=1, probe_interval_s=5, max_probe_interval_s=12)
    breaker.failed(0)
    intervals = []
    now = 0.0
    for _ in range(4):
        now = breaker.next_probe_at
        assert breaker.start_probe(now)
        breaker.failed(now)
        intervals.append(breaker.next_probe_at - now)
    assert intervals == [10, 12, 12, 12]
    assert breaker.outage_seconds(now) == now
    breaker.failed(now + 1)  # a late answer of a call made before: the schedule stands
    assert breaker.next_probe_at == now + 12


def test_a_passing_probe_closes_the_circuit_and_says_it_recovered() -> None:
    breaker = CircuitBreaker(failure_threshold=1, probe_interval_s=5, max_probe_interval_s=60)
    breaker.failed(0)
    assert breaker.start_probe(5)
    assert breaker.succeeded() is True
    assert breaker.allows_traffic
    assert breaker.outage_seconds(100) == 0
    assert breaker.succeeded() is False


# --- drain pace --------------------------------------------------------------------------------


def _calls(pace: DrainPace, start: float, seconds: float, step: float = 0.001) -> int:
    calls, now = 0, start
    while now < start + seconds:
        if pace.take(now) == 0:
            calls += 1
        now += step
    return calls


def test_pace_holds_the_configured_rate() -> None:
    pace = DrainPace(20, ramp_s=10, now=0)
    assert 199 <= _calls(pace, 0, 10) <= 201


def test_after_recovery_the_pace_ramps_up_from_its_floor() -> None:
    pace = DrainPace(20, ramp_start_fraction=0.25, ramp_s=10, now=0)
    pace.recovered(100)
    assert pace.rate(100) == pytest.approx(5)
    assert pace.rate(105) == pytest.approx(12.5)
    assert pace.rate(111) == pytest.approx(20)
    first_second = _calls(pace, 100, 1)
    assert 4 <= first_second <= 6  # no burst of saved-up tokens on a service just back
    # Over the ramp: the average of a linear ramp from 5 to 20 a second.
    assert 120 <= first_second + _calls(pace, 101, 9) <= 130


def test_a_429_holds_every_call_until_retry_after_and_halves_the_rate() -> None:
    pace = DrainPace(20, ramp_start_fraction=0.25, ramp_s=10, now=0)
    pace.rate_limited(50, retry_after_s=2)
    assert pace.take(50) == pytest.approx(2)
    assert pace.take(51.5) == pytest.approx(0.5)
    assert pace.rate(50) == pytest.approx(10)
    pace.rate_limited(50, retry_after_s=1)  # a shorter hold does not shorten the first
    assert pace.take(51) == pytest.approx(1)
    assert pace.rate(50) == pytest.approx(5)  # never below the floor
    pace.rate_limited(50, retry_after_s=1)
    assert pace.rate(50) == pytest.approx(5)


def test_a_token_given_back_can_be_used_again() -> None:
    pace = DrainPace(1, now=0)
    assert pace.take(0) == 0
    assert pace.take(0) > 0
    pace.give_back()
    assert pace.take(0) == 0


# --- backpressure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paused", "circuit", "backlog", "expected"),
    [
        (False, CircuitState.CLOSED, 10, False),
        (False, CircuitState.OPEN, 0, True),
        (False, CircuitState.HALF_OPEN, 0, True),
        (False, CircuitState.CLOSED, 100, True),
        (True, CircuitState.CLOSED, 60, True),  # hysteresis: resume at half the bound
        (True, CircuitState.CLOSED, 50, False),
    ],
)
def test_consumption_pauses_while_down_or_full(
    paused: bool, circuit: CircuitState, backlog: int, expected: bool
) -> None:
    assert keep_paused(paused, circuit, backlog, bound=100) is expected


# --- the mirroring plan ------------------------------------------------------------------------


def test_a_received_complaint_is_created_with_its_tag_flags_and_no_reporter() -> None:
    received = complaint_received(
        report_type=ReportType.ASPIRASI, anonymous=True, confidential=True, category="Jalan"
    )
    action = plan_mirror(received)
    assert isinstance(action, CreateComplaint)
    draft = action.draft
    assert draft.tags == [reference_tag(received.complaint.tracking_number)]
    assert draft.institution_id == PROVINCE_INSTITUTION
    assert draft.classification is Classification.ASPIRATION
    assert draft.is_anonymous and draft.is_secret
    assert draft.date_of_incident == date(2026, 11, 20)
    dumped = draft.model_dump_json()
    assert "Siti" not in dumped and "0101" not in dumped


def test_what_came_from_national_is_not_sent_back() -> None:
    filed_nationally = complaint_received(channel=Channel.LAPOR_NATIONAL)
    assert isinstance(plan_mirror(filed_nationally), Ignore)
    echo = _status(filed_nationally, ComplaintStatus.RESOLVED, source="national")
    assert isinstance(plan_mirror(echo), Ignore)
    mirrored = ComplaintMirrored(
        **filed_nationally.caused(
            producer="sync",
            tracking_number="X-1",
            national_complaint_id="1",
            mirrored_event_id=filed_nationally.event_id,
        )
    )
    assert isinstance(plan_mirror(mirrored), Ignore)


def _status(received: object, status: ComplaintStatus, **fields: object) -> ComplaintStatusChanged:
    assert hasattr(received, "caused")
    return ComplaintStatusChanged(
        **received.caused(
            producer="notifier",
            tracking_number="LPR-1",
            status=status,
            actor=Actor(kind=ActorKind.AGENCY, id="63.dishub"),
            **fields,
        )
    )


@pytest.mark.parametrize(
    ("status", "national", "text"),
    [
        (
            ComplaintStatus.ACKNOWLEDGED,
            NationalStatus.IN_PROGRESS,
            "Laporan diterima dan diproses.",
        ),
        (ComplaintStatus.FOLLOWED_UP, NationalStatus.FOLLOWED_UP, "Laporan telah ditindaklanjuti."),
        (ComplaintStatus.RESOLVED, NationalStatus.DONE, "Laporan selesai."),
        (ComplaintStatus.ARCHIVED, NationalStatus.ARCHIVED, "Laporan diarsipkan."),
        (ComplaintStatus.REPORTER_REPLIED, None, "Pelapor menanggapi tindak lanjut."),
    ],
)
def test_local_status_changes_become_follow_ups_with_the_national_status(
    status: ComplaintStatus, national: NationalStatus | None, text: str
) -> None:
    received = complaint_received()
    assert plan_mirror(_status(received, status)) == AddFollowup(text, national)
    assert plan_mirror(_status(received, status, note="Sudah diperbaiki")) == AddFollowup(
        "Sudah diperbaiki", national
    )


def test_a_reporters_rating_goes_to_national_as_a_follow_up_with_its_mark_masked() -> None:
    """As intake writes it: the mark and the comment in the note; the status stays."""
    rated = _status(
        complaint_received(),
        ComplaintStatus.RATED,
        note="Penilaian pelapor: 4/5. Cepat, terima kasih. Hubungi 081255550101",
        rating=4,
    )
    followup = plan_mirror(rated)
    assert isinstance(followup, AddFollowup) and followup.status is None
    assert followup.content.startswith("Penilaian pelapor: 4/5. Cepat, terima kasih.")
    assert "55550101" not in followup.content


def test_a_rejection_forwards_as_not_our_authority_when_the_right_institution_is_known() -> None:
    received = complaint_received()
    to_banjar = _status(
        received, ComplaintStatus.REJECTED, note="jalan kabupaten", suggested_agency_code="6303"
    )
    assert plan_mirror(to_banjar) == Forward(6303, "jalan kabupaten")
    unknown = _status(received, ComplaintStatus.REJECTED, suggested_agency_code="pusat")
    assert plan_mirror(unknown) == AddFollowup("Bukan kewenangan 63.dishub", None)
    assert isinstance(plan_mirror(_status(received, ComplaintStatus.ROUTED)), Ignore)


def _routed(level: AuthorityLevel, agency: str, region: str | None = None) -> ComplaintRouted:
    received = complaint_received()
    return ComplaintRouted(
        **received.caused(
            producer="router",
            tracking_number="LPR-1",
            agency_code=agency,
            level=level,
            region_code=region,
            confidence=0.9,
            reasons=("jalan kabupaten",),
            routing_table_version="t1",
            disposition_due=date(2026, 12, 3),
            followup_due=date(2026, 12, 10),
        )
    )


def test_routing_tells_national_which_institution_has_the_complaint() -> None:
    assert plan_mirror(_routed(AuthorityLevel.KABKOTA, "6303", "6303")) == Forward(
        6303, "jalan kabupaten"
    )
    # The executor skips it: created with the province already.
    assert plan_mirror(_routed(AuthorityLevel.PROVINSI, "63.pupr")) == Forward(
        PROVINCE_INSTITUTION, "jalan kabupaten"
    )
    central = plan_mirror(_routed(AuthorityLevel.PUSAT, "pusat"))
    assert isinstance(central, AddFollowup)
    assert "instansi pusat" in central.content


def test_institutions_of_agencies() -> None:
    assert institution_of("6371") == 6371
    assert institution_of("63.disdikbud") == PROVINCE_INSTITUTION
    assert institution_of("63.triage") == PROVINCE_INSTITUTION
    assert institution_of("pusat") is None
    assert institution_of(None) is None


# --- national changes --------------------------------------------------------------------------


def _record(**fields: object) -> ComplaintRecord:
    values: dict[str, object] = {
        "complaint_id": 1_000_007,
        "tracking_id": "LAPOR-1000007",
        "title": "Banjir",
        "content": "Banjir di pasar",
        "status": NationalStatus.DONE,
        "disposition": Disposition(institution_id=6300, institution_name="Pemprov Kalsel"),
        "created_at": NOW,
        "updated_at": NOW + timedelta(hours=1),
    }
    values.update(fields)
    return ComplaintRecord.model_validate(values)


def test_only_actions_by_others_after_what_was_seen_come_back() -> None:
    logs = [
        LogEntry(at=NOW, action="created", actor="integration"),
        LogEntry(at=NOW + timedelta(minutes=1), action="followup", actor="integration"),
        LogEntry(at=NOW + timedelta(minutes=3), action="status", actor="admin", note="selesai"),
        LogEntry(at=NOW + timedelta(minutes=2), action="followup", actor="admin", note="cek"),
    ]
    assert [e.note for e in actions_by_others(logs, None)] == ["cek", "selesai"]
    seen = NOW + timedelta(minutes=2)
    assert [e.note for e in actions_by_others(logs, seen)] == ["selesai"]


def test_a_national_action_is_a_status_change_with_source_national_and_a_stable_id() -> None:
    record = _record()
    entry = LogEntry(at=NOW, action="status", actor="admin", note="selesai")
    complaint_id, correlation = uuid.uuid4(), uuid.uuid4()
    change = status_change(
        record, entry, complaint_id=complaint_id, tracking_number="T-1", correlation_id=correlation
    )
    assert change.source == "national"
    assert change.status is ComplaintStatus.RESOLVED
    assert change.actor.kind is ActorKind.NATIONAL
    assert isinstance(plan_mirror(change), Ignore)  # never echoed back
    again = status_change(
        record, entry, complaint_id=complaint_id, tracking_number="T-1", correlation_id=correlation
    )
    assert again.event_id == change.event_id


def test_a_complaint_disposed_to_the_province_arrives_once_with_the_national_channel() -> None:
    record = _record(status=NationalStatus.VERIFIED)
    received = received_from_national(record)
    assert received.complaint.channel is Channel.LAPOR_NATIONAL
    assert received.complaint.tracking_number == "LAPOR-1000007"
    assert received.complaint_id == national_complaint_id(1_000_007)
    assert received_from_national(record).event_id == received.event_id


# --- reconciliation ----------------------------------------------------------------------------


def _followup(content: str, actor: str = "integration") -> Followup:
    return Followup(followup_id=1, complaint_id=1, content=content, actor=actor, created_at=NOW)


def test_reconciliation_finds_what_is_missing_unmapped_or_duplicated() -> None:
    local = LocalRecord("T-1", None, ("a", "b"))
    assert [f.difference for f in compare(local, [], [])] == [Difference.MISSING]
    one, two = _record(complaint_id=5), _record(complaint_id=6)
    findings = compare(local, [one, two], [_followup("a"), _followup("a"), _followup("b", "admin")])
    assert [f.difference for f in findings] == [
        Difference.DUPLICATED,
        Difference.UNMAPPED,
        Difference.FOLLOWUPS_MISSING,
        Difference.FOLLOWUPS_DUPLICATED,
    ]
    assert findings[2].missing_followups == ("b",)
    in_step = LocalRecord("T-1", 5, ("a",))
    assert compare(in_step, [one], [_followup("a")]) == []
    assert compare(LocalRecord("T-1", 9, ()), [one], [])[0].difference is Difference.MAPPING_DIFFERS
