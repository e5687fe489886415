"""The agency web inbox's attachments: only intake's stored ones are fetched, served with the
type their content shows."""

from __future__ import annotations

import pytest

from services.notifier.domain.attachments import (
    agency_links,
    content_type,
    fetched_from,
    shown,
    stored_at,
)
from shared.events import Attachment

INTAKE = "https://lapor.kalselprov.go.id"
SHA = "ab" * 32
ATTACHMENTS = [
    Attachment(
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=1,
        url=f"{INTAKE}/lampiran/{SHA}",
    ),
    Attachment(
        filename="b.pdf",
        content_type="application/pdf",
        size_bytes=1,
        url=f"{INTAKE}/lampiran/{'cd' * 32}",
    ),
    Attachment(
        filename="c.jpg",
        content_type="image/jpeg",
        size_bytes=1,
        url="https://wa.example/media/1",
    ),
]


def test_the_type_is_read_from_the_content() -> None:
    assert content_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert content_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert content_type(b"%PDF-1.7 rest") == "application/pdf"
    assert content_type(b"<html><script>alert(1)</script>") is None
    assert content_type(b"") is None


def test_fetched_where_the_notifier_reaches_intake() -> None:
    url = f"{INTAKE}/lampiran/{SHA}"
    assert fetched_from(url, INTAKE, None) == url
    assert (
        fetched_from(url, INTAKE + "/", "http://intake:8080/")
        == f"http://intake:8080/lampiran/{SHA}"
    )


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        (f"{INTAKE}/lampiran/{SHA}", True),
        (f"{INTAKE}/lampiran/{SHA.upper()}", False),
        (f"{INTAKE}/lampiran/{SHA[:-1]}", False),
        (f"{INTAKE}/lampiran/{SHA}/x", False),
        (f"{INTAKE}/lampiran/{SHA}?next=http://10.0.0.1/", False),
        (f"{INTAKE}.evil.example/lampiran/{SHA}", False),
        (f"https://evil.example/lampiran/{SHA}", False),
        (f"http://10.0.0.1:8080/lampiran/{SHA}", False),
    ],
)
def test_only_intakes_own_store_is_fetched(url: str, stored: bool) -> None:
    assert stored_at(url, INTAKE) is stored
    assert stored_at(url, INTAKE + "/") is stored


def test_photos_are_shown_documents_linked_others_left_as_sent() -> None:
    assert [(a.number, a.photo, a.stored) for a in shown(ATTACHMENTS, INTAKE)] == [
        (1, True, True),
        (2, False, True),
        (3, True, False),
    ]


def test_agencies_are_sent_stored_files_at_their_assignment_in_the_inbox_api() -> None:
    assignment = "https://hub.example/inbox/assignments/LPR-1"
    assert agency_links(ATTACHMENTS, INTAKE, assignment) == (
        f"{assignment}/attachments/1",
        f"{assignment}/attachments/2",
        "https://wa.example/media/1",  # not in intake's store: as sent
    )
