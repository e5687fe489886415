"""What every server-rendered page of lapor-hub shares (intake's console and citizen pages, the
notifier's agency pages): security headers, cookies, CSRF tokens, times in WITA, Bahasa Indonesia
first with an English switch (`?lang=en`, remembered in a cookie), and for the pages behind a login
(the console, the agency inbox) their session and the message shown once after a form
(`LoginPages`).

Pages load nothing from elsewhere (the Content-Security-Policy says so), cannot be framed, and are
not cached. A form's CSRF token is bound to a random value in a cookie of the browser that asked
for the form and signed by the service, so a page elsewhere can neither read nor forge it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.api_keys import same_secret
from shared.working_days import WITA

T = TypeVar("T")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
UPLOADED_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
"""A reporter's file served back: never sniffed into another type, never run as a page."""
LANGUAGES = ("id", "en")
LANGUAGE_COOKIE = "lapor_lang"
BROWSER_COOKIE = "lapor_browser"
CSRF_MAX_AGE_S = 12 * 3600
FLASH_MAX_AGE_S = 60


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    max_age: int,
    *,
    path: str,
    samesite: str = "strict",
    secure: bool = False,
) -> None:
    """HttpOnly, SameSite, and Secure whenever the page came over https (or `secure`: behind
    a TLS proxy)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite=samesite,  # type: ignore[arg-type]
        secure=secure or request.url.scheme == "https",
    )


def language(request: Request) -> str:
    """`?lang=` first, then the remembered choice; Bahasa Indonesia unless English was asked."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return asked if asked in LANGUAGES else "id"


def remember_language(response: Response, request: Request, path: str) -> None:
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(
            response,
            request,
            LANGUAGE_COOKIE,
            request.query_params["lang"],
            365 * 86400,
            path=path,
            samesite="lax",
        )


def translator(english: Mapping[str, str], lang: str) -> Callable[[str], str]:
    """`_("Indonesian text")` in templates: the text itself, or its English when asked (the
    Indonesian stays where a translation is missing)."""
    if lang != "en":
        return lambda text: text
    return lambda text: english.get(text, text)


class FormGuard:
    """CSRF tokens for pages without a login: each browser gets a random id in a cookie, and
    each form a signed copy of it; a POST is accepted only when the two match."""

    def __init__(self, secret: str, salt: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt=salt)

    def browser(self, request: Request) -> str:
        return request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(18)

    def token(self, browser: str) -> str:
        return self._signer.dumps(browser)

    def keep(self, response: Response, request: Request, browser: str, path: str) -> None:
        if request.cookies.get(BROWSER_COOKIE) != browser:
            set_cookie(
                response,
                request,
                BROWSER_COOKIE,
                browser,
                CSRF_MAX_AGE_S,
                path=path,
                samesite="lax",
            )

    def valid(self, request: Request, token: str) -> bool:
        browser = request.cookies.get(BROWSER_COOKIE)
        if not browser or not token:
            return False
        try:
            signed = self._signer.loads(token, max_age=CSRF_MAX_AGE_S)
        except BadSignature:
            return False
        return isinstance(signed, str) and same_secret(browser, signed)


def wita(moment: datetime | date | None) -> str:
    """A moment as the pages show it (`08-12-2026 14:05 WITA`), a day as `08-12-2026`."""
    if moment is None:
        return "-"
    if isinstance(moment, datetime):
        return f"{moment.astimezone(WITA):%d-%m-%Y %H:%M} WITA"
    return f"{moment:%d-%m-%Y}"


class LoginRequiredError(Exception):
    """No valid session: the browser is sent to the login page (`LoginPages.to_login`)."""


@dataclass(frozen=True)
class LoginPages:
    """The pages under `prefix` behind a login (`{prefix}/masuk`): the session, a signed cookie
    that lasts `session_s`, and the message a form's redirect leaves for the next page (the
    flash cookie, shown once). Every response carries `SECURITY_HEADERS`; cookies are Secure over
    https, or always with `secure` (behind a TLS proxy)."""

    prefix: str
    session_cookie: str
    flash_cookie: str
    signer: URLSafeTimedSerializer
    session_s: int
    secure: bool = False

    def session(self, request: Request, parse: Callable[[Any], T]) -> T:
        """The session the cookie holds, as `parse` reads it; LoginRequiredError when there is
        none, or it is forged, expired or not what `parse` expects."""
        cookie = request.cookies.get(self.session_cookie)
        if cookie is None:
            raise LoginRequiredError
        try:
            return parse(self.signer.loads(cookie, max_age=self.session_s))
        except (BadSignature, KeyError, TypeError, ValueError):
            raise LoginRequiredError from None

    def logged_in(self, request: Request, session: object) -> Response:
        """To the first page, with the new session's cookie."""
        response = RedirectResponse(self.prefix, status_code=303)
        session_cookie = self.signer.dumps(session)
        self._cookie(response, request, self.session_cookie, session_cookie, self.session_s)
        response.headers.update(SECURITY_HEADERS)
        return response

    def to_login(self) -> Response:
        """To the login page, the session's cookie gone (at logout, or without a valid
        session)."""
        response = RedirectResponse(f"{self.prefix}/masuk", status_code=303)
        response.delete_cookie(self.session_cookie, path=self.prefix)
        response.headers.update(SECURITY_HEADERS)
        return response

    def redirect(self, request: Request, to: str, flash: str, ok: bool = True) -> Response:
        """After a form: to a page, with a message shown once there."""
        response = RedirectResponse(f"{self.prefix}{to}", status_code=303)
        flashed = self.signer.dumps([ok, flash])
        self._cookie(response, request, self.flash_cookie, flashed, FLASH_MAX_AGE_S)
        response.headers.update(SECURITY_HEADERS)
        return response

    def page(self, request: Request, render: Callable[[Any], Response]) -> Response:
        """A page, rendered with the message a redirect left for it (`[ok, text]`, or None);
        once shown, the message's cookie goes."""
        flash = None
        if self.flash_cookie in request.cookies:
            try:
                flash = self.signer.loads(
                    request.cookies[self.flash_cookie], max_age=FLASH_MAX_AGE_S
                )
            except BadSignature:
                flash = None
        response = render(flash)
        if flash is not None:
            response.delete_cookie(self.flash_cookie, path=self.prefix)
        response.headers.update(SECURITY_HEADERS)
        return response

    def _cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: int
    ) -> None:
        set_cookie(response, request, name, value, max_age, path=self.prefix, secure=self.secure)
