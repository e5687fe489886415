"""What every server-rendered page of lapor-hub shares (intake's console and citizen pages, the
notifier's agency pages): security headers, cookies, CSRF tokens, and Bahasa Indonesia first with
an English switch (`?lang=en`, remembered in a cookie).

Pages load nothing from elsewhere (the Content-Security-Policy says so), cannot be framed, and are
not cached. A form's CSRF token is bound to a random value in a cookie of the browser that asked
for the form and signed by the service, so a page elsewhere can neither read nor forge it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LANGUAGES = ("id", "en")
LANGUAGE_COOKIE = "lapor_lang"
BROWSER_COOKIE = "lapor_browser"
CSRF_MAX_AGE_S = 12 * 3600


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
        return isinstance(signed, str) and secrets.compare_digest(signed, browser)
