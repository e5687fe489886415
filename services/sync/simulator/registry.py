"""The simulated national service's records and its audit trail: in memory, no I/O.

Like the real service it never deduplicates: two identical creates make two complaints. The audit
trail records every request that reached the service (applied or not), keyed by the local
tracking number where the request carries one, so tests can count what was received.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.sync.adapters.lapor_api import (
    ActionLogEntry,
    ComplaintDraft,
    ComplaintRecord,
    Disposition,
    Followup,
    Institution,
    LogEntry,
    NationalStatus,
    tracking_number_in,
)

INSTITUTIONS: tuple[Institution, ...] = tuple(
    Institution(institution_id=institution_id, name=name)
    for institution_id, name in (
        (6300, "Pemerintah Provinsi Kalimantan Selatan"),
        (6301, "Pemerintah Kabupaten Tanah Laut"),
        (6302, "Pemerintah Kabupaten Kotabaru"),
        (6303, "Pemerintah Kabupaten Banjar"),
        (6304, "Pemerintah Kabupaten Barito Kuala"),
        (6305, "Pemerintah Kabupaten Tapin"),
        (6306, "Pemerintah Kabupaten Hulu Sungai Selatan"),
        (6307, "Pemerintah Kabupaten Hulu Sungai Tengah"),
        (6308, "Pemerintah Kabupaten Hulu Sungai Utara"),
        (6309, "Pemerintah Kabupaten Tabalong"),
        (6310, "Pemerintah Kabupaten Tanah Bumbu"),
        (6311, "Pemerintah Kabupaten Balangan"),
        (6371, "Pemerintah Kota Banjarmasin"),
        (6372, "Pemerintah Kota Banjarbaru"),
        (101, "Kementerian Pekerjaan Umum"),
        (102, "Kepolisian Negara Republik Indonesia"),
        (103, "PT PLN (Persero)"),
        (104, "BPJS Kesehatan"),
        (105, "Direktorat Jenderal Pajak"),
    )
)


def _first_id() -> int:
    """National ids (of complaints, of action log entries) are never given twice, so neither
    are the simulator's, even across its restarts and resets: they begin at the clock (µs),
    which runs ahead of the ids given so far (each takes an HTTP request, far longer than a µs).
    Starting at 1,000,001 every time made a development database that outlived the simulator
    map new complaints onto ids already mapped to old ones (and a poller's cursor would skip a
    new simulator's first actions)."""
    return time.time_ns() // 1000


class Operation(StrEnum):
    CREATE = "create"
    FOLLOWUP = "followup"
    FORWARD = "forward"
    GET_COMPLAINT = "get_complaint"
    GET_FOLLOWUPS = "get_followups"
    LIST = "list"
    LIST_ACTIONS = "list_actions"
    INSTITUTIONS = "institutions"


WRITES = (Operation.CREATE, Operation.FOLLOWUP, Operation.FORWARD)


class Outcome(StrEnum):
    APPLIED = "applied"  # answered 2xx
    REJECTED = "rejected"  # answered 4xx (bad auth, invalid, unknown id)
    UNAVAILABLE = "unavailable"  # 502/503 outage
    REFUSED = "refused"  # connection cut because the port is closing
    HUNG = "hung"  # outage that never answers
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    APPLIED_THEN_HUNG = "applied_then_hung"
    APPLIED_THEN_DROPPED = "applied_then_dropped"
    APPLIED_THEN_BAD_GATEWAY = "applied_then_bad_gateway"
    APPLIED_THEN_BROKEN_BODY = "applied_then_broken_body"


APPLYING = (
    Outcome.APPLIED,
    Outcome.APPLIED_THEN_HUNG,
    Outcome.APPLIED_THEN_DROPPED,
    Outcome.APPLIED_THEN_BAD_GATEWAY,
    Outcome.APPLIED_THEN_BROKEN_BODY,
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    operation: Operation
    outcome: Outcome
    status: int | None
    tracking_number: str | None
    complaint_id: int | None


class UnknownComplaintError(LookupError):
    pass


class UnknownInstitutionError(LookupError):
    pass


@dataclass
class _Complaint:
    record: ComplaintRecord
    draft: ComplaintDraft  # as received: what national's officers read, flags included
    followups: list[Followup] = field(default_factory=list)


class NationalRegistry:
    """National complaints, follow-ups and the audit trail."""

    def __init__(self) -> None:
        self._first_id = _first_id()
        self._first_log_id = _first_id()
        self._complaints: dict[int, _Complaint] = {}
        self._by_tag: defaultdict[str, list[int]] = defaultdict(list)
        self._followup_count = 0
        self._actions: list[ActionLogEntry] = []  # every complaint's log, in order
        self._last_change = datetime.min.replace(tzinfo=UTC)
        self.audit: list[AuditEntry] = []

    def _tick(self) -> datetime:
        """Now, strictly after the previous change: no two actions of the log share a time."""
        now = max(datetime.now(UTC), self._last_change + timedelta(microseconds=1))
        self._last_change = now
        return now

    def complaint(self, complaint_id: int) -> ComplaintRecord:
        try:
            return self._complaints[complaint_id].record
        except KeyError:
            raise UnknownComplaintError(complaint_id) from None

    def followups(self, complaint_id: int) -> list[Followup]:
        self.complaint(complaint_id)
        return list(self._complaints[complaint_id].followups)

    def tracking_number_of(self, complaint_id: int) -> str | None:
        complaint = self._complaints.get(complaint_id)
        return tracking_number_in(complaint.record.tags) if complaint else None

    def create(self, draft: ComplaintDraft, actor: str = "integration") -> ComplaintRecord:
        now = self._tick()
        complaint_id = self._first_id + len(self._complaints)
        disposition = _disposition(draft.institution_id) if draft.institution_id else None
        record = ComplaintRecord(
            complaint_id=complaint_id,
            tracking_id=f"LAPOR-{complaint_id}",
            title=draft.title,
            content=draft.content,
            status=NationalStatus.VERIFIED if disposition else NationalStatus.UNVERIFIED,
            disposition=disposition,
            tags=list(draft.tags),
            created_at=now,
            updated_at=now,
            logs=[self._logged(complaint_id, LogEntry(at=now, action="created", actor=actor))],
        )
        self._complaints[complaint_id] = _Complaint(record, draft)
        for tag in record.tags:
            self._by_tag[tag].append(complaint_id)
        return record

    def draft(self, complaint_id: int) -> ComplaintDraft:
        """The complaint as its create carried it (title, text, location, anonim, rahasia)."""
        self.complaint(complaint_id)
        return self._complaints[complaint_id].draft

    def add_followup(
        self, complaint_id: int, content: str, status: NationalStatus | None, actor: str
    ) -> Followup:
        self.complaint(complaint_id)
        now = self._tick()
        self._followup_count += 1
        followup = Followup(
            followup_id=self._followup_count,
            complaint_id=complaint_id,
            content=content,
            actor=actor,
            status=status,
            created_at=now,
        )
        self._complaints[complaint_id].followups.append(followup)
        self._change(
            complaint_id, now=now, action="followup", actor=actor, note=content, status=status
        )
        return followup

    def dispose(self, complaint_id: int, institution_id: int, note: str | None, actor: str) -> None:
        """Dispose (or forward, as "not our authority") a complaint to an institution."""
        self.complaint(complaint_id)
        now = self._tick()
        action = "forwarded" if self._complaints[complaint_id].record.disposition else "disposed"
        self._change(
            complaint_id,
            now=now,
            action=action,
            actor=actor,
            note=note,
            status=NationalStatus.VERIFIED,
            disposition=_disposition(institution_id),
        )

    def set_status(self, complaint_id: int, status: NationalStatus, note: str | None) -> None:
        self.complaint(complaint_id)
        self._change(
            complaint_id, now=self._tick(), action="status", actor="admin", note=note, status=status
        )

    def _change(
        self,
        complaint_id: int,
        *,
        now: datetime,
        action: str,
        actor: str,
        note: str | None,
        status: NationalStatus | None,
        disposition: Disposition | None = None,
    ) -> None:
        record = self._complaints[complaint_id].record
        entry = LogEntry(at=now, action=action, actor=actor, note=note)
        changes: dict[str, object] = {
            "updated_at": now,
            "logs": [*record.logs, self._logged(complaint_id, entry)],
        }
        if status is not None:
            changes["status"] = status
        if disposition is not None:
            changes["disposition"] = disposition
        self._complaints[complaint_id].record = record.model_copy(update=changes)

    def _logged(self, complaint_id: int, entry: LogEntry) -> LogEntry:
        """`entry` kept in the action log of every complaint too."""
        self._actions.append(
            ActionLogEntry(
                **entry.model_dump(),
                log_id=self._first_log_id + len(self._actions),
                complaint_id=complaint_id,
            )
        )
        return entry

    def actions_after(self, after_id: int | None, limit: int) -> list[ActionLogEntry]:
        """The action log after entry `after_id` (all of it for None, or for an id from before
        this registry), oldest first."""
        start = 0 if after_id is None else max(0, after_id + 1 - self._first_log_id)
        return self._actions[start : start + limit]

    def every_complaint(self) -> list[ComplaintRecord]:
        return [complaint.record for complaint in self._complaints.values()]

    def tagged(self, tag: str) -> list[ComplaintRecord]:
        return [self._complaints[i].record for i in self._by_tag.get(tag, ())]

    def record(
        self,
        *,
        operation: Operation,
        outcome: Outcome,
        status: int | None,
        tracking_number: str | None,
        complaint_id: int | None,
    ) -> None:
        self.audit.append(
            AuditEntry(
                seq=len(self.audit) + 1,
                at=datetime.now(UTC),
                operation=operation,
                outcome=outcome,
                status=status,
                tracking_number=tracking_number,
                complaint_id=complaint_id,
            )
        )


def _disposition(institution_id: int) -> Disposition:
    for institution in INSTITUTIONS:
        if institution.institution_id == institution_id:
            return Disposition(institution_id=institution_id, institution_name=institution.name)
    raise UnknownInstitutionError(institution_id)


def audit_summary(entries: list[AuditEntry]) -> dict[str, object]:
    """Totals by operation and outcome, and per tracking number the writes that were applied."""
    by_operation: defaultdict[str, Counter[str]] = defaultdict(Counter)
    applied: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for entry in entries:
        by_operation[entry.operation][entry.outcome] += 1
        if entry.tracking_number and entry.operation in WRITES and entry.outcome in APPLYING:
            applied[entry.tracking_number][entry.operation] += 1
    return {
        "total": len(entries),
        "last_seq": entries[-1].seq if entries else 0,
        "by_operation": {op: dict(outcomes) for op, outcomes in by_operation.items()},
        "applied": {tracking: dict(counts) for tracking, counts in applied.items()},
    }
