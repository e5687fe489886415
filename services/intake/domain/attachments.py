"""A reporter's photos and documents: the type read from the content (never the file's name),
a size limit, and a photo's EXIF (where it was taken, the phone that took it) removed unless the
reporter allows its location, in which case only the GPS part is kept. Content-addressed: the
SHA-256 of what is stored names it, so the same photo sent twice is stored once."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from services.intake.domain.refusal import RefusedError
from shared.events import Attachment

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 3
# Larger photos are scaled down: the agency needs to see the pothole, not 50 megapixels.
MAX_PIXELS_SIDE = 2560
_GPS_IFD = 0x8825
_KINDS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


class AttachmentRefusedError(RefusedError):
    """Not a JPEG, PNG or PDF, too large, or unreadable."""


@dataclass(frozen=True)
class CleanAttachment:
    content: bytes
    content_type: str
    extension: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.sha256[:16]}.{self.extension}"


@dataclass(frozen=True)
class StoredAttachment:
    """What is kept of one: `private` while only confidential complaints name it."""

    content_type: str
    content: bytes
    private: bool


def clean_attachment(data: bytes, *, keep_location: bool = False) -> CleanAttachment:
    """What is stored of an upload (raises AttachmentRefusedError)."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentRefusedError(
            f"Berkas lebih dari {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.",
            f"The file is over {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.",
        )
    if data.startswith(b"%PDF-"):
        return CleanAttachment(data, "application/pdf", "pdf")
    try:
        image = Image.open(io.BytesIO(data))
        kind = _KINDS.get(image.format or "")
        if kind is None:
            raise AttachmentRefusedError(
                "Hanya foto JPEG/PNG atau dokumen PDF.", "Only JPEG/PNG photos or PDF documents."
            )
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise AttachmentRefusedError(
            "Hanya foto JPEG/PNG atau dokumen PDF.", "Only JPEG/PNG photos or PDF documents."
        ) from error
    return _without_metadata(image, kind, keep_location)


def described(attachment: CleanAttachment, public_url: str) -> Attachment:
    """What a complaint's events carry of a stored attachment: where to fetch it, not its bytes."""
    return Attachment(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=len(attachment.content),
        url=f"{public_url.rstrip('/')}/lampiran/{attachment.sha256}",
    )


def sent_files(files: Sequence[bytes]) -> tuple[list[CleanAttachment], list[str]]:
    """What is kept of the files a channel's message carried, and why each other one was left
    out: a message is never refused for a file (its text is the complaint, and the sender is not
    there to choose again), so a file that cannot be taken is dropped, with the same limits as
    the form's."""
    kept: list[CleanAttachment] = []
    left_out: list[str] = []
    for number, data in enumerate(files, start=1):
        if len(kept) == MAX_ATTACHMENTS:
            left_out.append(f"file {number}: over {MAX_ATTACHMENTS} files")
            continue
        try:
            kept.append(clean_attachment(data))
        except AttachmentRefusedError as error:
            left_out.append(f"file {number}: {error.english}")
    return kept, left_out


def _without_metadata(
    image: Image.Image, kind: tuple[str, str], keep_location: bool
) -> CleanAttachment:
    exif = image.getexif()
    gps = dict(exif.get_ifd(_GPS_IFD)) if keep_location else {}
    # Turned upright first: the orientation tag goes with the rest of the EXIF.
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail((MAX_PIXELS_SIDE, MAX_PIXELS_SIDE))
    kept = Image.Exif()
    if gps:
        kept[_GPS_IFD] = gps
    out = io.BytesIO()
    content_type, extension = kind
    if content_type == "image/jpeg":
        upright.convert("RGB").save(out, "JPEG", quality=85, exif=kept.tobytes())
    else:
        upright.save(out, "PNG", exif=kept.tobytes() if gps else None)
    return CleanAttachment(out.getvalue(), content_type, extension)
