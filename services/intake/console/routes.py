"""The console's pages (server-rendered, Bahasa Indonesia): log in with an operator key, then the
pipeline, the triage queue, overdue agencies, national LAPOR, dead letters and a search.

The session is held on the server (`intake.console_sessions`); the browser has a signed cookie
(HttpOnly, SameSite=Strict) with the session's random token, never the key. It ends at logout
(the same cookie replayed afterwards is refused), with the key (revoked) or after
`console_session_hours`. Every form that changes something carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer

from services.intake.console.domain import (
    Assignment,
    describe,
    duration,
    is_overdue,
    overdue_by_agency,
    reporter_for_operator,
    status_label,
)
from services.intake.console.queries import ConsoleQueries, OverrideOutcome
from services.intake.console.remote import Letter, Letters, Readiness, Services
from services.intake.console.settings import ConsoleSettings
from services.intake.domain.tracking import normalize
from services.intake.http.auth import within_rate_limit
from services.intake.repository import SCHEMA
from services.intake.service import IntakeService
from shared.agencies import TRIAGE_AGENCY, agency_names, region_names
from shared.api_keys import new_api_key, same_secret
from shared.app_state import state_of
from shared.dead_letters import RetryOutcome, pending, reapply
from shared.masking import masked
from shared.ops_http import readiness
from shared.pages import LoginPages, LoginRequiredError, wita
from shared.working_days import WITA, local_today

PREFIX = "/console"
SESSION_COOKIE = "lapor_console"
FLASH_COOKIE = "lapor_console_flash"
SERVICES = ("intake", "router", "sync", "notifier")
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
console = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass(frozen=True)
class ConsoleState:
    pool: asyncpg.Pool
    intake: IntakeService
    settings: ConsoleSettings
    topic: str
    pages: LoginPages
    agencies: dict[str, str]  # code -> name, where an operator may route to
    regions: dict[str, str]  # code -> name

    @property
    def queries(self) -> ConsoleQueries:
        return ConsoleQueries(self.pool)


def console_state(pool: asyncpg.Pool, intake: IntakeService, topic: str) -> ConsoleState:
    settings = ConsoleSettings()
    secret = settings.console_session_secret
    return ConsoleState(
        pool=pool,
        intake=intake,
        settings=settings,
        topic=topic,
        pages=LoginPages(
            PREFIX,
            SESSION_COOKIE,
            FLASH_COOKIE,
            URLSafeTimedSerializer(
                secret.get_secret_value() if secret else secrets.token_urlsafe(32),
                salt="lapor-hub-console",
            ),
            int(settings.console_session_hours * 3600),
        ),
        agencies={c: n for c, n in agency_names().items() if c != TRIAGE_AGENCY},
        regions=region_names(),
    )


@dataclass(frozen=True)
class Session:
    token: str
    operator: str
    csrf: str


_state = state_of("console", ConsoleState)


async def _session(request: Request) -> Session:
    state = _state(request)
    session = state.pages.session(
        request, lambda data: Session(str(data["s"]), str(data["o"]), str(data["c"]))
    )
    if not await state.queries.session_open(session.token):
        raise LoginRequiredError
    return session


Operator = Annotated[Session, Depends(_session)]
Csrf = Annotated[str, Form(alias="csrf")]


def _checked(session: Session, token: str) -> None:
    if not same_secret(token, session.csrf):
        raise HTTPException(403, "Formulir kedaluwarsa; muat ulang halaman")


async def login_required(request: Request, _: Exception) -> Response:
    return _state(request).pages.to_login()


def _redirect(request: Request, to: str, flash: str, ok: bool = True) -> Response:
    """After a form: back to a page, with a message shown once there."""
    return _state(request).pages.redirect(request, to, flash, ok)


def _page(request: Request, template: str, session: Session | None, **context: Any) -> Response:
    def render(flash: Any) -> Response:
        return templates.TemplateResponse(
            request,
            template,
            {
                "operator": session.operator if session else None,
                "csrf": session.csrf if session else "",
                "flash": flash,
                "prefix": PREFIX,
                "wita": wita,
                "duration": duration,
                "status_label": status_label,
                **context,
            },
        )

    return _state(request).pages.page(request, render)


@console.get("/masuk", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return _page(request, "login.html", None)


@console.post("/masuk")
async def login(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
    state = _state(request)
    caller = await state.intake.authenticate(key.strip())
    await within_rate_limit(request, caller)  # a guessed key counts against its address
    if caller is None or caller.kind != "operator":
        response = _page(request, "login.html", None, error="Kunci operator tidak dikenal.")
        response.status_code = 401
        return response
    token = new_api_key()  # as random as a key; the server keeps only its hash
    await state.queries.open_session(caller.key_id, token, state.settings.console_session_hours)
    session = {"s": token, "o": caller.name, "c": secrets.token_urlsafe(24)}
    return state.pages.logged_in(request, session)


@console.post("/keluar")
async def logout(request: Request, session: Operator, csrf: Csrf) -> Response:
    _checked(session, csrf)
    await _state(request).queries.end_session(session.token)
    return _state(request).pages.to_login()


async def _readiness(request: Request, services: Services) -> list[Readiness]:
    async def intake_itself() -> Readiness:
        checks = await readiness(request.app.state.intake.checks)
        failing = [name for name, ok in checks.items() if not ok]
        detail = f"belum siap: {', '.join(failing)}" if failing else "siap"
        return Readiness("intake", not failing, detail)

    return list(
        await asyncio.gather(
            intake_itself(),
            *(services.readiness(name, url) for name, url in services.readiness_urls.items()),
        )
    )


def _client(state: ConsoleState) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=state.settings.console_remote_timeout_s)


@console.get("", response_class=HTMLResponse)
async def overview(request: Request, session: Operator) -> Response:
    state = _state(request)
    today_starts = datetime.combine(local_today(), time(), WITA).astimezone(UTC)
    async with _client(state) as client:
        services = Services(state.settings, client)
        pipeline, ready, national = await asyncio.gather(
            state.queries.pipeline(today_starts), _readiness(request, services), services.national()
        )
    return _page(
        request,
        "overview.html",
        session,
        nav="ringkasan",
        pipeline=pipeline,
        ready=ready,
        national=national,
    )


@console.get("/triase", response_class=HTMLResponse)
async def triage(request: Request, session: Operator) -> Response:
    state = _state(request)
    return _page(
        request,
        "triage.html",
        session,
        nav="triase",
        items=await state.queries.triage_queue(),
        agencies=state.agencies,
        regions=state.regions,
    )


@console.post("/triase/{tracking_number}")
async def route_from_triage(
    request: Request,
    tracking_number: str,
    *,
    session: Operator,
    csrf: Csrf,
    agency_code: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _checked(session, csrf)
    state = _state(request)
    if agency_code not in state.agencies:
        return _redirect(request, "/triase", f"Instansi {agency_code!r} tidak dikenal.", ok=False)
    outcome = await state.queries.request_override(
        tracking_number, agency_code, session.operator, state.topic, reason.strip() or None
    )
    messages = {
        OverrideOutcome.REQUESTED: (
            True,
            f"{tracking_number} dikirim ke router untuk didisposisikan ke "
            f"{state.agencies[agency_code]} ({agency_code}).",
        ),
        OverrideOutcome.ALREADY_REQUESTED: (
            False,
            f"{tracking_number} sudah diminta didisposisikan; menunggu jawaban router.",
        ),
        OverrideOutcome.NOT_IN_TRIAGE: (False, f"{tracking_number} tidak ada di antrean triase."),
    }
    ok, text = messages[outcome]
    return _redirect(request, "/triase", text, ok=ok)


@console.get("/terlambat", response_class=HTMLResponse)
async def overdue(request: Request, session: Operator) -> Response:
    state = _state(request)
    today = local_today()
    late = overdue_by_agency(await state.queries.overdue_candidates(today), today)
    return _page(
        request,
        "overdue.html",
        session,
        nav="terlambat",
        late=late,
        today=today,
        agencies=state.agencies,
    )


async def _intake_letters(state: ConsoleState) -> Letters:
    letters = await pending(state.pool, SCHEMA)
    return Letters(
        "intake",
        [
            Letter("intake", str(d.id), d.complaint_id or "-", d.error, d.created_at)
            for d in letters
        ],
    )


@console.get("/surat-mati", response_class=HTMLResponse)
async def dead_letters(request: Request, session: Operator) -> Response:
    state = _state(request)
    async with _client(state) as client:
        services = Services(state.settings, client)
        groups = await asyncio.gather(
            _intake_letters(state),
            services.ops_dead_letters("router"),
            services.ops_dead_letters("sync"),
            services.notifier_dead_letters(),
        )
    return _page(request, "dead_letters.html", session, nav="surat-mati", groups=groups)


@console.post("/surat-mati/{service}/{letter_id}/ulang")
async def retry_dead_letter(
    request: Request, service: str, letter_id: str, session: Operator, csrf: Csrf
) -> Response:
    _checked(session, csrf)
    state = _state(request)
    if service not in SERVICES:
        raise HTTPException(404, "Layanan tidak dikenal")
    problem: str | None
    try:
        if service == "intake":
            outcome, reason = await reapply(state.pool, SCHEMA, int(letter_id), state.intake.handle)
            problem = {
                RetryOutcome.REPLAYED: None,
                RetryOutcome.NOT_FOUND: "Surat tidak ditemukan atau sudah diulang",
            }.get(outcome, f"Ditolak lagi: {reason}")
        else:
            async with _client(state) as client:
                problem = await Services(state.settings, client).retry(service, letter_id)
    except ValueError:
        problem = "Nomor surat tidak sah"
    if problem is None:
        return _redirect(request, "/surat-mati", f"Surat {service} #{letter_id} diulang.")
    return _redirect(request, "/surat-mati", f"Surat {service} #{letter_id}: {problem}.", ok=False)


@console.get("/cari", response_class=HTMLResponse)
async def search(
    request: Request,
    session: Operator,
    nomor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    state = _state(request)
    wanted = normalize(nomor) if nomor.strip() else ""
    record = await state.queries.complaint(wanted) if wanted else None
    context: dict[str, Any] = {"nomor": nomor, "searched": bool(wanted), "record": record}
    if record is not None:
        complaint = record.complaint
        region = complaint.location.region_code
        context |= {
            "complaint": complaint,
            "title": masked(complaint.title),
            "body": masked(complaint.body),
            "region": state.regions.get(region or "", region),
            "reporter": reporter_for_operator(complaint),
            "lines": [describe(event, complaint.anonymous) for event in record.events],
            "overdue": record.followup_due is not None
            and is_overdue(
                Assignment(record.agency_code or "", record.status, record.followup_due),
                local_today(),
            ),
        }
    return _page(request, "search.html", session, nav="cari", **context)
