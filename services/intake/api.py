"""Intake's HTTP API (FastAPI): every channel in, the public status out, Open311 GeoReport v2.

A complaint is answered `202 Accepted` only once it is stored with its event; when PostgreSQL is
away the answer is `503` with `Retry-After`, never a false "accepted". Every rejection names each
bad field and why, in Indonesian and English.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from secrets import compare_digest
from typing import Annotated, Any

import asyncpg
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.domain.channels import (
    Inbound,
    ParsedEmail,
    SmsMessage,
    WhatsAppWebhook,
    from_email,
    from_sms,
    from_whatsapp,
    parse_rfc822,
    whatsapp_signature_valid,
)
from services.intake.domain.imports import HandCollectedChannel, parse_import
from services.intake.domain.personal_data import masked
from services.intake.domain.tracking import normalize
from services.intake.repository import Caller
from services.intake.service import Accepted, IdempotencyKeyReusedError, IntakeService
from shared.events import Channel, ComplaintContent, Coordinates, Location, Reporter
from shared.ops_http import ReadinessCheck, health, readiness
from shared.runtime import BackgroundTasks

OPEN311_SERVICES: list[dict[str, str]] = json.loads(
    (Path(__file__).parent / "open311_services.json").read_text()
)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl")
MAX_BODY_BYTES = 256 * 1024
MAX_IMPORT_BYTES = 10 * 1024 * 1024
DATABASE_AWAY = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)

REJECTED = Counter(
    "lapor_hub_intake_submissions_rejected_total",
    "Submissions refused, by channel (operator and import: the operators' entries) and reason",
    ["channel", "reason"],
)
# The entry each submitting route serves: a bounded label set, whatever paths clients try.
SUBMISSION_CHANNELS = {
    "/v1/complaints": Channel.WEB.value,
    "/v1/channels/sms": Channel.SMS.value,
    "/v1/channels/whatsapp": Channel.WHATSAPP.value,
    "/v1/channels/email": Channel.EMAIL.value,
    "/v1/operator/complaints": "operator",
    "/v1/complaints:import": "import",
    "/open311/v2/requests.json": Channel.OPEN311.value,
}
REJECTION_REASONS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "wrong_scope",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "database_unavailable",
}
HTTP_SECONDS = Histogram(
    "lapor_hub_intake_http_request_duration_seconds",
    "HTTP request latency, by route and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Indonesian first: most reporters and operators read it.
_INDONESIAN = {
    "missing": "wajib diisi",
    "string_too_short": "terlalu pendek",
    "string_too_long": "terlalu panjang",
    "string_pattern_mismatch": "formatnya tidak sesuai",
    "enum": "pilihan tidak dikenal",
    "literal_error": "pilihan tidak dikenal",
    "extra_forbidden": "kolom ini tidak dikenal",
    "value_error": "nilainya tidak valid",
    "date_from_datetime_parsing": "tanggal tidak valid",
    "date_parsing": "tanggal tidak valid",
    "datetime_parsing": "waktu tidak valid",
    "timezone_aware": "waktu harus dengan zona waktu",
    "url_parsing": "alamat URL tidak valid",
    "too_long": "terlalu banyak",
    "bool_parsing": "harus ya atau tidak",
    "json_invalid": "JSON tidak valid",
    "model_attributes_type": "harus berupa objek",
    "greater_than_equal": "terlalu kecil",
    "less_than_equal": "terlalu besar",
}


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, reason: {id, en}}`, the field as a dotted path."""
    problems = []
    for error in errors:
        location = [str(part) for part in error["loc"]]
        if location and location[0] in {"body", "query", "header", "path"}:
            location = location[1:]  # where FastAPI found it, not a field name
        problems.append(
            {
                "field": ".".join(location) or "-",
                "reason": {
                    "id": _INDONESIAN.get(error["type"], "nilainya tidak valid"),
                    "en": error["msg"],
                },
            }
        )
    return problems


def _bad_request(errors: list[dict[str, Any]], status: int = 422) -> JSONResponse:
    return JSONResponse(
        {"detail": "Data pengaduan tidak valid / invalid complaint data", "errors": errors},
        status_code=status,
    )


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


@dataclass(frozen=True)
class WhatsAppApp:
    """The Meta app whose webhooks intake receives directly (without a gateway adding a key)."""

    verify_token: str
    app_secret: str


@dataclass(frozen=True)
class IntakeState:
    service: IntakeService
    checks: Mapping[str, ReadinessCheck]
    limiter: SlidingWindowCounterRateLimiter
    per_key: RateLimitItem
    background: BackgroundTasks
    whatsapp: WhatsAppApp | None = None


# Meta's signed webhooks count against the rate limit as one caller of their own.
META_WEBHOOKS = Caller(key_id=0, kind="channel", name=Channel.WHATSAPP.value)


def _state(request: Request) -> IntakeState:
    state: IntakeState = request.app.state.intake
    return state


async def _authorised(request: Request, key: str) -> Caller:
    caller = await _state(request).service.authenticate(key)
    if caller is None:
        raise HTTPException(401, "API key tidak dikenal / unknown API key")
    await _within_rate_limit(request, caller)
    return caller


async def _within_rate_limit(request: Request, caller: Caller) -> None:
    state = _state(request)
    if not await state.limiter.hit(state.per_key, str(caller.key_id)):
        stats = await state.limiter.get_window_stats(state.per_key, str(caller.key_id))
        retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        raise HTTPException(
            429,
            "Terlalu banyak permintaan / too many requests",
            headers={"Retry-After": str(retry_after)},
        )


# Security schemes rather than plain header parameters: OpenAPI shows how to authenticate, and
# FastAPI reads them without validating each header through pydantic.
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)
BEARER = HTTPBearer(auto_error=False, description="The API key as a bearer token")
ApiKeyHeader = Annotated[str | None, Security(API_KEY_HEADER)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


async def _caller(request: Request, x_api_key: ApiKeyHeader, bearer: BearerToken) -> Caller:
    key = x_api_key or (bearer.credentials.strip() if bearer else None)
    if not key:
        raise HTTPException(401, "API key wajib / API key required")
    return await _authorised(request, key)


Authenticated = Annotated[Caller, Depends(_caller)]
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


async def _service(request: Request) -> IntakeService:  # async: no thread-pool hop
    return _state(request).service


Service = Annotated[IntakeService, Depends(_service)]


def _require(caller: Caller, channel: Channel | None) -> None:
    """Operators may use every entry; a channel key only its own channel."""
    if caller.kind == "operator":
        return
    if channel is None or caller.name != channel.value:
        raise HTTPException(403, "Kunci ini tidak untuk kanal ini / key not for this channel")


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


channels = APIRouter(prefix="/v1", tags=["channels"])
operators = APIRouter(prefix="/v1", tags=["operators"])
public = APIRouter(tags=["public"])
open311 = APIRouter(prefix="/open311/v2", tags=["open311"])
operations = APIRouter(include_in_schema=False)


@channels.post("/complaints", status_code=202, response_model=AcceptedOut)
async def submit_web(
    content: ComplaintContent,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The web form: a complaint as JSON."""
    _require(caller, Channel.WEB)
    return _accepted(await service.submit(Inbound(Channel.WEB, content), caller, idempotency_key))


@channels.post("/channels/sms", status_code=202, response_model=AcceptedOut)
async def submit_sms(
    message: SmsMessage,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The SMS gateway's webhook; its message id makes a replayed SMS count once."""
    _require(caller, Channel.SMS)
    return _accepted(await service.submit(from_sms(message), caller, idempotency_key))


@channels.get("/channels/whatsapp", response_class=PlainTextResponse)
async def verify_whatsapp_webhook(
    request: Request,
    mode: Annotated[str, Query(alias="hub.mode")],
    token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=100)],
) -> PlainTextResponse:
    """Meta's subscription check: echo the challenge when the verify token is ours."""
    meta = _state(request).whatsapp
    if meta is None or mode != "subscribe" or not compare_digest(token, meta.verify_token):
        raise HTTPException(403, "Token verifikasi salah / wrong verify token")
    return PlainTextResponse(challenge)


async def _whatsapp_sender(
    request: Request,
    x_api_key: ApiKeyHeader,
    bearer: BearerToken,
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> Caller:
    """Meta itself (a signed webhook) or a gateway with an API key."""
    meta = _state(request).whatsapp
    if x_hub_signature_256 is None or meta is None:
        return await _caller(request, x_api_key, bearer)
    if not whatsapp_signature_valid(await request.body(), x_hub_signature_256, meta.app_secret):
        raise HTTPException(401, "Tanda tangan salah / bad webhook signature")
    await _within_rate_limit(request, META_WEBHOOKS)
    return META_WEBHOOKS


@channels.post("/channels/whatsapp")
async def submit_whatsapp(
    webhook: WhatsAppWebhook,
    caller: Annotated[Caller, Depends(_whatsapp_sender)],
    service: Service,
) -> JSONResponse:
    """WhatsApp Business (Cloud API) webhook: every message in it, each counted once."""
    _require(caller, Channel.WHATSAPP)
    results = [await service.submit(inbound, caller) for inbound in from_whatsapp(webhook)]
    accepted = [_accepted_out(r).model_dump(mode="json") for r in results]
    return JSONResponse({"accepted": accepted}, status_code=202 if results else 200)


@channels.post("/channels/email", status_code=202, response_model=AcceptedOut)
async def submit_email(request: Request, caller: Authenticated, service: Service) -> JSONResponse:
    """Inbound email: parsed JSON, or the raw message as `message/rfc822`."""
    _require(caller, Channel.EMAIL)
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("message/rfc822"):
        parsed = parse_rfc822(raw)
    else:
        parsed = ParsedEmail.model_validate_json(raw)
    return _accepted(await service.submit(from_email(parsed), caller))


@operators.post("/operator/complaints", status_code=202, response_model=AcceptedOut)
async def submit_by_operator(
    complaint: OperatorComplaint,
    caller: Authenticated,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Walk-in, social-media and paper complaints typed in by an operator."""
    _require(caller, None)
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
    _require(caller, None)
    name = request.headers.get("x-filename", "")
    if request.headers.get("content-type", "").startswith(JSONL_TYPES):
        name = name or "upload.jsonl"
    rows, problems = parse_import(await request.body(), name)
    REJECTED.labels("import", "invalid_row").inc(len(problems))
    report = await service.import_rows(rows, caller)
    return JSONResponse(
        {
            "accepted": [{"line": line, "tracking_number": t} for line, t in report.accepted],
            "already_imported": [
                {"line": line, "tracking_number": t} for line, t in report.already_imported
            ],
            "rejected": [{"line": p.line, "field": p.field, "reason": p.reason} for p in problems],
        }
    )


@public.get("/v1/complaints/{tracking_number}", response_model=PublicStatusOut)
async def public_status(
    tracking_number: str,
    service: Service,
    access_token: Annotated[str | None, Query()] = None,
    x_access_token: Annotated[str | None, Header()] = None,
) -> PublicStatusOut:
    """A complaint's public status and timeline; a confidential one needs its access token."""
    status = await service.public_status(normalize(tracking_number), x_access_token or access_token)
    if status is None:
        raise HTTPException(404, "Pengaduan tidak ditemukan / complaint not found")
    complaint = status.complaint
    return PublicStatusOut(
        tracking_number=complaint.tracking_number,
        status=status.status,
        report_type=complaint.report_type.value,
        title=masked(complaint.title),
        category=complaint.category,
        location=complaint.location.text,
        agency_code=status.agency_code,
        received_at=complaint.received_at,
        timeline=[
            TimelineOut(at=t.occurred_at, status=t.status, note=t.public_note)
            for t in status.timeline
        ],
    )


class Open311Request(BaseModel):
    """GeoReport v2 `POST requests` fields (form-encoded)."""

    api_key: str
    service_code: str
    description: str = Field(min_length=1, max_length=20_000)
    lat: float | None = None
    long: float | None = None
    address_string: str | None = Field(default=None, max_length=500)
    email: str | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = None


@open311.get("/services.json")
async def open311_services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": s["service_code"],
            "service_name": s["service_name"],
            "description": f"Kategori LAPOR: {s['category']}",
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": "LAPOR",
        }
        for s in OPEN311_SERVICES
    ]


@open311.post("/requests.json")
async def open311_request(
    request: Request, form: Annotated[Open311Request, Form()], service: Service
) -> JSONResponse:
    caller = await _authorised(request, form.api_key)
    _require(caller, Channel.OPEN311)
    category = next(
        (s["category"] for s in OPEN311_SERVICES if s["service_code"] == form.service_code), None
    )
    if category is None:
        description = f"service_code {form.service_code!r} unknown"
        return JSONResponse([{"code": 400, "description": description}], 400)
    name = " ".join(p for p in (form.first_name, form.last_name) if p) or None
    coordinates = None
    if form.lat is not None and form.long is not None:
        coordinates = Coordinates(latitude=form.lat, longitude=form.long)
    content = ComplaintContent(
        title=form.description.split("\n")[0][:80],
        body=form.description,
        category=category,
        location=Location(text=form.address_string, coordinates=coordinates),
        reporter=Reporter(name=name, email=form.email, phone=form.phone),
    )
    result = await service.submit(Inbound(Channel.OPEN311, content), caller)
    return JSONResponse([{"service_request_id": result.tracking_number}], status_code=201)


@open311.get("/requests/{service_request_id}.json")
async def open311_status(service_request_id: str, service: Service) -> JSONResponse:
    status = await service.public_status(normalize(service_request_id), None)
    if status is None:
        return JSONResponse([{"code": 404, "description": "not found"}], 404)
    complaint = status.complaint
    coordinates = complaint.location.coordinates
    return JSONResponse(
        [
            {
                "service_request_id": complaint.tracking_number,
                "status": "closed" if status.status in {"resolved", "archived"} else "open",
                "status_notes": status.timeline[-1].public_note if status.timeline else None,
                "service_name": complaint.category,
                # What the public status shows: the (masked) title, never the full text.
                "description": masked(complaint.title),
                "agency_responsible": status.agency_code,
                "requested_datetime": complaint.received_at.isoformat(),
                "address": complaint.location.text,
                "lat": coordinates.latitude if coordinates else None,
                "long": coordinates.longitude if coordinates else None,
            }
        ]
    )


@operations.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@operations.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    body, status = health(_state(request).background.stopped())
    return JSONResponse(body, status_code=status)


@operations.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    results = await readiness(_state(request).checks)
    ready = all(results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )


class SizeLimitAndTiming:
    """Refuses bodies over the limit (413): at once when declared, while reading when streamed
    (chunked, no Content-Length); times every request. A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = MAX_IMPORT_BYTES if path.endswith(":import") else MAX_BODY_BYTES
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            response = JSONResponse({"detail": _too_large(limit)}, status_code=413)
            await response(scope, receive, send)
            _count_rejection(path, 413)
            return
        status = 500
        began = time.perf_counter()
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # answered 413 by the exception handler
                raise HTTPException(413, _too_large(limit))
            return message

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - began
            )
            _count_rejection(path, status)


def _too_large(limit: int) -> str:
    return f"Terlalu besar / request larger than {limit} bytes"


def _count_rejection(path: str, status: int) -> None:
    channel = SUBMISSION_CHANNELS.get(path)
    if channel is not None and status >= 400:
        REJECTED.labels(channel, REJECTION_REASONS.get(status, f"http_{status}")).inc()


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError | ValidationError)
    return _bad_request(field_errors(list(error.errors())))


async def _idempotency_key_reused(request: Request, error: Exception) -> JSONResponse:
    reason = {
        "id": "kunci ini sudah dipakai untuk pengaduan lain",
        "en": "already used with a different complaint",
    }
    return _bad_request([{"field": "Idempotency-Key", "reason": reason}])


async def _database_away(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "Sedang gangguan, coba lagi / storage unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def intake_state(
    service: IntakeService,
    checks: Mapping[str, ReadinessCheck],
    rate_limit: str,
    background: BackgroundTasks,
    whatsapp: WhatsAppApp | None = None,
) -> IntakeState:
    """What the routes need, set on `app.state.intake` once the database pool exists."""
    return IntakeState(
        service,
        checks,
        # A sliding-window counter: two counters per key. limits' in-memory moving window keeps
        # every hit and expires them through a thread hop per request (a tenth of intake's CPU).
        SlidingWindowCounterRateLimiter(MemoryStorage()),
        parse_rate(rate_limit),
        background,
        whatsapp,
    )


def create_api(lifespan: Any = None) -> FastAPI:
    api = FastAPI(
        title="lapor-hub intake",
        version="1",
        description="Pengaduan masuk dari semua kanal / complaints in from every channel.",
        lifespan=lifespan,
    )
    api.add_middleware(SizeLimitAndTiming)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(ValidationError, _invalid)
    api.add_exception_handler(IdempotencyKeyReusedError, _idempotency_key_reused)
    for away in DATABASE_AWAY:
        api.add_exception_handler(away, _database_away)
    for router in (channels, operators, public, open311, operations):
        api.include_router(router)
    return api
