"""Attachments: type by content, size limit, EXIF removed unless the location is allowed."""

from __future__ import annotations

import io
from email.message import EmailMessage

import pytest
from PIL import Image

from services.intake.domain.attachments import (
    MAX_ATTACHMENT_BYTES,
    AttachmentRefusedError,
    clean_attachment,
    sent_files,
)
from services.intake.domain.channels import read_rfc822

GPS = 0x8825


def _photo(fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Samsung"  # make
    exif[0x0110] = "Galaxy S23"  # model
    exif[GPS] = {1: "S", 2: (3.0, 19.0, 0.0), 3: "E", 4: (114.0, 35.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def test_a_photo_loses_its_camera_and_location() -> None:
    cleaned = clean_attachment(_photo())
    assert cleaned.content_type == "image/jpeg"
    assert dict(Image.open(io.BytesIO(cleaned.content)).getexif()) == {}


def test_the_location_alone_is_kept_when_the_reporter_allows_it() -> None:
    exif = Image.open(io.BytesIO(clean_attachment(_photo(), keep_location=True).content)).getexif()
    assert set(exif) == {GPS}
    assert exif.get_ifd(GPS)[1] == "S"


def test_the_type_is_read_from_the_content() -> None:
    assert clean_attachment(_photo("PNG")).content_type == "image/png"
    assert clean_attachment(b"%PDF-1.7\n...").content_type == "application/pdf"
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    for data in (gif.getvalue(), b"MZ\x90\x00 an executable named foto.jpg"):
        with pytest.raises(AttachmentRefusedError, match="JPEG/PNG"):
            clean_attachment(data)


def test_too_large_is_refused() -> None:
    with pytest.raises(AttachmentRefusedError, match="MB"):
        clean_attachment(b"%PDF-" + bytes(MAX_ATTACHMENT_BYTES))


def test_the_same_photo_is_one_address() -> None:
    photo = _photo()
    assert clean_attachment(photo).sha256 == clean_attachment(photo).sha256


def _email_with(*files: tuple[bytes, str, str]) -> bytes:
    message = EmailMessage()
    message["From"] = "Warga <warga@example.id>"
    message["Subject"] = "Jalan berlubang"
    message["Message-ID"] = "<foto@example.id>"
    message.set_content("Jalan di depan pasar Martapura berlubang, fotonya terlampir.")
    for data, maintype, subtype in files:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename="foto.jpg")
    return message.as_bytes()


def test_an_emails_photos_are_kept_cleaned_and_what_cannot_be_taken_is_left_out() -> None:
    raw = _email_with(
        (_photo(), "image", "jpeg"),
        (b"MZ\x90\x00 an executable named foto.jpg", "application", "octet-stream"),
        (_photo("PNG"), "image", "png"),
        (b"%PDF-1.7\n...", "application", "pdf"),
        (_photo(), "image", "jpeg"),
    )

    message = read_rfc822(raw)
    kept, left_out = sent_files(message.files)

    assert message.parsed.text.startswith("Jalan di depan pasar Martapura")
    assert [file.content_type for file in kept] == ["image/jpeg", "image/png", "application/pdf"]
    assert dict(Image.open(io.BytesIO(kept[0].content)).getexif()) == {}
    assert left_out == [
        "file 2: Only JPEG/PNG photos or PDF documents.",
        "file 5: over 3 files",
    ]
