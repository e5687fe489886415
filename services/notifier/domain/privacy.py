"""Privacy rules every agency-facing message goes through, enforced here rather than left to
whoever writes a message.

- An anonymous complaint never carries its reporter's name or contacts to an agency (SP4N-LAPOR!'s
  *anonim*: only the admin knows who complained); the name is also masked where the reporter
  wrote it into the text.
- NIKs, phone numbers and e-mail addresses in free text are masked in every message
  (`shared.masking`, the masking every path shares).
- A confidential complaint (*rahasia*) is marked so, and its text never goes to a channel that is
  not private to the agency's officers (see `for_public_channel`); nor does any reporter's name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.events import Complaint, ComplaintStatusChanged
from shared.masking import masked, masked_or_none


@dataclass(frozen=True)
class ReporterView:
    name: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class AgencyView:
    """A complaint as an agency may see it; the only way messages and the inbox read one."""

    tracking_number: str
    title: str
    body: str
    location: str | None
    category: str | None
    incident_date: str | None
    received_at: datetime
    anonymous: bool
    confidential: bool
    reporter: ReporterView | None
    attachments: tuple[str, ...]


def agency_view(complaint: Complaint, attachments: tuple[str, ...] = ()) -> AgencyView:
    """`attachments`: where the agency fetches them (`attachments.agency_links`); none given
    where the view is not sent with them."""
    hidden = (complaint.reporter.name,) if complaint.anonymous else ()

    reporter = None
    if not complaint.anonymous:
        reporter = ReporterView(
            name=complaint.reporter.name,
            phone=complaint.reporter.phone,
            email=str(complaint.reporter.email) if complaint.reporter.email else None,
        )
    return AgencyView(
        tracking_number=complaint.tracking_number,
        title=masked(complaint.title, names=hidden),
        body=masked(complaint.body, names=hidden),
        location=masked_or_none(complaint.location.text, names=hidden) or None,
        category=complaint.category,
        incident_date=complaint.incident_date.isoformat() if complaint.incident_date else None,
        received_at=complaint.received_at,
        anonymous=complaint.anonymous,
        confidential=complaint.confidential,
        reporter=reporter,
        attachments=attachments,
    )


def for_public_channel(view: AgencyView) -> AgencyView | None:
    """What a channel that others than the agency's officers may read (a group chat, an SMS) may
    carry of a complaint: nothing of a confidential one (only a link to the inbox), and never
    who complained."""
    return None if view.confidential else replace(view, reporter=None)


def reply_for_agency(complaint: Complaint, note: str | None) -> str:
    """A reporter's reply as the agency reads it: masked like the complaint's own text."""
    hidden = (complaint.reporter.name,) if complaint.anonymous else ()
    return masked(note or "", names=hidden) or "(tanpa isi)"


def reporter_words(said: ComplaintStatusChanged) -> str | None:
    """What the reporter said in a status change: their note, or a rating's mark when it came
    without one (intake writes both into the note: "Penilaian pelapor: 4/5. ...")."""
    if said.note is None and said.rating is not None:
        return f"Penilaian pelapor: {said.rating}/5"
    return said.note
