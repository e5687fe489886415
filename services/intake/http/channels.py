"""Complaints in from every channel (web, SMS, WhatsApp, email, operators, imports) and the
public status out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter
from pydantic import AwareDatetime, BaseModel, Field

from services.intake.domain.attachments import CleanAttachment, described, sent_files
from services.intake.domain.channels import (
    Inbound,
    ParsedEmail,
    SmsMessage,
    WhatsAppWebhook,
    from_email,
    from_sms,
    from_whatsapp,
    read_rfc822,
    whatsapp_media_ids,
)
from services.intake.domain.imports import (
    HandCollectedChannel,
    TooManyRowsError,
    UnreadableImportError,
    parse_import,
)
from services.intake.domain.tracking import normalize
from services.intake.http.auth import (
    Authenticated,
    Lookup,
    Service,
    WhatsAppSender,
    require,
    state,
)
from services.intake.http.errors import REJECTED
from services.intake.service import Accepted
from services.intake.whatsapp_media import GraphMedia
from shared.api_keys import same_secret
from shared.events import Channel, ComplaintContent
from shared.idempotency import MAX_KEY_LENGTH
from shared.masking import masked, masked_or_none

log = logging.getLogger(__name__)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl")
IdempotencyKey = Annotated[str | None, Header(max_length=MAX_KEY_LENGTH)]

FILES_LEFT_OUT = Counter(
    "lapor_hub_intake_files_left_out_total",
    "Files a channel's message carried that were not kept (type, size, count, not fetched);"
    " the message was",
    ["channel"],
)

channels = APIRouter(prefix="/v1", tags=["channels"])
operators = APIRouter(prefix="/v1", tags=["operators"])
public = APIRouter(tags=["public"])


class AcceptedOut(BaseModel):
    tracking_number: str
    status_url: str
    reply: bool = Field(description="Added to an existing complaint as the reporter's reply")
    access_token: str | None = Field(
        default=None, description="Only for a new confidential complaint: needed to see it"
    )


class OperatorComplaint(ComplaintContent):
    """A complaint an operator types in: walk-in, social media, or paper collected earlier."""

    channel: HandCollectedChannel
    received_at: AwareDatetime | None = Field(
        default=None, description="When the citizen handed it in, if earlier than now"
    )


class TimelineOut(BaseModel):
    at: datetime
    status: str
    note: str | None


class PublicStatusOut(BaseModel):
    """What anyone with the tracking number may see: never the reporter's identity."""

    tracking_number: str
    status: str
    report_type: str
    title: str
    category: str | None
    location: str | None
    agency_code: str | None
    received_at: datetime
    timeline: list[TimelineOut]


def _accepted_out(result: Accepted) -> AcceptedOut:
    return AcceptedOut(
        tracking_number=result.tracking_number,
        status_url=f"/v1/complaints/{result.tracking_number}",
        reply=result.reply,
        access_token=result.access_token,
    )


def _accepted(result: Accepted) -> JSONResponse:
    headers = {} if result.created else {"Idempotent-Replayed": "true"}
    return JSONResponse(
        _accepted_out(result).model_dump(mode="json"), status_code=202, headers=headers
    )


@channels.post("/complaints", status_code=202, response_model=AcceptedOut)
async def submit_web(
    content: ComplaintContent,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The web form: a complaint as JSON."""
    require(caller, Channel.WEB)
    return _accepted(await service.submit(Inbound(Channel.WEB, content), caller, idempotency_key))


@channels.post("/channels/sms", status_code=202, response_model=AcceptedOut)
async def submit_sms(
    message: SmsMessage,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The SMS gateway's webhook; its message id makes a replayed SMS count once."""
    require(caller, Channel.SMS)
    return _accepted(await service.submit(from_sms(message), caller, idempotency_key))


@channels.get("/channels/whatsapp", response_class=PlainTextResponse)
async def verify_whatsapp_webhook(
    request: Request,
    mode: Annotated[str, Query(alias="hub.mode")],
    token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=100)],
) -> PlainTextResponse:
    """Meta's subscription check: echo the challenge when the verify token is ours."""
    meta = state(request).whatsapp
    if meta is None or mode != "subscribe" or not same_secret(token, meta.verify_token):
        raise HTTPException(403, "Token verifikasi salah / wrong verify token")
    return PlainTextResponse(challenge)


@channels.post("/channels/whatsapp")
async def submit_whatsapp(
    request: Request,
    webhook: WhatsAppWebhook,
    caller: WhatsAppSender,
    service: Service,
) -> JSONResponse:
    """WhatsApp Business (Cloud API) webhook: every message in it, each counted once; a photo's
    or document's file is fetched from Meta (with the business account's token, if set) and
    kept with the form's limits (a file that cannot be fetched or taken is left out, the message
    is not)."""
    require(caller, Channel.WHATSAPP)
    intake = state(request)
    files = await _whatsapp_files(intake.whatsapp_media, webhook)
    described_files = {
        message_id: [described(file, intake.public_url) for file in kept]
        for message_id, kept in files.items()
    }
    results = []
    for inbound in from_whatsapp(webhook, described_files):
        kept = files.get(inbound.content.channel_message_id or "", [])
        await service.keep_attachments(kept, confidential=inbound.content.confidential)
        results.append(await service.submit(inbound, caller))
    accepted = [_accepted_out(r).model_dump(mode="json") for r in results]
    return JSONResponse({"accepted": accepted}, status_code=202 if results else 200)


async def _whatsapp_files(
    media: GraphMedia | None, webhook: WhatsAppWebhook
) -> dict[str, list[CleanAttachment]]:
    """What is kept of each message's media, by message id (nothing without the token)."""
    if media is None:
        return {}
    files = {}
    for message_id, fetched in (await media.fetch_all(whatsapp_media_ids(webhook))).items():
        kept, left_out = sent_files([fetched]) if isinstance(fetched, bytes) else ([], [fetched])
        _files_left_out(Channel.WHATSAPP, message_id, left_out)
        files[message_id] = kept
    return files


def _files_left_out(channel: Channel, message_id: str, left_out: list[str]) -> None:
    if left_out:
        FILES_LEFT_OUT.labels(channel.value).inc(len(left_out))
        log.warning("%s %s: files left out: %s", channel.value, message_id, "; ".join(left_out))


@channels.post("/channels/email", status_code=202, response_model=AcceptedOut)
async def submit_email(request: Request, caller: Authenticated, service: Service) -> JSONResponse:
    """Inbound email: parsed JSON, or the raw message as `message/rfc822`, whose attached photos
    and PDFs are kept with the form's limits (a file that cannot be taken is left out, the
    message is not)."""
    require(caller, Channel.EMAIL)
    raw = await request.body()
    if not request.headers.get("content-type", "").startswith("message/rfc822"):
        parsed = ParsedEmail.model_validate_json(raw)
        return _accepted(await service.submit(from_email(parsed), caller))
    message = read_rfc822(raw)
    files, left_out = sent_files(message.files)
    _files_left_out(Channel.EMAIL, message.parsed.message_id, left_out)
    public_url = state(request).public_url
    inbound = from_email(message.parsed, [described(file, public_url) for file in files])
    await service.keep_attachments(files, confidential=inbound.content.confidential)
    return _accepted(await service.submit(inbound, caller))


@operators.post("/operator/complaints", status_code=202, response_model=AcceptedOut)
async def submit_by_operator(
    complaint: OperatorComplaint,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Walk-in, social-media and paper complaints typed in by an operator."""
    require(caller, None)
    content = ComplaintContent.model_validate(
        complaint.model_dump(exclude={"channel", "received_at"})
    )
    now = datetime.now(UTC)
    received_at = min(complaint.received_at, now) if complaint.received_at else now
    inbound = Inbound(complaint.channel, content)
    return _accepted(await service.submit(inbound, caller, idempotency_key, received_at))


@operators.post("/complaints:import")
async def import_file(request: Request, caller: Authenticated, service: Service) -> JSONResponse:
    """A CSV or JSON-lines file of complaints collected by hand; idempotent as a whole."""
    require(caller, None)
    name = request.headers.get("x-filename", "")
    if request.headers.get("content-type", "").startswith(JSONL_TYPES):
        name = name or "upload.jsonl"
    try:
        rows, problems = parse_import(await request.body(), name)
    except TooManyRowsError as error:
        raise HTTPException(413, str(error)) from error
    except UnreadableImportError as error:
        raise HTTPException(422, str(error)) from error
    REJECTED.labels("import", "invalid_row").inc(len(problems))
    report = await service.import_rows(rows, caller)
    return JSONResponse(
        {
            "accepted": [_imported(line, a) for line, a in report.accepted],
            "already_imported": [_imported(line, a) for line, a in report.already_imported],
            "rejected": [{"line": p.line, "field": p.field, "reason": p.reason} for p in problems],
        }
    )


@public.get("/v1/complaints/{tracking_number}", response_model=PublicStatusOut)
async def public_status(
    tracking_number: str,
    service: Service,
    lookup: Lookup,
    access_token: Annotated[str | None, Query()] = None,
    x_access_token: Annotated[str | None, Header()] = None,
) -> PublicStatusOut:
    """A complaint's public status and timeline; a confidential one needs its access token."""
    status = await service.public_status(normalize(tracking_number), x_access_token or access_token)
    if status is None:
        await lookup.missed(tracking_number)
        raise HTTPException(404, "Pengaduan tidak ditemukan / complaint not found")
    complaint = status.complaint
    return PublicStatusOut(
        tracking_number=complaint.tracking_number,
        status=status.status,
        report_type=complaint.report_type.value,
        title=masked(complaint.title),
        category=complaint.category,
        location=masked_or_none(complaint.location.text),
        agency_code=status.agency_code,
        received_at=complaint.received_at,
        timeline=[
            TimelineOut(at=t.occurred_at, status=t.status, note=masked_or_none(t.public_note))
            for t in status.timeline
        ],
    )


def _imported(line: int, accepted: Accepted) -> dict[str, object]:
    """An imported row's answer; a confidential complaint's with its access token, every time
    (the operator hands it to the reporter)."""
    row: dict[str, object] = {"line": line, "tracking_number": accepted.tracking_number}
    if accepted.access_token:
        row["access_token"] = accepted.access_token
    return row
