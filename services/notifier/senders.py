"""Thin sending adapters: SMTP (aiosmtplib) and signed webhooks (aiohttp).

A sender either returns (delivered) or raises `DeliveryFailed`, saying whether trying again can
help and when the receiver asked to be tried again. Webhooks reach only the addresses
`domain/targets.py` allows, follow no redirect, and what is stored of a failure says its kind,
not the target's answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import formatdate, parseaddr
from typing import Any

import aiohttp
import aiosmtplib
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.notifier.domain.retry import parse_retry_after
from services.notifier.domain.signature import DELIVERY_HEADER, signed_headers
from services.notifier.domain.targets import NOT_PUBLIC, WebhookTargets
from services.notifier.settings import NotifierSettings

# Client errors that say "later", not "never".
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryFailedError(Exception):
    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


def _header(name: str, value: str, *, utf8: bool = False) -> str:
    """One header line, folded. ASCII is folded here (the email package's header parser is
    costly: README, Figures); anything else the package RFC 2047-encodes,
    or with `utf8` writes as UTF-8 (RFC 6532: an address cannot be encoded). Line breaks in the
    value (a title typed by a citizen) never reach the header: no injection."""
    value = " ".join(value.splitlines())
    if value.isascii() and (folded := _folded(f"{name}: {value}", len(name) + 2)) is not None:
        return folded
    style = policy.SMTPUTF8 if utf8 else policy.SMTP
    encoded: str = style.header_factory(name, value).fold(policy=style)
    return encoded


def _folded(line: str, first_break: int) -> str | None:
    """`line` broken before spaces into lines of at most 78 characters (RFC 5322 folding:
    unfolded, it is `line` again), or None if a word is too long for that."""
    lines: list[str] = []
    begin = 0
    while len(line) - begin > 78:
        cut = line.rfind(" ", first_break, begin + 79)
        if cut <= begin or line[begin:cut].isspace():
            return None
        lines.append(line[begin:cut])
        begin, first_break = cut, cut + 1
    lines.append(line[begin:])
    return "\r\n".join(lines) + "\r\n"


def _text_part(boundary: str, subtype: str, text: str) -> str:
    encoded = base64.encodebytes(text.encode()).decode("ascii").replace("\n", "\r\n")
    return (
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    )


def alert_email(
    *, sender: str, to: Sequence[str], subject: str, text: str, html: str, delivery_id: str
) -> bytes:
    """An alert as sent: multipart/alternative with UTF-8 text and HTML, both base64, so any
    line length and script goes through 7-bit relays (all of it 7-bit unless an address is
    not: see `_needs_smtputf8`). Assembled directly, once per attempt: the email package's MIME
    classes and generator were the notifier's largest cost (README, Figures). The Message-ID is
    the delivery id, so every attempt carries the same one and mail systems drop the duplicates
    a retry makes."""
    # A base64 line never starts with "--": no part can contain the boundary.
    boundary = f"lapor-hub-{delivery_id}"
    return "".join(
        (
            _header("From", sender),
            _header("To", ", ".join(to), utf8=True),
            _header("Subject", subject),
            f"Date: {formatdate(usegmt=True)}\r\n",
            f"Message-ID: <{delivery_id}@lapor-hub>\r\n",
            f"{DELIVERY_HEADER}: {delivery_id}\r\n",
            "MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n',
            _text_part(boundary, "plain", text),
            _text_part(boundary, "html", html),
            f"--{boundary}--\r\n",
        )
    ).encode()


def _needs_smtputf8(addresses: Sequence[str]) -> bool:
    """An address beyond ASCII (a reporter's `wärga@contoh.id`) is sent only with SMTPUTF8."""
    return not all(address.isascii() for address in addresses)


class SmtpSender:
    """Sends alerts over a few SMTP sessions kept open between messages: connecting, STARTTLS,
    EHLO and login for every alert cost several times the alert itself."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._sessions = asyncio.Semaphore(settings.notifier_smtp_connections)
        self._envelope_sender = parseaddr(settings.notifier_smtp_sender)[1]

    async def send(self, delivery_id: str, payload: dict[str, Any]) -> None:
        recipients: list[str] = payload["to"]
        message = alert_email(
            sender=self._settings.notifier_smtp_sender,
            to=recipients,
            subject=payload["subject"],
            text=payload["text"],
            html=payload["html"],
            delivery_id=delivery_id,
        )
        async with self._sessions:
            try:
                session = await self._send_reusing(recipients, message)
            except aiosmtplib.SMTPRecipientsRefused as error:
                raise DeliveryFailedError(f"recipients refused: {error}", permanent=True) from error
            except aiosmtplib.SMTPResponseException as error:
                # 5xx replies are permanent (bad address, policy); 4xx are "try later".
                raise DeliveryFailedError(
                    f"SMTP {error.code}: {error.message}", permanent=error.code >= 500
                ) from error
            except (aiosmtplib.SMTPException, OSError) as error:
                raise DeliveryFailedError(f"SMTP: {error!r}") from error
            self._idle.append(session)

    async def close(self) -> None:
        while self._idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await self._idle.pop().quit()

    async def _send_reusing(self, recipients: list[str], message: bytes) -> aiosmtplib.SMTP:
        """Send on an idle session, or a new one when the server had closed it meanwhile;
        returns the session, still good. A session that failed otherwise is dropped."""
        while self._idle:
            session = self._idle.pop()
            try:
                await self._transact(session, recipients, message)
                return session
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                session.close()
            except BaseException:
                session.close()
                raise
        session = await self._connect()
        try:
            await self._transact(session, recipients, message)
        except BaseException:
            session.close()
            raise
        return session

    async def _transact(
        self, session: aiosmtplib.SMTP, recipients: list[str], message: bytes
    ) -> None:
        """One deadline for the whole transaction (MAIL, RCPT, DATA, the message) rather than
        one timer per command (their cost: README, Figures)."""
        async with asyncio.timeout(self._settings.notifier_smtp_timeout_s):
            await session.sendmail(
                self._envelope_sender,
                recipients,
                message,
                mail_options=["SMTPUTF8"]
                if _needs_smtputf8([self._envelope_sender, *recipients])
                else None,
                timeout=None,
            )

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self._settings
        password = settings.notifier_smtp_password
        session = aiosmtplib.SMTP(
            hostname=settings.notifier_smtp_host,
            port=settings.notifier_smtp_port,
            start_tls=settings.notifier_smtp_starttls,
            username=settings.notifier_smtp_username,
            password=password.get_secret_value() if password else None,
            timeout=settings.notifier_smtp_timeout_s,
            # Without it, every connection looks up this machine's FQDN (a blocking DNS call).
            local_hostname=settings.notifier_smtp_local_hostname,
        )
        await session.connect()
        return session


class TargetRefusedError(OSError):
    """A webhook's host name resolved to an address the rules refuse (`domain/targets.py`)."""


class _CheckedResolver(AbstractResolver):
    """The default resolver, refusing names that resolve to an address `targets` do not allow:
    the connection is made to exactly the addresses checked (a name pointed inside after it was
    saved is refused too). Literal addresses never reach a resolver: `WebhookSender` checks
    them."""

    def __init__(self, targets: WebhookTargets) -> None:
        self._targets = targets
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if not all(self._targets.address_allowed(result["host"]) for result in found):
            raise TargetRefusedError(f"{host} resolves to {NOT_PUBLIC}")
        return found

    async def close(self) -> None:
        await self._resolver.close()


def webhook_session(timeout_s: float, targets: WebhookTargets) -> aiohttp.ClientSession:
    """The HTTP client for agencies' webhooks: connections kept alive, every call bounded, names
    resolved only to addresses `targets` allow."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=_CheckedResolver(targets)),
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 3.0)),
    )


def _unreached(error: Exception) -> DeliveryFailedError:
    """What is stored of a failure to reach a webhook: its kind, never the target's own words
    (an error text, a port refused or not, where a name points: what an editor of the directory
    could otherwise learn of the hub's network from the dead letters)."""
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(
        error.os_error, TargetRefusedError
    ):
        return DeliveryFailedError(f"refused: the host resolves to {NOT_PUBLIC}", permanent=True)
    if isinstance(error, TimeoutError):
        return DeliveryFailedError("timed out")
    if isinstance(error, aiohttp.ClientConnectorError):
        return DeliveryFailedError("could not connect")
    return DeliveryFailedError(f"connection failed ({type(error).__name__})")


class WebhookSender:
    def __init__(self, session: aiohttp.ClientSession, targets: WebhookTargets) -> None:
        self._session = session
        self._targets = targets

    async def send(self, delivery_id: str, url: str, body: dict[str, Any], secret: str) -> None:
        problem = self._targets.url_problem(url)
        if problem is not None:
            raise DeliveryFailedError(f"refused: {problem}", permanent=True)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signed_headers(secret, int(time.time()), content, delivery_id)
        try:
            async with self._session.post(
                url, data=content, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _unreached(error) from error
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            # Followed, a redirect would take the signed alert wherever the receiver says.
            raise DeliveryFailedError(f"HTTP {status}: redirects are not followed", permanent=True)
        raise DeliveryFailedError(
            f"HTTP {status}",
            permanent=400 <= status < 500 and status not in _RETRYABLE_STATUS,
            retry_after=parse_retry_after(retry_after, datetime.now(UTC)),
        )
