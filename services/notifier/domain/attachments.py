"""A complaint's attachments as the agency web inbox serves them: only what intake stored (a URL
under intake's address naming its SHA-256: nothing else is fetched, so an event cannot make the
notifier ask an arbitrary address), and with the type its content shows, whatever was declared.
Photos are shown in the page; a PDF is downloaded."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.events import Attachment

# intake re-encodes photos and keeps at most 5 MB a file; a little room above that.
MAX_ATTACHMENT_BYTES = 6 * 1024 * 1024
INLINE = frozenset({"image/jpeg", "image/png"})
_STORED = re.compile(r"/lampiran/[0-9a-f]{64}")
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


@dataclass(frozen=True)
class ShownAttachment:
    """One attachment on the assignment page: `stored` (fetched from intake and served by the
    notifier, at the page's own address) or only linked, as sent."""

    number: int
    url: str
    photo: bool
    stored: bool


def stored_at(url: str, intake_url: str) -> bool:
    """Is `url` an attachment in intake's store (`{intake_url}/lampiran/{sha256}`)?"""
    base = intake_url.rstrip("/")
    return url.startswith(base + "/") and _STORED.fullmatch(url[len(base) :]) is not None


def fetched_from(url: str, intake_url: str, reached_at: str | None) -> str:
    """Where to fetch a stored attachment: intake as the notifier reaches it, when that is
    another address than the public one the URL begins with."""
    if reached_at is None:
        return url
    return reached_at.rstrip("/") + url[len(intake_url.rstrip("/")) :]


def shown(attachments: Sequence[Attachment], intake_url: str) -> list[ShownAttachment]:
    return [
        ShownAttachment(
            number=number,
            url=str(attachment.url),
            photo=attachment.content_type in INLINE,
            stored=stored_at(str(attachment.url), intake_url),
        )
        for number, attachment in enumerate(attachments, start=1)
    ]


def agency_links(
    attachments: Sequence[Attachment], intake_url: str, assignment_url: str
) -> tuple[str, ...]:
    """Where an agency is sent each attachment: a stored one at its assignment in the notifier's
    inbox API (`{assignment_url}/attachments/{n}`, fetched with the agency's key; intake answers
    a confidential complaint's only to its own token), anything else as it was sent."""
    return tuple(
        f"{assignment_url}/attachments/{a.number}" if a.stored else a.url
        for a in shown(attachments, intake_url)
    )


def content_type(content: bytes) -> str | None:
    """JPEG, PNG or PDF by the content's first bytes; None for anything else."""
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)
