"""Channel adapters: each channel's native payload becomes complaint content. Pure functions.

Every adapter keeps the channel's own message id (for deduplication of gateway replays) and the
id of the message it answers, if any (a reply in a WhatsApp or email thread belongs to the
complaint that thread started, not to a new one).
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events import (
    Attachment,
    Channel,
    ComplaintContent,
    Coordinates,
    Location,
    Reporter,
)

TITLE_LENGTH = 80


@dataclass(frozen=True)
class Inbound:
    """One message from a channel: what it says, and what it answers."""

    channel: Channel
    content: ComplaintContent
    in_reply_to: str | None = None

    def fingerprint(self) -> str:
        """Equal for equal messages: tells a retry from a reused idempotency key."""
        text = f"{self.channel.value}\n{self.in_reply_to}\n{self.content.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()


class ChannelPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def title_from(text: str) -> str:
    """A title for channels that have none: the first sentence, shortened at a word."""
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    if len(first) <= TITLE_LENGTH:
        return first
    return first[:TITLE_LENGTH].rsplit(" ", 1)[0] + "…"


# --------------------------------------------------------------------------- SMS gateway
class SmsMessage(ChannelPayload):
    """The SMS gateway's webhook (one inbound SMS)."""

    message_id: str = Field(min_length=1, max_length=200)
    sender: str = Field(alias="from", min_length=6, max_length=32)
    text: str = Field(min_length=1, max_length=2000)
    received_at: datetime | None = None


def from_sms(message: SmsMessage) -> Inbound:
    return Inbound(
        Channel.SMS,
        ComplaintContent(
            title=title_from(message.text),
            body=message.text,
            reporter=Reporter(phone=_phone(message.sender)),
            channel_message_id=message.message_id,
        ),
    )


# ------------------------------------------------------------- WhatsApp Business (Cloud API)
class WhatsAppText(ChannelPayload):
    body: str = Field(min_length=1, max_length=4096)


class WhatsAppLocation(ChannelPayload):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class WhatsAppContext(ChannelPayload):
    id: str


class WhatsAppMedia(ChannelPayload):
    id: str | None = None
    """Meta's media id: the Graph API gives the file for it (to the business account's token)."""
    caption: str | None = None


class WhatsAppMessage(ChannelPayload):
    sender: str = Field(alias="from")
    id: str
    timestamp: str
    type: str
    text: WhatsAppText | None = None
    location: WhatsAppLocation | None = None
    image: WhatsAppMedia | None = None
    document: WhatsAppMedia | None = None
    context: WhatsAppContext | None = None


class WhatsAppProfile(ChannelPayload):
    name: str | None = None


class WhatsAppContact(ChannelPayload):
    wa_id: str
    profile: WhatsAppProfile | None = None


class WhatsAppValue(ChannelPayload):
    messaging_product: Literal["whatsapp"]
    contacts: list[WhatsAppContact] = []
    messages: list[WhatsAppMessage] = []


class WhatsAppChange(ChannelPayload):
    field: str
    value: WhatsAppValue


class WhatsAppEntry(ChannelPayload):
    id: str
    changes: list[WhatsAppChange]


class WhatsAppWebhook(ChannelPayload):
    """WhatsApp Business Platform (Cloud API) webhook notification."""

    object: Literal["whatsapp_business_account"]
    entry: list[WhatsAppEntry]


def whatsapp_signature_valid(body: bytes, signature: str, app_secret: str) -> bool:
    """Meta signs each webhook (`X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of the raw
    body with the app secret); Meta cannot send our API key, so this is how its calls are known."""
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature.strip())


def _filed_whatsapp_messages(
    webhook: WhatsAppWebhook,
) -> Iterator[tuple[WhatsAppMessage, str, str | None]]:
    """The citizen messages that become complaints (or replies): each with its text and its
    sender's profile name (delivery statuses, voice notes and captionless photos carry none)."""
    for entry in webhook.entry:
        for change in entry.changes:
            names = {c.wa_id: c.profile.name if c.profile else None for c in change.value.contacts}
            for message in change.value.messages:
                text = _whatsapp_text(message)
                if text is not None:
                    yield message, text, names.get(message.sender)


def whatsapp_media_ids(webhook: WhatsAppWebhook) -> dict[str, str]:
    """The media id of each filed message that carries a photo or document, by message id."""
    media = {}
    for message, _, _ in _filed_whatsapp_messages(webhook):
        file = message.image or message.document
        if file is not None and file.id:
            media[message.id] = file.id
    return media


def from_whatsapp(
    webhook: WhatsAppWebhook, attachments: Mapping[str, Sequence[Attachment]] | None = None
) -> list[Inbound]:
    """Every citizen message in the notification, with the attachments kept of its media (by
    message id)."""
    attachments = attachments or {}
    inbound = []
    for message, text, name in _filed_whatsapp_messages(webhook):
        location = Location()
        if message.location is not None:
            location = Location(
                text=message.location.address or message.location.name,
                coordinates=Coordinates(
                    latitude=message.location.latitude,
                    longitude=message.location.longitude,
                ),
            )
        inbound.append(
            Inbound(
                Channel.WHATSAPP,
                ComplaintContent(
                    title=title_from(text),
                    body=text,
                    location=location,
                    reporter=Reporter(name=name, phone=_phone(message.sender)),
                    channel_message_id=message.id,
                    attachments=tuple(attachments.get(message.id, ())),
                ),
                in_reply_to=message.context.id if message.context else None,
            )
        )
    return inbound


def _whatsapp_text(message: WhatsAppMessage) -> str | None:
    if message.text is not None:
        return message.text.body
    if message.location is not None:
        place = message.location.address or message.location.name or "lokasi"
        return f"Lokasi kejadian: {place}"
    media = message.image or message.document
    return media.caption if media is not None and media.caption else None


# ------------------------------------------------------------------------------- Email
class ParsedEmail(ChannelPayload):
    """An inbound email already parsed by the mail gateway."""

    message_id: str = Field(min_length=1, max_length=200)
    sender: str = Field(alias="from", min_length=3, max_length=320)
    subject: str = Field(default="", max_length=300)
    text: str = Field(min_length=1, max_length=20_000)
    in_reply_to: str | None = None


def from_email(message: ParsedEmail, attachments: Sequence[Attachment] = ()) -> Inbound:
    name, address = parseaddr(message.sender)
    subject = re.sub(r"^\s*((re|fwd?|bls|balas)\s*:\s*)+", "", message.subject, flags=re.I)
    return Inbound(
        Channel.EMAIL,
        ComplaintContent(
            title=subject.strip() or title_from(message.text),
            body=message.text,
            reporter=Reporter(name=name or None, email=address or None),
            channel_message_id=message.message_id.strip("<>"),
            attachments=tuple(attachments),
        ),
        in_reply_to=message.in_reply_to.strip("<>") if message.in_reply_to else None,
    )


@dataclass(frozen=True)
class RawEmail:
    parsed: ParsedEmail
    files: tuple[bytes, ...]
    """The attachments' bytes as sent (photos, PDFs, anything): intake checks and cleans them."""


def read_rfc822(raw: bytes) -> RawEmail:
    """A raw RFC 822 message (as a mail server hands it over) in the parsed form, with its
    attachments; what cannot be read (a charset nobody knows that is not UTF-8 either) is a
    ValidationError, as a bad field of the JSON form is."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain", "html"))
    text = _text_of(part) if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    message_id = _raw_header(message, "Message-ID")
    fields: dict[str, Any] = {
        # A message without a Message-ID (some mailers omit it, some send `<>`) is known by its
        # bytes instead.
        "message_id": message_id
        if message_id.strip("<> ")
        else f"sha256:{hashlib.sha256(raw).hexdigest()[:40]}",
        "from": _readable(str(message.get("From", ""))),
        "subject": _readable(str(message.get("Subject", ""))),
        "text": text.strip(),
        "in_reply_to": _raw_header(message, "In-Reply-To") or None,
    }
    files = tuple(
        payload
        for attached in message.iter_attachments()
        if isinstance(payload := attached.get_payload(decode=True), bytes) and payload
    )
    return RawEmail(ParsedEmail.model_validate(fields), files)


def _text_of(part: MIMEPart) -> str:
    """The part's text in its charset; in one Python does not know, UTF-8 if it is that."""
    try:
        text: str = part.get_content()
    except LookupError:
        payload = part.get_payload(decode=True)
        try:
            return payload.decode("utf-8") if isinstance(payload, bytes) else ""
        except UnicodeDecodeError:
            charset = part.get_content_charset()
            raise _unreadable("text", f"unknown charset {charset!r}, and not UTF-8") from None
    return _readable(text)


def _raw_header(message: EmailMessage, name: str) -> str:
    """A header as it was sent, whitespace unfolded: Message-IDs are opaque tokens, and the email
    package's parser of them raises on malformed ones (`<>`, `<a@[b`)."""
    value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
    return _readable(" ".join(str(value).split()))


def _readable(text: str) -> str:
    """Text as stored: bytes that were not in their charset (kept by the parser as surrogates,
    which no database or JSON encoder takes) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unreadable(field: str, reason: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "ParsedEmail",
        [{"type": "value_error", "loc": (field,), "input": "", "ctx": {"error": reason}}],
    )


def _phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return "+" + digits
