"""Privacy rules every agency-facing message goes through, enforced here rather than left to
whoever writes a message.

- An anonymous complaint never carries its reporter's name or contacts to an agency (SP4N-LAPOR!'s
  *anonim*: only the admin knows who complained); the name is also masked where the reporter
  wrote it into the text.
- NIK-like numbers (16 digits) and phone numbers in free text are masked in every message.
- A confidential complaint (*rahasia*) is marked so, and its text never goes to a channel that is
  not private to the agency's officers (see `for_public_channel`); nor does any reporter's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from shared.events import Complaint

NIK_MASK = "[NIK disamarkan]"
PHONE_MASK = "[nomor telepon disamarkan]"
NAME_MASK = "[nama pelapor disamarkan]"

# 16 digits, possibly grouped by spaces, dots or dashes (as people type a NIK from their KTP).
_NIK = re.compile(r"(?<![\d+])\d(?:[ .-]?\d){15}(?!\d)")
# Indonesian mobile and landline numbers: +62 / 62 / 0, then 7 to 12 more digits, with optional
# separators; written with or without the country code.
_PHONE = re.compile(r"(?<![\w+(])\(?(?:\+62|62|0)[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d){5,10}(?!\d)")


def mask_identifiers(text: str) -> str:
    """Free text with NIK-like numbers and phone numbers masked."""
    return _PHONE.sub(PHONE_MASK, _NIK.sub(NIK_MASK, text))


def _mask_name(text: str, name: str | None) -> str:
    if not name or len(name.strip()) < 3:
        return text
    return re.sub(re.escape(name.strip()), NAME_MASK, text, flags=re.IGNORECASE)


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


def agency_view(complaint: Complaint) -> AgencyView:
    hidden_name = complaint.reporter.name if complaint.anonymous else None

    def clean(text: str) -> str:
        return mask_identifiers(_mask_name(text, hidden_name))

    reporter = None
    if not complaint.anonymous:
        reporter = ReporterView(
            name=complaint.reporter.name,
            phone=complaint.reporter.phone,
            email=str(complaint.reporter.email) if complaint.reporter.email else None,
        )
    return AgencyView(
        tracking_number=complaint.tracking_number,
        title=clean(complaint.title),
        body=clean(complaint.body),
        location=clean(complaint.location.text) if complaint.location.text else None,
        category=complaint.category,
        incident_date=complaint.incident_date.isoformat() if complaint.incident_date else None,
        received_at=complaint.received_at,
        anonymous=complaint.anonymous,
        confidential=complaint.confidential,
        reporter=reporter,
        attachments=tuple(str(a.url) for a in complaint.attachments),
    )


def for_public_channel(view: AgencyView) -> AgencyView | None:
    """What a channel that others than the agency's officers may read (a group chat, an SMS) may
    carry of a complaint: nothing of a confidential one (only a link to the inbox), and never
    who complained."""
    return None if view.confidential else replace(view, reporter=None)
