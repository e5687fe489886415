"""What a reporter may do to their own complaint from the tracking page (with the access token
given to them at submission): reply, say a resolved complaint is not solved ("masalah belum
selesai", within 30 days of its resolution), and rate it 1 to 5 once resolved (once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.intake.domain.refusal import RefusedError
from shared.events import ComplaintStatus

REOPEN_WITHIN = timedelta(days=30)
# Statuses after which a reporter's reply, reopening or rating makes no sense.
CLOSED = frozenset({ComplaintStatus.ARCHIVED})


class ReporterAction(StrEnum):
    REPLY = "reply"
    REOPEN = "reopen"
    RATE = "rate"


class NotAllowedError(RefusedError):
    """The action does not fit the complaint's state."""


@dataclass(frozen=True)
class History:
    """What the decision needs of the complaint's public timeline."""

    status: ComplaintStatus
    resolved_at: datetime | None  # the last resolution
    rated: bool


@dataclass(frozen=True)
class ReporterChange:
    status: ComplaintStatus
    note: str | None
    rating: int | None = None


def reporter_change(
    action: ReporterAction,
    history: History,
    now: datetime,
    text: str | None = None,
    rating: int | None = None,
) -> ReporterChange:
    """The ComplaintStatusChanged the action makes (raises NotAllowedError)."""
    text = text.strip() if text else None
    if history.status in CLOSED:
        raise NotAllowedError("Pengaduan ini sudah diarsipkan.", "This complaint is archived.")
    if action is ReporterAction.REPLY:
        if not text:
            raise NotAllowedError("Tulis tanggapan Anda.", "Write your reply.")
        if history.status is ComplaintStatus.RESOLVED:
            # A reply would quietly take the complaint out of "resolved": reopening says so.
            raise NotAllowedError(
                "Pengaduan sudah selesai: pilih 'masalah belum selesai' bila belum beres.",
                "The complaint is resolved: choose 'problem not solved' if it is not.",
            )
        return ReporterChange(ComplaintStatus.REPORTER_REPLIED, text)
    if history.status is not ComplaintStatus.RESOLVED or history.resolved_at is None:
        raise NotAllowedError("Hanya pengaduan yang sudah selesai.", "Only a resolved complaint.")
    if action is ReporterAction.REOPEN:
        if now - history.resolved_at > REOPEN_WITHIN:
            raise NotAllowedError(
                "Lebih dari 30 hari sejak selesai: silakan kirim pengaduan baru.",
                "More than 30 days since it was resolved: please file a new complaint.",
            )
        return ReporterChange(ComplaintStatus.REOPENED, text)
    if rating is None or not 1 <= rating <= 5:
        raise NotAllowedError("Pilih nilai 1 sampai 5.", "Choose a rating from 1 to 5.")
    if history.rated:
        raise NotAllowedError("Anda sudah memberi penilaian.", "You have already rated it.")
    note = f"Penilaian pelapor: {rating}/5" + (f". {text}" if text else "")
    return ReporterChange(ComplaintStatus.RATED, note, rating)


def history_of(status: str, entries: list[tuple[datetime, str]]) -> History:
    """From the complaint's status and its public timeline (moment, status), in order."""
    resolved = [at for at, entry in entries if entry == ComplaintStatus.RESOLVED.value]
    rated = any(entry == ComplaintStatus.RATED.value for _, entry in entries)
    return History(ComplaintStatus(status), resolved[-1] if resolved else None, rated)
