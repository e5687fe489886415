"""The agency inbox (FastAPI): each agency's officers see and act on their own assignments with
their own API keys (the actions themselves are `NotifierService.act`); the hub's directory admins
edit agencies' contacts and its dead-letter operators see and retry dead letters, each with a key
of that role only. `/metrics`, `/healthz`, `/readyz` for operations; the OpenAPI document at
`/openapi.json`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from pydantic import BaseModel, Field

from services.notifier.domain.directory import AgencyContacts
from services.notifier.domain.inbox import (
    InboxAction,
    InvalidTransitionError,
    MissingTextError,
    allowed_actions,
)
from services.notifier.domain.privacy import AgencyView
from services.notifier.domain.targets import WebhookTargets, contacts_problems
from services.notifier.http.attachments import IntakeStore, attachment_response, intake_store
from services.notifier.http.pages import mount_pages
from services.notifier.repository import ApiKey, AssignmentRow, KeyRole, NotifierRepository
from services.notifier.service import NotifierService, change_contacts
from services.notifier.settings import NotifierSettings
from shared.app_state import state_of
from shared.db import Connection
from shared.http_limits import BodySizeLimit
from shared.idempotency import MAX_KEY_LENGTH, IdempotencyKeyReusedError
from shared.ops_http import ReadinessCheck, health, readiness
from shared.rate_limits import CallerLimits
from shared.runtime import BackgroundTasks

OVERDUE = Gauge(
    "lapor_hub_notifier_overdue_assignments",
    "Current assignments past their follow-up due date and not followed up, by agency",
    ["agency"],
)


class AssignmentOut(BaseModel):
    tracking_number: str
    agency_code: str
    status: str
    routing_round: int
    previous_agency_code: str | None
    disposition_due: date
    followup_due: date
    routed_at: datetime
    allowed_actions: list[InboxAction]
    complaint: AgencyView | None


class FollowUpIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="Isi tindak lanjut")


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=5_000)
    suggested_agency_code: str | None = Field(default=None, max_length=32)


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=20_000)


class Conflict(BaseModel):
    """Refused: the action is not allowed in the assignment's status, or (`idempotency_key`
    set) the Idempotency-Key came before with a different request."""

    detail: str
    status: str | None = None
    allowed_actions: list[InboxAction] = []
    idempotency_key: str | None = None


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
# A client's retry with the same key (within LAPOR_HUB_NOTIFIER_IDEMPOTENCY_WINDOW_HOURS) gets
# the first answer, with `Idempotent-Replayed: true`, and the action is not taken again.
RetryKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_LENGTH,
        description="The same key again is a retry: answered as the first time, not acted on",
    ),
]
inbox = APIRouter(prefix="/inbox/assignments", tags=["inbox"])
operations = APIRouter(tags=["operations"])
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Conflict}}


@dataclass(frozen=True)
class Wiring:
    service: NotifierService
    pool: asyncpg.Pool
    checks: Mapping[str, ReadinessCheck]
    background: BackgroundTasks
    callers: CallerLimits
    targets: WebhookTargets
    attachments: IntakeStore


_wiring = state_of("wiring", Wiring)


async def _connection(request: Request) -> AsyncIterator[Connection]:
    async with _wiring(request).pool.acquire() as borrowed:
        yield borrowed


Db = Annotated[Connection, Depends(_connection)]
Wired = Annotated[Wiring, Depends(_wiring)]


async def _caller(
    request: Request, db: Db, key: Annotated[str | None, Depends(_api_key_header)]
) -> ApiKey:
    found = await NotifierRepository(db).api_key(key) if key else None
    address = request.client.host if request.client else None
    await _wiring(request).callers.admit(found.name if found else None, address)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key is needed")
    return found


Caller = Annotated[ApiKey, Depends(_caller)]


def _role(role: KeyRole) -> Callable[[ApiKey], ApiKey]:
    def allowed(who: Caller) -> ApiKey:
        if who.role is not role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {role.value} key is needed")
        return who

    return allowed


DirectoryAdmin = Annotated[ApiKey, Depends(_role(KeyRole.DIRECTORY_ADMIN))]
DeadLetterOperator = Annotated[ApiKey, Depends(_role(KeyRole.DEAD_LETTER_OPERATOR))]


def _agency_of(who: ApiKey) -> str:
    if who.agency_code is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an agency's key is needed")
    return who.agency_code


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such assignment for this key")


async def _out(
    service: NotifierService, repository: NotifierRepository, row: AssignmentRow
) -> AssignmentOut:
    complaint = await repository.complaint(row.complaint_id)
    return AssignmentOut(
        tracking_number=row.tracking_number,
        agency_code=row.agency_code,
        status=row.status.value,
        routing_round=row.routing_round,
        previous_agency_code=row.previous_agency_code,
        disposition_due=row.disposition_due,
        followup_due=row.followup_due,
        routed_at=row.routed_at,
        allowed_actions=list(allowed_actions(row.status)),
        complaint=service.view(complaint) if complaint else None,
    )


@inbox.get("", response_model=list[AssignmentOut])
async def list_assignments(db: Db, wiring: Wired, who: Caller) -> list[AssignmentOut]:
    """The agency's current assignments, the most urgent first."""
    repository = NotifierRepository(db)
    rows = await repository.assignments_of(_agency_of(who))
    return [await _out(wiring.service, repository, row) for row in rows]


@inbox.get("/{tracking_number}", response_model=AssignmentOut)
async def get_assignment(tracking_number: str, db: Db, wiring: Wired, who: Caller) -> AssignmentOut:
    """One assignment; an agency sees only its own (the hub's keys see any)."""
    repository = NotifierRepository(db)
    row = await repository.current_assignment(tracking_number, who.agency_code)
    if row is None:
        raise _not_found()
    return await _out(wiring.service, repository, row)


@inbox.get(
    "/{tracking_number}/attachments/{number}",
    response_class=Response,
    responses={
        200: {"content": {kind: {} for kind in ("image/jpeg", "image/png", "application/pdf")}},
        404: {"description": "Not one of the agency's current assignments, or no such file"},
        502: {"description": "The file cannot be fetched from intake's store just now"},
    },
)
async def get_attachment(
    tracking_number: str, number: int, db: Db, wiring: Wired, who: Caller
) -> Response:
    """The `number`-th attachment (from 1) of one of the agency's current assignments, as
    the webhook's `complaint.attachments` links it: a photo or a PDF, its type by its content.
    Only the agency holding the complaint gets it (another's key: 404; a hub key: 403)."""
    repository = NotifierRepository(db)
    row = await repository.current_assignment(tracking_number, _agency_of(who))
    complaint = await repository.complaint(row.complaint_id) if row else None
    if complaint is None or not wiring.attachments.is_stored(complaint, number):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such attachment for this key")
    fetched = await wiring.attachments.fetch(complaint, number)
    if fetched is None:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the attachment cannot be fetched now")
    return attachment_response(fetched, number)


async def _act(
    db: Connection,
    wiring: Wiring,
    who: ApiKey,
    tracking_number: str,
    action: InboxAction,
    *,
    idempotency_key: str | None,
    note: str | None = None,
    suggested_agency_code: str | None = None,
) -> Any:
    try:
        acted = await wiring.service.act(
            _agency_of(who),
            who.name,
            tracking_number,
            action,
            note=note,
            suggested_agency_code=suggested_agency_code,
            idempotency_key=idempotency_key,
        )
    except IdempotencyKeyReusedError as error:
        reused = Conflict(detail=str(error), idempotency_key=error.key)
        return JSONResponse(reused.model_dump(mode="json"), status.HTTP_409_CONFLICT)
    except InvalidTransitionError as error:
        conflict = Conflict(
            detail=str(error), status=error.status, allowed_actions=list(error.allowed)
        )
        return JSONResponse(conflict.model_dump(mode="json"), status.HTTP_409_CONFLICT)
    except MissingTextError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    if acted is None:
        raise _not_found()
    out = await _out(wiring.service, NotifierRepository(db), acted.assignment)
    if not acted.replayed:
        return out
    return JSONResponse(out.model_dump(mode="json"), headers={"Idempotent-Replayed": "true"})


@inbox.post("/{tracking_number}/acknowledge", response_model=AssignmentOut, responses=CONFLICT)
async def acknowledge(
    tracking_number: str, db: Db, wiring: Wired, who: Caller, *, key: RetryKey = None
) -> Any:
    """Terima: the agency has seen the complaint and will handle it."""
    return await _act(
        db, wiring, who, tracking_number, InboxAction.ACKNOWLEDGE, idempotency_key=key
    )


@inbox.post("/{tracking_number}/follow-up", response_model=AssignmentOut, responses=CONFLICT)
async def follow_up(
    tracking_number: str,
    body: FollowUpIn,
    db: Db,
    wiring: Wired,
    who: Caller,
    *,
    key: RetryKey = None,
) -> Any:
    """Tindak lanjut: what the agency did or will do."""
    return await _act(
        db, wiring, who, tracking_number, InboxAction.FOLLOW_UP, idempotency_key=key, note=body.text
    )


@inbox.post("/{tracking_number}/reject", response_model=AssignmentOut, responses=CONFLICT)
async def reject(
    tracking_number: str,
    body: RejectIn,
    db: Db,
    wiring: Wired,
    who: Caller,
    *,
    key: RetryKey = None,
) -> Any:
    """Bukan wewenang: not this agency's authority; the router assigns it again."""
    return await _act(
        db,
        wiring,
        who,
        tracking_number,
        InboxAction.REJECT,
        idempotency_key=key,
        note=body.reason,
        suggested_agency_code=body.suggested_agency_code,
    )


@inbox.post("/{tracking_number}/resolve", response_model=AssignmentOut, responses=CONFLICT)
async def resolve(
    tracking_number: str, body: NoteIn, db: Db, wiring: Wired, who: Caller, *, key: RetryKey = None
) -> Any:
    """Selesai: the matter is resolved."""
    return await _act(
        db, wiring, who, tracking_number, InboxAction.RESOLVE, idempotency_key=key, note=body.note
    )


@operations.get("/admin/dead-letters")
async def dead_letters(db: Db, _: DeadLetterOperator) -> list[dict[str, Any]]:
    """Deliveries that exhausted their attempts."""
    return await NotifierRepository(db).dead_letters()


@operations.post("/admin/deliveries/{delivery_id}/retry", status_code=202)
async def retry(delivery_id: uuid.UUID, db: Db, _: DeadLetterOperator) -> dict[str, str]:
    """Send a dead letter again with a fresh set of attempts."""
    if not await NotifierRepository(db).retry_dead(delivery_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no dead letter with this id")
    return {"delivery_id": str(delivery_id), "state": "pending"}


@operations.put("/admin/agencies/{agency_code}", status_code=204)
async def put_agency(
    agency_code: str, contacts: AgencyContacts, db: Db, wiring: Wired, who: DirectoryAdmin
) -> Response:
    """Replace an agency's contacts; kept over the directory file from then on. The change is
    recorded with the key's name, and the agency's old addresses are told of it. A webhook must
    be https (outside development) and reach no loopback, link-local or private address."""
    if contacts.code != agency_code:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "code differs from the path")
    problems = contacts_problems(contacts, wiring.targets)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))
    async with db.transaction():
        await change_contacts(NotifierRepository(db), contacts, f"API key {who.name}")
    return Response(status_code=204)


@operations.get("/metrics", include_in_schema=False)
async def metrics(db: Db) -> Response:
    OVERDUE.clear()
    for agency, overdue in (await NotifierRepository(db).overdue_by_agency()).items():
        OVERDUE.labels(agency).set(overdue)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@operations.get("/healthz", include_in_schema=False)
async def healthz(wiring: Wired) -> JSONResponse:
    body, status = health(wiring.background.stopped())
    return JSONResponse(body, status_code=status)


@operations.get("/readyz", include_in_schema=False)
async def readyz(wiring: Wired) -> JSONResponse:
    results = await readiness(wiring.checks)
    ready = all(results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )


def inbox_api(
    service: NotifierService,
    pool: asyncpg.Pool,
    *,
    checks: Mapping[str, ReadinessCheck],
    background: BackgroundTasks,
    settings: NotifierSettings | None = None,
    callers: CallerLimits,
) -> FastAPI:
    """The JSON inbox API, operations, and the agency web inbox (`/instansi`) beside them."""
    api = FastAPI(
        title="lapor-hub notifier: agency inbox",
        description="Kotak masuk instansi: pengaduan yang didisposisikan, dan tindak lanjutnya.",
        version="1",
    )
    settings = settings or NotifierSettings()
    api.state.wiring = Wiring(
        service,
        pool,
        checks,
        background,
        callers,
        settings.webhook_targets(),
        intake_store(settings),
    )
    api.add_middleware(BodySizeLimit)
    api.include_router(inbox)
    api.include_router(operations)
    mount_pages(api, service, pool, settings)
    return api
