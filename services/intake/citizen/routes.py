"""The citizens' pages: file a complaint (`/lapor`) and follow it (`/lacak/{nomor}`),
server-rendered, usable without JavaScript, in Bahasa Indonesia first (`?lang=en` for English).

A complaint filed here goes through the same path as the web channel's API (`IntakeService.submit`:
stored with its event in the outbox, idempotent on a double submit by the form's own key); the
reporter gets the tracking number and an access token, with which the tracking page lets them
reply, say a resolved complaint is not solved, and rate it.

The access token never travels in a URL (history, Referer and access logs keep URLs): it is
entered in a form (POST) and kept in an HttpOnly, SameSite=Strict cookie whose path is the one
complaint's tracking page, `/lacak/{nomor}`. The form's answer is a redirect (POST-redirect-GET)
to `/lacak/{nomor}/diterima`, which a reload does not send again and a bookmark keeps without
the token.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from services.intake.citizen.english import ENGLISH
from services.intake.citizen.gazetteer import gazetteer
from services.intake.domain.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    AttachmentRefusedError,
    CleanAttachment,
    StoredAttachment,
    clean_attachment,
    described,
)
from services.intake.domain.channels import Inbound
from services.intake.domain.model import Caller
from services.intake.domain.reporter import (
    REOPEN_WITHIN,
    NotAllowedError,
    ReporterAction,
    history_of,
)
from services.intake.domain.tracking import normalize
from services.intake.http.auth import Lookup
from services.intake.http.errors import field_errors
from services.intake.service import IntakeService, PublicStatus
from shared.app_state import state_of
from shared.db import DATABASE_UNAVAILABLE
from shared.events import Attachment, Channel, ComplaintContent, ComplaintStatus
from shared.idempotency import IdempotencyKeyReusedError
from shared.masking import masked
from shared.pages import (
    SECURITY_HEADERS,
    UPLOADED_FILE_HEADERS,
    FormGuard,
    language,
    remember_language,
    set_cookie,
    translator,
    wita,
)
from shared.working_days import WITA, local_today

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/warga/static"
templates = Jinja2Templates(directory=HERE / "templates")
citizen = APIRouter(include_in_schema=False)
# The form is one caller of intake's, as Meta's signed webhooks are (key id 0): its idempotency
# keys (one per form shown) are its own.
CITIZEN_FORM = Caller(key_id=-1, kind="channel", name="web-form")
# Form field -> the complaint's field it fills (where pydantic names the error).
FIELDS = {
    "title": "judul",
    "body": "isi",
    "category": "kategori",
    "location.region_code": "kabkota",
    "location.district_code": "kecamatan",
    "location.text": "lokasi",
    "incident_date": "tanggal",
    "reporter.name": "nama",
    "reporter.phone": "telepon",
    "reporter.email": "email",
}
# The reporter's access token, one cookie per complaint (its path is the tracking page's): as
# long as a complaint can be reopened and rated after a slow resolution, not forever.
TOKEN_COOKIE = "lapor_kunci"
TOKEN_COOKIE_S = 180 * 24 * 3600
STATUS_LABELS = {
    "received": "Diterima",
    "routed": "Diteruskan ke instansi",
    "acknowledged": "Diterima instansi",
    "followed_up": "Ditindaklanjuti",
    "rejected": "Bukan wewenang, dialihkan",
    "reporter_replied": "Pelapor menanggapi",
    "resolved": "Selesai",
    "reopened": "Dibuka kembali",
    "rated": "Dinilai",
    "archived": "Diarsipkan",
    "mirrored": "Tercatat di SP4N-LAPOR!",
}


@dataclass(frozen=True)
class CitizenState:
    intake: IntakeService
    guard: FormGuard
    public_url: str  # where intake is reached: attachments' URLs in the event
    attachments_token: str  # the notifier's, for a confidential complaint's attachments


def citizen_state(
    intake: IntakeService, secret: str | None, public_url: str, attachments_token: str
) -> CitizenState:
    return CitizenState(
        intake,
        FormGuard(secret or secrets.token_urlsafe(32), salt="lapor-hub-citizen"),
        public_url.rstrip("/"),
        attachments_token,
    )


_state = state_of("citizen", CitizenState)


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    state = _state(request)
    lang = language(request)
    browser = state.guard.browser(request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "_": translator(ENGLISH, lang),
            "csrf": state.guard.token(browser),
            "static": STATIC_PREFIX,
            "path": request.url.path,
            "status_label": lambda status: STATUS_LABELS.get(status, status),
            "wita": wita,
            **context,
        },
        status_code=status_code,
    )
    state.guard.keep(response, request, browser, "/")
    remember_language(response, request, "/")
    response.headers.update(SECURITY_HEADERS)
    return response


def _form_page(
    request: Request, values: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    places = gazetteer()
    return _page(
        request,
        "lapor.html",
        status_code,
        values=values,
        errors=errors,
        regions=places.regions,
        districts=places.districts,
        max_photos=MAX_ATTACHMENTS,
        max_mb=MAX_ATTACHMENT_BYTES // (1024 * 1024),
        today=local_today().isoformat(),
    )


@citizen.get("/")
async def home() -> Response:
    return RedirectResponse("/lapor", status_code=303)


@citizen.get("/lapor")
async def complaint_form(request: Request) -> Response:
    return _form_page(request, {"idem": uuid.uuid4().hex}, {})


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _photos(
    form: FormData, keep_location: bool, english: bool
) -> tuple[list[CleanAttachment], str | None]:
    uploads = [f for f in form.getlist("foto") if isinstance(f, UploadFile) and f.filename]
    if len(uploads) > MAX_ATTACHMENTS:
        return [], (
            f"At most {MAX_ATTACHMENTS} files."
            if english
            else f"Paling banyak {MAX_ATTACHMENTS} berkas."
        )
    cleaned = []
    for upload in uploads:
        try:
            data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
            cleaned.append(clean_attachment(data, keep_location=keep_location))
        except AttachmentRefusedError as error:
            return [], f"{upload.filename}: {error.said(english)}"
    return cleaned, None


def _content(
    form: FormData, attachments: list[Attachment], english: bool
) -> tuple[ComplaintContent | None, dict[str, str]]:
    """The complaint the form describes, or each field's problem."""
    errors: dict[str, str] = {}
    places = gazetteer()
    region, district = _text(form, "kabkota"), _text(form, "kecamatan")
    place = places.district(district) if district else None
    if district and (place is None or (region and place.region_code != region)):
        errors["kecamatan"] = (
            "Not a kecamatan of the chosen kab/kota."
            if english
            else "Kecamatan tidak ada di kab/kota yang dipilih."
        )
    if place is not None and not region:
        region = place.region_code
    wants_answers = form.get("ingin_kabar") == "ya"
    phone, email = _text(form, "telepon"), _text(form, "email")
    if wants_answers and not (phone or email):
        errors["telepon"] = (
            "Give a phone number or an e-mail address to get answers."
            if english
            else "Isi nomor telepon atau e-mail agar jawaban bisa dikirim."
        )
    incident = _text(form, "tanggal")
    if incident and incident > local_today().isoformat():
        errors["tanggal"] = "Not in the future." if english else "Tidak boleh di masa depan."
    location_text = _text(form, "lokasi") or None
    content: ComplaintContent | None = None
    try:
        content = ComplaintContent.model_validate(
            {
                "title": _text(form, "judul"),
                "body": _text(form, "isi"),
                "category": _text(form, "kategori") or None,
                "incident_date": incident or None,
                "location": {
                    "text": location_text,
                    "region_code": region or None,
                    "district_code": district or None,
                },
                "reporter": {
                    "name": _text(form, "nama") or None,
                    "phone": phone or None,
                    "email": email or None,
                },
                "anonymous": form.get("anonim") == "ya",
                "confidential": form.get("rahasia") == "ya",
                "attachments": [a.model_dump() for a in attachments],
            }
        )
    except ValidationError as error:
        for problem in field_errors(error.errors()):
            field = FIELDS.get(problem["field"], "umum")
            reason = problem["reason"]["en" if english else "id"]
            if field in {"judul", "isi"} and not _text(form, field):
                reason = "Required." if english else "Wajib diisi."
            errors.setdefault(field, reason)
    return (None, errors) if errors else (content, errors)


@citizen.post("/lapor")
async def submit_complaint(request: Request) -> Response:
    state = _state(request)
    english = language(request) == "en"
    form = await request.form(max_files=MAX_ATTACHMENTS + 2, max_fields=40)
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not state.guard.valid(request, _text(form, "csrf")):
        problem = (
            "The form expired; please send it again."
            if english
            else ("Formulir kedaluwarsa; silakan kirim lagi.")
        )
        return _form_page(request, values, {"umum": problem}, 403)
    photos, photo_problem = await _photos(form, form.get("lokasi_foto") == "ya", english)
    attachments = [described(photo, state.public_url) for photo in photos]
    content, errors = _content(form, attachments, english)
    if photo_problem:
        errors["foto"] = photo_problem
    if content is None or errors:
        return _form_page(request, values, errors, 422)
    try:
        await state.intake.keep_attachments(photos, confidential=content.confidential)
        accepted = await state.intake.submit(
            Inbound(Channel.WEB, content), CITIZEN_FORM, _text(form, "idem") or None
        )
    except IdempotencyKeyReusedError:
        values["idem"] = uuid.uuid4().hex
        problem = (
            "This form was already sent with other text: check and send again."
            if english
            else ("Formulir ini sudah pernah dikirim dengan isi lain: periksa dan kirim lagi.")
        )
        return _form_page(request, values, {"umum": problem}, 409)
    except DATABASE_UNAVAILABLE:
        problem = (
            "We cannot store complaints right now; your text is kept, try again in a minute."
            if english
            else (
                "Pengaduan belum bisa disimpan; tulisan Anda tetap di sini, "
                "coba lagi sebentar lagi."
            )
        )
        response = _form_page(request, values, {"umum": problem}, 503)
        response.headers["Retry-After"] = "5"
        return response
    tracking = accepted.tracking_number
    response = _redirect(
        f"{_tracking_page(tracking)}/diterima" + ("" if accepted.created else "?lagi=1")
    )
    if accepted.access_token:
        _keep_token(response, request, tracking, accepted.access_token)
    return response


def _tracking_page(tracking_number: str) -> str:
    return f"/lacak/{tracking_number}"


def _redirect(to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _keep_token(response: Response, request: Request, tracking_number: str, token: str) -> None:
    set_cookie(
        response, request, TOKEN_COOKIE, token, TOKEN_COOKIE_S, path=_tracking_page(tracking_number)
    )


def _forget_token(response: Response, tracking_number: str) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=_tracking_page(tracking_number))


def _token(request: Request) -> str | None:
    """The access token this browser keeps for the tracking page asked (its cookie's path)."""
    return request.cookies.get(TOKEN_COOKIE) or None


@citizen.get("/lacak/{tracking_number}/diterima")
async def received(request: Request, tracking_number: str, lagi: str = "") -> Response:
    """The answer to the form: the tracking number and, while this browser keeps it, the access
    token. Without the token (a bookmark on another device) it is the tracking page."""
    wanted = normalize(tracking_number)
    token = _token(request)
    status = await _state(request).intake.public_status(wanted, token) if token else None
    if status is None or not status.by_reporter:
        return _redirect(_tracking_page(wanted))
    return _page(
        request,
        "diterima.html",
        tracking=wanted,
        token=token,
        again=bool(lagi),
        confidential=status.complaint.confidential,
    )


@citizen.get("/lampiran/{sha256}")
async def attachment(request: Request, sha256: str) -> Response:
    """An attachment by its SHA-256 (a capability: only who was given the URL knows it); a
    confidential complaint's only with the attachments token (the notifier's)."""
    found = await _state(request).intake.attachment(sha256) if _is_sha256(sha256) else None
    if found is None:
        raise HTTPException(404)
    if found.private:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not secrets.compare_digest(given, _state(request).attachments_token):
            raise HTTPException(404)
    return _served(found)


@citizen.get("/lacak/{tracking_number}/lampiran/{sha256}")
async def tracked_attachment(request: Request, tracking_number: str, sha256: str) -> Response:
    """A photo of the tracking page: to anyone when the complaint shows it publicly, to its
    reporter (the token this browser keeps for the page) whatever the complaint. Not counted
    against the page's lookups (a page with photos would use them up), nor a way to tell numbers
    apart: without the photo's SHA-256 every answer is the same 404."""
    wanted = normalize(tracking_number)
    status = await _state(request).intake.public_status(wanted, _token(request))
    named = status is not None and sha256 in {_sha256_of(a) for a in _photos_shown(status)}
    found = await _state(request).intake.attachment(sha256) if named else None
    if found is None:
        raise HTTPException(404)
    return _served(found)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _sha256_of(attachment: Attachment) -> str:
    return (attachment.url.path or "").rsplit("/", 1)[-1]


def _photos_shown(status: PublicStatus) -> list[Attachment]:
    """A confidential or anonymous complaint's photos may show who sent it: the reporter alone
    sees them."""
    complaint = status.complaint
    if (complaint.confidential or complaint.anonymous) and not status.by_reporter:
        return []
    return [a for a in complaint.attachments if a.content_type.startswith("image/")]


def _served(found: StoredAttachment) -> Response:
    return Response(
        found.content,
        media_type=found.content_type,
        headers={**UPLOADED_FILE_HEADERS, "Cache-Control": "private, max-age=86400, immutable"},
    )


@citizen.get("/lacak")
async def find(request: Request, nomor: str = "") -> Response:
    if nomor.strip():
        return _redirect(_tracking_page(normalize(nomor)))
    return _page(request, "lacak_cari.html")


@citizen.post("/lacak")
async def find_with_token(request: Request, lookup: Lookup) -> Response:
    """The search form: a number, and the access token when the reporter has one."""
    form = await request.form(max_files=0, max_fields=5)
    wanted = normalize(_text(form, "nomor"))
    if not wanted:
        return _page(request, "lacak_cari.html", 422)
    return await _enter_token(request, lookup, wanted, form)


@citizen.post("/lacak/{tracking_number}/kunci")
async def enter_token(request: Request, tracking_number: str, lookup: Lookup) -> Response:
    """The reporter's access token, typed or pasted on the tracking page."""
    form = await request.form(max_files=0, max_fields=5)
    return await _enter_token(request, lookup, normalize(tracking_number), form)


async def _enter_token(request: Request, lookup: Lookup, wanted: str, form: FormData) -> Response:
    """To the tracking page, the token kept for it if it is the complaint's; a wrong token is a
    miss, as a wrong number is."""
    state = _state(request)
    token = _text(form, "kunci")
    if not state.guard.valid(request, _text(form, "csrf")):
        return _redirect(f"{_tracking_page(wanted)}?pesan=kedaluwarsa")
    response = _redirect(_tracking_page(wanted))
    if not token:
        return response
    status = await state.intake.public_status(wanted, token)
    if status is None or not status.by_reporter:
        await lookup.missed(wanted)
        return _page(request, "lacak_cari.html", 404, nomor=wanted, wrong_token=True)
    _keep_token(response, request, wanted, token)
    return response


@citizen.get("/lacak/{tracking_number}")
async def track(
    request: Request, tracking_number: str, lookup: Lookup, pesan: str = ""
) -> Response:
    """Limited per client address like the status API: guessing numbers here is no easier. The
    reporter's view with the token this browser keeps for the page (never one in the URL)."""
    state = _state(request)
    wanted = normalize(tracking_number)
    if wanted != tracking_number:  # one address per complaint: its token cookie's path
        return _redirect(_tracking_page(wanted))
    token = _token(request)
    status = await state.intake.public_status(wanted, token)
    if status is None:
        await lookup.missed(wanted)
        response = _page(request, "lacak_cari.html", 404, nomor=wanted, missing=True)
        if token:
            _forget_token(response, wanted)
        return response
    complaint = status.complaint
    places = gazetteer()
    history = history_of(status.status, [(e.occurred_at, e.status) for e in status.timeline])
    reopen_until = (
        history.resolved_at + REOPEN_WITHIN
        if history.status is ComplaintStatus.RESOLVED and history.resolved_at
        else None
    )
    district = places.district(complaint.location.district_code or "")
    region = places.regions.get(complaint.location.region_code or "")
    return _page(
        request,
        "lacak.html",
        tracking=wanted,
        by_reporter=status.by_reporter,
        status=status,
        title=masked(complaint.title),
        agency=places.agency_name(status.agency_code),
        deadlines=await state.intake.deadlines(complaint.complaint_id),
        place=", ".join(p for p in (district.name if district else None, region) if p),
        timeline=list(reversed(status.timeline)),
        history=history,
        reopen_until=reopen_until,
        can_reopen=reopen_until is not None and datetime.now(WITA) <= reopen_until,
        can_rate=history.status is ComplaintStatus.RESOLVED and not history.rated,
        photos=[
            f"{_tracking_page(wanted)}/lampiran/{_sha256_of(a)}" for a in _photos_shown(status)
        ],
        message=pesan,
    )


@citizen.post("/lacak/{tracking_number}")
async def reporter_acts(request: Request, tracking_number: str, lookup: Lookup) -> Response:
    state = _state(request)
    english = language(request) == "en"
    form = await request.form(max_files=0, max_fields=10)
    wanted = normalize(tracking_number)
    back = _tracking_page(wanted)
    if not state.guard.valid(request, _text(form, "csrf")):
        return _redirect(f"{back}?pesan=kedaluwarsa")
    token = _token(request)
    if _text(form, "aksi") == "lupakan":  # a shared computer: this browser forgets the token
        response = _redirect(back)
        _forget_token(response, wanted)
        return response
    if token is None:
        return _redirect(back)
    try:
        action = ReporterAction(_text(form, "aksi"))
        rating = int(_text(form, "nilai")) if _text(form, "nilai").isdigit() else None
        acted = await state.intake.reporter_acts(
            wanted, token, action, _text(form, "teks") or None, rating
        )
    except ValueError as error:
        if isinstance(error, NotAllowedError):
            text = error.said(english)
            return _page(request, "pesan.html", 409, text=text, back=back)
        raise HTTPException(422, "aksi tidak dikenal") from error
    if not acted:  # a wrong access token, as likely guessed as a number
        await lookup.missed(wanted)
        raise HTTPException(404)
    return _redirect(f"{back}?pesan=terkirim")
