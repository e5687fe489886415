"""Thin sending adapters: SMTP (aiosmtplib) and signed webhooks (aiohttp).

A sender either returns (delivered) or raises `DeliveryFailed`, saying whether trying again can
help and when the receiver asked to be tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from typing import Any

import aiohttp
import aiosmtplib

from services.notifier.domain.retry import parse_retry_after
from services.notifier.domain.signature import DELIVERY_HEADER, signed_headers
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


class SmtpSender:
    """Sends alerts over a few SMTP sessions kept open between messages: connecting, STARTTLS,
    EHLO and login for every alert cost several times the alert itself."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._sessions = asyncio.Semaphore(settings.notifier_smtp_connections)

    async def send(self, delivery_id: str, payload: dict[str, Any]) -> None:
        message = self._message(delivery_id, payload)
        async with self._sessions:
            try:
                session = await self._send_reusing(message)
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

    async def _send_reusing(self, message: Message) -> aiosmtplib.SMTP:
        """Send on an idle session, or a new one when the server had closed it meanwhile;
        returns the session, still good. A session that failed otherwise is dropped."""
        while self._idle:
            session = self._idle.pop()
            try:
                await session.send_message(message)
                return session
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                session.close()
            except BaseException:
                session.close()
                raise
        session = await self._connect()
        try:
            await session.send_message(message)
        except BaseException:
            session.close()
            raise
        return session

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

    def _message(self, delivery_id: str, payload: dict[str, Any]) -> Message:
        # The legacy (compat32) MIME classes: the modern EmailMessage parses every header it is
        # given through its header registry, which took a third of the notifier's CPU.
        message = MIMEMultipart("alternative")
        message["From"] = self._settings.notifier_smtp_sender
        message["To"] = ", ".join(payload["to"])
        message["Subject"] = Header(payload["subject"], "utf-8").encode()
        # The same Message-ID on every attempt: mail systems drop the duplicates a retry makes.
        message["Message-ID"] = make_msgid(idstring=delivery_id, domain="lapor-hub")
        message[DELIVERY_HEADER] = delivery_id
        message.attach(MIMEText(payload["text"], "plain", "utf-8"))
        message.attach(MIMEText(payload["html"], "html", "utf-8"))
        return message


def webhook_session(timeout_s: float) -> aiohttp.ClientSession:
    """The HTTP client for agencies' webhooks: connections kept alive, every call bounded."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 3.0))
    )


class WebhookSender:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, delivery_id: str, url: str, body: dict[str, Any], secret: str) -> None:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signed_headers(secret, int(time.time()), content, delivery_id)
        try:
            async with self._session.post(url, data=content, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryFailedError(f"POST {url}: {error!r}") from error
        if 200 <= status < 300:
            return
        raise DeliveryFailedError(
            f"POST {url}: HTTP {status}",
            permanent=400 <= status < 500 and status not in _RETRYABLE_STATUS,
            retry_after=parse_retry_after(retry_after, datetime.now(UTC)),
        )
