"""What the operator console decides, apart from any I/O: where a complaint waits in the pipeline,
which assignments are overdue, national LAPOR's state from the sync service's metrics, how an
event reads in a complaint's timeline, and what operators see of a reporter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from prometheus_client.parser import text_string_to_metric_families

from shared.agencies import CENTRAL_AGENCY, CLOSED_STATUSES, TRIAGE_AGENCY
from shared.events import (
    AgencyNotified,
    AnyEvent,
    Complaint,
    ComplaintMirrored,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    RoutingOverrideRequested,
)
from shared.masking import masked
from shared.working_days import WITA

# The agency has not answered yet: received the assignment, at most acknowledged it.
AWAITING_FOLLOWUP = frozenset({ComplaintStatus.ROUTED.value, ComplaintStatus.ACKNOWLEDGED.value})

STATUS_LABELS = {
    ComplaintStatus.RECEIVED: "Diterima",
    ComplaintStatus.ROUTED: "Didisposisikan",
    ComplaintStatus.ACKNOWLEDGED: "Diterima instansi",
    ComplaintStatus.FOLLOWED_UP: "Ditindaklanjuti",
    ComplaintStatus.REJECTED: "Bukan wewenang",
    ComplaintStatus.REPORTER_REPLIED: "Pelapor menanggapi",
    ComplaintStatus.RESOLVED: "Selesai",
    ComplaintStatus.REOPENED: "Dibuka kembali oleh pelapor",
    ComplaintStatus.RATED: "Dinilai pelapor",
    ComplaintStatus.ARCHIVED: "Diarsipkan",
}


def status_label(status: str) -> str:
    try:
        return STATUS_LABELS[ComplaintStatus(status)]
    except ValueError:
        return status


class Stage(StrEnum):
    """The pipeline's stages, in order; a complaint reaches each once."""

    RECEIVED = "received"
    ROUTED = "routed"
    NOTIFIED = "notified"
    MIRRORED = "mirrored"


STAGE_LABELS = {
    Stage.RECEIVED: "Diterima",
    Stage.ROUTED: "Didisposisikan",
    Stage.NOTIFIED: "Instansi diberi tahu",
    Stage.MIRRORED: "Tercatat di LAPOR! nasional",
}


@dataclass(frozen=True)
class Progress:
    """Where one complaint (or a group of alike ones) stands."""

    status: str
    agency_code: str | None
    routed: bool
    notified: bool
    mirrored: bool


def waits_for(progress: Progress) -> set[Stage]:
    """The stages a complaint has yet to reach and is waiting for now. A complaint in triage
    waits for an operator, not for the notifier; one handed to central government is never
    notified locally; a closed one waits for nothing local (but may still be mirrored)."""
    waiting: set[Stage] = set()
    if not progress.mirrored:
        waiting.add(Stage.MIRRORED)
    if progress.status in CLOSED_STATUSES:
        return waiting
    if not progress.routed:
        waiting.add(Stage.ROUTED)
    elif (
        not progress.notified
        and progress.agency_code not in {TRIAGE_AGENCY, CENTRAL_AGENCY}
        and progress.status in AWAITING_FOLLOWUP
    ):
        waiting.add(Stage.NOTIFIED)
    return waiting


def in_triage(progress: Progress) -> bool:
    return progress.agency_code == TRIAGE_AGENCY and progress.status not in CLOSED_STATUSES


@dataclass(frozen=True)
class StageCounts:
    stage: Stage
    today: int
    total: int
    waiting: int

    @property
    def label(self) -> str:
        return STAGE_LABELS[self.stage]


def waiting_counts(groups: Iterable[tuple[Progress, int]]) -> tuple[dict[Stage, int], int]:
    """How many complaints wait for each stage, and how many sit in triage."""
    waiting = dict.fromkeys(Stage, 0)
    triage = 0
    for progress, count in groups:
        for stage in waits_for(progress):
            waiting[stage] += count
        if in_triage(progress):
            triage += count
    return waiting, triage


@dataclass(frozen=True)
class Assignment:
    agency_code: str
    status: str
    followup_due: date


def is_overdue(assignment: Assignment, today: date) -> bool:
    """Past its follow-up due date with no follow-up from the agency (the notifier's rule for
    `lapor_hub_notifier_overdue_assignments`). Triage is the operators' own queue, not late."""
    return (
        assignment.agency_code != TRIAGE_AGENCY
        and assignment.status in AWAITING_FOLLOWUP
        and assignment.followup_due < today
    )


@dataclass(frozen=True)
class AgencyOverdue:
    agency_code: str
    count: int
    oldest_due: date

    def days_late(self, today: date) -> int:
        return (today - self.oldest_due).days


def overdue_by_agency(assignments: Iterable[Assignment], today: date) -> list[AgencyOverdue]:
    """Per agency: overdue assignments and the oldest due date; the most overdue first."""
    counts: dict[str, int] = {}
    oldest: dict[str, date] = {}
    for assignment in assignments:
        if not is_overdue(assignment, today):
            continue
        code = assignment.agency_code
        counts[code] = counts.get(code, 0) + 1
        oldest[code] = min(oldest.get(code, assignment.followup_due), assignment.followup_due)
    found = [AgencyOverdue(code, counts[code], oldest[code]) for code in counts]
    return sorted(found, key=lambda a: (a.oldest_due, -a.count, a.agency_code))


class Circuit(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


CIRCUIT_LABELS = {
    Circuit.CLOSED: "Normal (tertutup)",
    Circuit.HALF_OPEN: "Mencoba pulih (half-open)",
    Circuit.OPEN: "Terputus (open)",
}
_CIRCUIT_VALUES = {0: Circuit.CLOSED, 1: Circuit.HALF_OPEN, 2: Circuit.OPEN}


@dataclass(frozen=True)
class NationalStatus:
    backlog: int
    oldest_age_s: float
    circuit: Circuit
    outage_s: float
    consumption_paused: bool

    @property
    def circuit_label(self) -> str:
        return CIRCUIT_LABELS[self.circuit]


def national_status(metrics_text: str) -> NationalStatus:
    """National LAPOR's state as the sync service exports it (`lapor_hub_sync_*` gauges);
    raises ValueError when a gauge is missing (not the sync service's /metrics)."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name.startswith("lapor_hub_sync_") and not sample.labels:
                values[sample.name] = sample.value
    try:
        return NationalStatus(
            backlog=int(values["lapor_hub_sync_backlog_events"]),
            oldest_age_s=values["lapor_hub_sync_backlog_oldest_age_seconds"],
            circuit=_CIRCUIT_VALUES[int(values["lapor_hub_sync_circuit_state"])],
            outage_s=values["lapor_hub_sync_current_outage_seconds"],
            consumption_paused=values.get("lapor_hub_sync_consumption_paused", 0) >= 1,
        )
    except KeyError as missing:
        raise ValueError(f"sync metric {missing} not found") from None


def duration(seconds: float) -> str:
    """A short Indonesian duration: '0 dtk', '4 mnt 10 dtk', '2 jam 5 mnt', '3 hari 4 jam'."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} hari {hours} jam"
    if hours:
        return f"{hours} jam {minutes} mnt"
    if minutes:
        return f"{minutes} mnt {secs} dtk"
    return f"{secs} dtk"


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    title: str
    detail: str | None
    internal: bool  # not in the public timeline


def describe(event: AnyEvent, anonymous: bool) -> TimelineLine:
    """How an event reads in the operator's timeline. A reporter's own words are masked (NIK,
    phone numbers), and dropped for an anonymous complaint: they may name the reporter."""
    at = event.occurred_at
    if isinstance(event, ComplaintRouted):
        who = f"{event.decided_by.kind.value}:{event.decided_by.id or '-'}"
        reasons = "; ".join(event.reasons) or "-"
        return TimelineLine(
            at,
            f"Didisposisikan ke {event.agency_code} (putaran {event.routing_round})",
            f"batas disposisi {event.disposition_due:%d-%m-%Y}, batas tindak lanjut "
            f"{event.followup_due:%d-%m-%Y}; keyakinan {event.confidence:.2f}; oleh {who}; "
            f"alasan: {reasons}",
            internal=False,
        )
    if isinstance(event, RoutingOverrideRequested | AgencyNotified):
        return _internal_line(event)
    if isinstance(event, ComplaintStatusChanged):
        note = event.note
        if note and event.status is ComplaintStatus.REPORTER_REPLIED:
            note = "(isi tanggapan disembunyikan: pengaduan anonim)" if anonymous else masked(note)
        actor = f"{event.actor.kind.value}:{event.actor.id or '-'}"
        source = " dari LAPOR! nasional" if event.source == "national" else ""
        return TimelineLine(
            at, f"{status_label(event.status.value)} — {actor}{source}", note, internal=False
        )
    if isinstance(event, ComplaintPlaceRequested):
        return TimelineLine(
            at,
            "Pelapor ditanya lokasinya (kab/kota tidak disebut)",
            f"topik {event.topic or '-'}; jawaban ditunggu sampai "
            f"{event.answer_due.astimezone(WITA):%d-%m-%Y %H.%M} WITA, lalu ke triase",
            internal=False,
        )
    if isinstance(event, ComplaintMirrored):
        return TimelineLine(
            at,
            "Tercatat di LAPOR! nasional",
            f"nomor nasional {event.national_complaint_id}",
            internal=False,
        )
    assert isinstance(event, ComplaintReceived)
    return TimelineLine(at, "Diterima", None, internal=False)


def _internal_line(event: RoutingOverrideRequested | AgencyNotified) -> TimelineLine:
    """What operators alone see: an override asked, an agency alerted."""
    if isinstance(event, RoutingOverrideRequested):
        return TimelineLine(
            event.occurred_at,
            f"Operator {event.operator.id or '-'} meminta disposisi ke {event.agency_code}",
            event.reason,
            internal=True,
        )
    return TimelineLine(
        event.occurred_at,
        f"Instansi {event.agency_code} diberi tahu lewat {event.channel.value}",
        f"percobaan ke-{event.attempts}",
        internal=True,
    )


_DIGIT = re.compile(r"\d")


def masked_phone(phone: str) -> str:
    """Country code and operator prefix, and the last three digits: enough to recognise a
    caller, not to call them."""
    digits = _DIGIT.findall(phone)
    if len(digits) <= 6:
        return "•" * len(digits)
    return "".join(digits[:4]) + "•" * (len(digits) - 7) + "".join(digits[-3:])


def masked_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


@dataclass(frozen=True)
class ReporterForOperator:
    name: str | None  # None: anonymous (or not given)
    contacts: tuple[str, ...]  # masked
    anonymous: bool


def reporter_for_operator(complaint: Complaint) -> ReporterForOperator:
    """What the console shows of who complained: the name only when not anonymous, contacts
    always masked (a console screen is seen over shoulders and in screenshots)."""
    reporter = complaint.reporter
    contacts = []
    if reporter.phone:
        contacts.append(masked_phone(reporter.phone))
    if reporter.email:
        contacts.append(masked_email(str(reporter.email)))
    return ReporterForOperator(
        name=None if complaint.anonymous else reporter.name,
        contacts=tuple(contacts),
        anonymous=complaint.anonymous,
    )
