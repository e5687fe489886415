"""A complaint's stored attachments served to its agency, by the web inbox (`/instansi`, to its
staff) and by the JSON inbox API (to its key): fetched from intake's store (a confidential
complaint's with intake's attachments token), answered with the type its content shows, never
sniffed, cached or framed."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi.responses import Response

from services.notifier.domain.attachments import (
    INLINE,
    MAX_ATTACHMENT_BYTES,
    content_type,
    fetched_from,
    shown,
)
from services.notifier.settings import NotifierSettings
from shared.events import Complaint
from shared.pages import UPLOADED_FILE_HEADERS


@dataclass(frozen=True)
class Fetched:
    content: bytes
    kind: str  # by the content


@dataclass(frozen=True)
class IntakeStore:
    public_url: str  # attachments under it are fetched and served by the notifier
    reached_at: str | None  # where they are fetched from, when not at public_url
    token: str  # intake's for a confidential complaint's attachments

    def is_stored(self, complaint: Complaint, number: int) -> bool:
        """Is the complaint's `number`-th attachment (from 1) in intake's store?"""
        return any(
            a.number == number and a.stored for a in shown(complaint.attachments, self.public_url)
        )

    async def fetch(self, complaint: Complaint, number: int) -> Fetched | None:
        """A stored attachment's bytes and type, or None (not there, intake down, too large,
        not a JPEG, PNG or PDF); the caller has checked `is_stored`."""
        url = fetched_from(
            str(complaint.attachments[number - 1].url), self.public_url, self.reached_at
        )
        content = await _fetched(url, self.token)
        kind = content_type(content) if content is not None else None
        return Fetched(content, kind) if content is not None and kind is not None else None


def intake_store(settings: NotifierSettings) -> IntakeStore:
    return IntakeStore(
        settings.intake_public_url,
        settings.notifier_intake_url,
        settings.attachments_token.get_secret_value(),
    )


def attachment_response(fetched: Fetched, number: int) -> Response:
    """A photo shown inline, a PDF downloaded; never cached (a phone shared at the office keeps
    no photo of a confidential complaint), sniffed or run."""
    inline = fetched.kind in INLINE
    disposition = "inline" if inline else f'attachment; filename="lampiran-{number}.pdf"'
    return Response(
        fetched.content,
        media_type=fetched.kind,
        headers={
            **UPLOADED_FILE_HEADERS,
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


async def _fetched(url: str, token: str) -> bytes | None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("GET", url, headers=headers) as answer,
        ):
            if answer.status_code != 200:
                return None
            content = b""
            async for chunk in answer.aiter_bytes():
                content += chunk
                if len(content) > MAX_ATTACHMENT_BYTES:
                    return None
            return content
    except httpx.HTTPError:
        return None
