"""The agency web inbox (`/instansi`, server-rendered, Bahasa Indonesia first with `?lang=en`):
an agency's staff log in with their own account, see their agency's assignments (overdue on top),
open one (masked as every agency-facing message is: `agency_view`), and act on it. Each action is
`NotifierService.act`, the same call the JSON inbox API makes, recorded with the staff account.

The session is held on the server (`notifier.staff_sessions`); the browser has a signed cookie
(HttpOnly, SameSite=Strict, Secure over https or when configured) with its random token, never the
password. It ends at logout (the same cookie replayed afterwards is refused), after
`notifier_pages_session_hours`, or when the account is disabled or its password set again. Every
form carries a CSRF token: the session's, or before login the browser's (`shared.pages`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer

from services.notifier.domain.attachments import shown
from services.notifier.domain.inbox import (
    InboxAction,
    InvalidTransitionError,
    MissingTextError,
    allowed_actions,
)
from services.notifier.domain.privacy import agency_view, reply_for_agency
from services.notifier.domain.staff import LoginThrottle, inbox_order, is_overdue, password_matches
from services.notifier.http.attachments import IntakeStore, attachment_response, intake_store
from services.notifier.http.pages_text import ENGLISH, MESSAGES, STATUS_LABELS
from services.notifier.repository import NotifierRepository, StaffAccount
from services.notifier.service import Acted, NotifierService
from services.notifier.settings import NotifierSettings
from shared.agencies import TRIAGE_AGENCY, agency_names
from shared.api_keys import new_api_key, same_secret
from shared.app_state import state_of
from shared.idempotency import MAX_KEY_LENGTH, IdempotencyKeyReusedError
from shared.pages import (
    FormGuard,
    LoginPages,
    LoginRequiredError,
    language,
    remember_language,
    translator,
    wita,
)
from shared.working_days import local_today

PREFIX = "/instansi"
SESSION_COOKIE = "lapor_instansi"
FLASH_COOKIE = "lapor_instansi_flash"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
pages = APIRouter(prefix=PREFIX, include_in_schema=False)
# The page's path segment of each action, as the JSON API names them.
ACTIONS = {
    "terima": InboxAction.ACKNOWLEDGE,
    "tindak-lanjut": InboxAction.FOLLOW_UP,
    "tolak": InboxAction.REJECT,
    "selesai": InboxAction.RESOLVE,
}


@dataclass
class PagesState:
    service: NotifierService
    pool: asyncpg.Pool
    pages: LoginPages
    guard: FormGuard
    throttle: LoginThrottle
    agencies: dict[str, str]
    attachments: IntakeStore


@dataclass(frozen=True)
class Staff:
    account: StaffAccount
    token: str  # the session's, as the cookie holds it
    csrf: str


_state = state_of("pages", PagesState)


async def _staff(request: Request) -> Staff:
    state = _state(request)
    token, csrf = state.pages.session(request, lambda data: (str(data["s"]), str(data["c"])))
    async with state.pool.acquire() as connection:
        account = await NotifierRepository(connection).staff_session(token)
    if account is None:
        raise LoginRequiredError
    return Staff(account, token, csrf)


StaffMember = Annotated[Staff, Depends(_staff)]
Csrf = Annotated[str, Form(alias="csrf", max_length=200)]


class FormExpiredError(Exception):
    """A form without its session's (or browser's) CSRF token."""


def _checked(staff: Staff, token: str) -> None:
    if not same_secret(token, staff.csrf):
        raise FormExpiredError


async def login_required(request: Request, _: Exception) -> Response:
    return _state(request).pages.to_login()


async def form_expired(request: Request, _: Exception) -> Response:
    return _page(request, "error.html", None, status=403, message="FORM_EXPIRED")


def _redirect(request: Request, to: str, flash: str, ok: bool = True) -> Response:
    """After a form: to a page, with a message shown once there (already in the reader's
    language)."""
    return _state(request).pages.redirect(request, to, flash, ok)


def _page(
    request: Request,
    template: str,
    staff: Staff | None,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    state = _state(request)
    lang = language(request)
    gettext = translator(ENGLISH, lang)

    def render(flash: Any) -> Response:
        response: Response = templates.TemplateResponse(
            request,
            template,
            {
                "staff": staff.account if staff else None,
                "agency_name": state.agencies.get(staff.account.agency_code) if staff else None,
                "csrf": staff.csrf if staff else "",
                "flash": flash,
                "prefix": PREFIX,
                "lang": lang,
                "_": gettext,
                "status_label": lambda value: gettext(STATUS_LABELS.get(value) or value),
                "wita": wita,
                "messages": MESSAGES,
                **context,
            },
            status_code=status,
        )
        remember_language(response, request, PREFIX)
        return response

    return state.pages.page(request, render)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


# --- login and logout ---------------------------------------------------------------------------


def _login_page(
    request: Request, *, status: int = 200, error: str | None = None, username: str = ""
) -> Response:
    state = _state(request)
    browser = state.guard.browser(request)
    response = _page(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        username=username,
        login_csrf=state.guard.token(browser),
    )
    state.guard.keep(response, request, browser, PREFIX)
    return response


@pages.get("/masuk", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return _login_page(request)


@pages.post("/masuk")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=63)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Csrf,
) -> Response:
    state = _state(request)
    if not state.guard.valid(request, csrf):
        return _login_page(request, status=403, error="FORM_EXPIRED", username=username)
    username = username.strip().lower()
    address = _client_address(request)
    wait_s = state.throttle.wait_s(username, address, time.monotonic())
    if wait_s > 0:
        response = _login_page(request, status=429, error="TOO_MANY_LOGINS", username=username)
        response.headers["Retry-After"] = str(int(wait_s) + 1)
        return response
    async with state.pool.acquire() as connection:
        account = await NotifierRepository(connection).staff_by_username(username)
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    matches = await asyncio.to_thread(
        password_matches, account.password_hash if account else None, password
    )
    if account is None or not matches:
        state.throttle.failed(username, address, time.monotonic())
        return _login_page(request, status=401, error="BAD_LOGIN", username=username)
    state.throttle.succeeded(username)
    token = new_api_key()  # as random as a key; the server keeps only its hash
    async with state.pool.acquire() as connection:
        await NotifierRepository(connection).open_staff_session(
            account.id, token, state.pages.session_s
        )
    return state.pages.logged_in(request, {"s": token, "c": secrets.token_urlsafe(24)})


@pages.post("/keluar")
async def logout(request: Request, staff: StaffMember, csrf: Csrf) -> Response:
    _checked(staff, csrf)
    state = _state(request)
    async with state.pool.acquire() as connection:
        await NotifierRepository(connection).end_staff_session(staff.token)
    return state.pages.to_login()


# --- the inbox ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListItem:
    tracking_number: str
    title: str
    status: Any
    followup_due: date
    disposition_due: date
    routed_at: datetime
    overdue: bool
    confidential: bool


@pages.get("", response_class=HTMLResponse)
async def inbox(request: Request, staff: StaffMember) -> Response:
    state = _state(request)
    today = local_today()
    async with state.pool.acquire() as connection:
        repository = NotifierRepository(connection)
        rows = await repository.assignments_of(staff.account.agency_code)
        complaints = await repository.complaints([row.complaint_id for row in rows])
    items = []
    for row in rows:
        complaint = complaints.get(row.complaint_id)
        view = agency_view(complaint) if complaint else None
        items.append(
            ListItem(
                tracking_number=row.tracking_number,
                title=view.title if view else "-",
                status=row.status,
                followup_due=row.followup_due,
                disposition_due=row.disposition_due,
                routed_at=row.routed_at,
                overdue=is_overdue(row.status, row.followup_due, today),
                confidential=bool(view and view.confidential),
            )
        )
    ordered = inbox_order(items, today)
    return _page(
        request,
        "inbox.html",
        staff,
        nav="kotak",
        items=ordered,
        overdue=sum(item.overdue for item in ordered),
        today=today,
    )


async def _assignment_page(
    request: Request,
    staff: Staff,
    tracking_number: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    kept: dict[str, str] | None = None,
    template_id: int | None = None,
) -> Response:
    state = _state(request)
    agency = staff.account.agency_code
    async with state.pool.acquire() as connection:
        repository = NotifierRepository(connection)
        row = await repository.current_assignment(tracking_number, agency)
        complaint = await repository.complaint(row.complaint_id) if row else None
        if row is None or complaint is None:
            # Another agency's complaint is not told apart from one that does not exist.
            return _page(request, "error.html", staff, status=404, message="NOT_FOUND")
        lines = [
            # The reporter's words as the agency reads them: masked like the complaint's text.
            replace(line, note=reply_for_agency(complaint, line.note))
            if line.action == "reporter"
            else line
            for line in await repository.history(row.complaint_id)
        ]
        answer_templates = await repository.answer_templates(agency)
    kept = dict(kept or {})
    chosen = next((t for t in answer_templates if t.id == template_id), None)
    if chosen is not None and "text" not in kept:
        kept["text"] = chosen.body
    return _page(
        request,
        "assignment.html",
        staff,
        status=status,
        nav="kotak",
        row=row,
        view=agency_view(complaint),
        attachments=shown(complaint.attachments, state.attachments.public_url),
        lines=lines,
        allowed={action.value for action in allowed_actions(row.status)},
        overdue=is_overdue(row.status, row.followup_due, local_today()),
        answer_templates=answer_templates,
        errors=errors or {},
        kept=kept,
        # Each action form's own key: sent twice (a double click, a resubmit), it acts once.
        form_keys={path: uuid.uuid4().hex for path in ACTIONS},
        agencies={c: n for c, n in state.agencies.items() if c not in (agency, TRIAGE_AGENCY)},
        agency_names=state.agencies,
    )


@pages.get("/pengaduan/{tracking_number}/lampiran/{number}")
async def attachment(
    request: Request, tracking_number: str, number: int, staff: StaffMember
) -> Response:
    """An attachment of one of the agency's current assignments, fetched from intake's store;
    to anyone else (another agency, no session) it does not exist."""
    state = _state(request)
    async with state.pool.acquire() as connection:
        repository = NotifierRepository(connection)
        row = await repository.current_assignment(tracking_number, staff.account.agency_code)
        complaint = await repository.complaint(row.complaint_id) if row else None
    if complaint is None or not state.attachments.is_stored(complaint, number):
        return _page(request, "error.html", staff, status=404, message="NOT_FOUND")
    fetched = await state.attachments.fetch(complaint, number)
    if fetched is None:
        return _page(request, "error.html", staff, status=502, message="ATTACHMENT_UNAVAILABLE")
    return attachment_response(fetched, number)


@pages.get("/pengaduan/{tracking_number}", response_class=HTMLResponse)
async def assignment(
    request: Request, tracking_number: str, staff: StaffMember, templat: int | None = None
) -> Response:
    return await _assignment_page(request, staff, tracking_number, template_id=templat)


@dataclass(frozen=True)
class Refusal:
    """An action not taken, with the reason shown beside its field."""

    status: int
    errors: dict[str, str]


async def _try(
    request: Request,
    staff: Staff,
    tracking_number: str,
    action: InboxAction,
    *,
    text: str,
    suggested: str,
    idempotency_key: str,
) -> Acted | Refusal | None:
    """The inbox API's own call (`NotifierService.act`) by this staff member; None when the
    assignment is not (or no longer) the agency's."""
    gettext = translator(ENGLISH, language(request))
    state = _state(request)
    if suggested and suggested not in state.agencies:
        return Refusal(422, {"suggested_agency_code": gettext("Instansi tidak dikenal.")})
    account = staff.account
    try:
        return await state.service.act(
            account.agency_code,
            account.username,
            tracking_number,
            action,
            note=text,
            suggested_agency_code=suggested or None,
            staff_account_id=account.id,
            idempotency_key=idempotency_key or None,
        )
    except IdempotencyKeyReusedError:
        message = gettext(
            "Formulir ini sudah pernah dikirim dengan isi lain: periksa lalu kirim lagi."
        )
        return Refusal(409, {"action": message})
    except MissingTextError:
        field = "reject_text" if action is InboxAction.REJECT else "text"
        return Refusal(422, {field: gettext("Isi dulu bagian ini.")})
    except InvalidTransitionError as error:
        message = gettext("Tindakan ini tidak dapat dilakukan pada status {status}.").format(
            status=gettext(STATUS_LABELS.get(error.status.value, error.status.value))
        )
        return Refusal(409, {"action": message})


@pages.post("/pengaduan/{tracking_number}/{action}")
async def act(
    request: Request,
    tracking_number: str,
    action: str,
    *,
    staff: StaffMember,
    csrf: Csrf,
    text: Annotated[str, Form(max_length=20_000)] = "",
    suggested_agency_code: Annotated[str, Form(max_length=32)] = "",
    idem: Annotated[str, Form(max_length=MAX_KEY_LENGTH)] = "",
) -> Response:
    _checked(staff, csrf)
    gettext = translator(ENGLISH, language(request))
    inbox_action = ACTIONS.get(action)
    row = None
    if inbox_action is not None:
        outcome = await _try(
            request,
            staff,
            tracking_number,
            inbox_action,
            text=text,
            suggested=suggested_agency_code.strip(),
            idempotency_key=idem,
        )
        if isinstance(outcome, Refusal):
            kept = {"text": text, "suggested_agency_code": suggested_agency_code, "action": action}
            return await _assignment_page(
                request,
                staff,
                tracking_number,
                status=outcome.status,
                errors=outcome.errors,
                kept=kept,
            )
        row = outcome.assignment if outcome else None
    if row is None:
        return _page(request, "error.html", staff, status=404, message="NOT_FOUND")
    if inbox_action is InboxAction.REJECT:
        # No longer this agency's once the router takes it: back to the list.
        done = gettext("{tracking} dikembalikan: bukan wewenang.")
        return _redirect(request, "", done.format(tracking=tracking_number))
    status = gettext(STATUS_LABELS.get(row.status.value, row.status.value))
    return _redirect(
        request,
        f"/pengaduan/{tracking_number}",
        gettext("{tracking}: {status}.").format(tracking=tracking_number, status=status),
    )


# --- answer templates ---------------------------------------------------------------------------


@pages.get("/templat", response_class=HTMLResponse)
async def answer_templates(request: Request, staff: StaffMember) -> Response:
    async with _state(request).pool.acquire() as connection:
        found = await NotifierRepository(connection).answer_templates(staff.account.agency_code)
    return _page(request, "templates.html", staff, nav="templat", answer_templates=found)


@pages.post("/templat")
async def add_answer_template(
    request: Request,
    staff: StaffMember,
    csrf: Csrf,
    title: Annotated[str, Form(max_length=120)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    _checked(staff, csrf)
    gettext = translator(ENGLISH, language(request))
    title, body = title.strip(), body.strip()
    errors = {}
    if not title:
        errors["title"] = gettext("Isi dulu bagian ini.")
    if not body:
        errors["body"] = gettext("Isi dulu bagian ini.")
    agency = staff.account.agency_code
    async with _state(request).pool.acquire() as connection:
        repository = NotifierRepository(connection)
        if not errors and not await repository.add_answer_template(
            agency, title, body, staff.account.id
        ):
            errors["title"] = gettext("Sudah ada templat dengan judul ini.")
        if errors:
            found = await repository.answer_templates(agency)
    if errors:
        return _page(
            request,
            "templates.html",
            staff,
            status=422,
            nav="templat",
            answer_templates=found,
            errors=errors,
            kept={"title": title, "body": body},
        )
    return _redirect(request, "/templat", gettext("Templat disimpan."))


@pages.post("/templat/{template_id}/hapus")
async def delete_answer_template(
    request: Request, template_id: int, staff: StaffMember, csrf: Csrf
) -> Response:
    _checked(staff, csrf)
    gettext = translator(ENGLISH, language(request))
    async with _state(request).pool.acquire() as connection:
        deleted = await NotifierRepository(connection).delete_answer_template(
            staff.account.agency_code, template_id
        )
    if not deleted:
        return _page(request, "error.html", staff, status=404, message="NOT_FOUND")
    return _redirect(request, "/templat", gettext("Templat dihapus."))


def mount_pages(
    api: FastAPI, service: NotifierService, pool: asyncpg.Pool, settings: NotifierSettings
) -> None:
    """Serve the agency web inbox under /instansi."""
    configured = settings.notifier_pages_session_secret
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    api.state.pages = PagesState(
        service=service,
        pool=pool,
        pages=LoginPages(
            PREFIX,
            SESSION_COOKIE,
            FLASH_COOKIE,
            URLSafeTimedSerializer(secret, salt="lapor-hub-instansi"),
            int(settings.notifier_pages_session_hours * 3600),
            secure=settings.notifier_pages_secure_cookies,
        ),
        guard=FormGuard(secret, salt="lapor-hub-instansi-login"),
        throttle=LoginThrottle(),
        agencies=agency_names(),
        attachments=intake_store(settings),
    )
    api.include_router(pages)
    api.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="instansi-static")
    api.add_exception_handler(LoginRequiredError, login_required)
    api.add_exception_handler(FormExpiredError, form_expired)
