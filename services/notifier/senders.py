"""Thin sending adapters: SMTP (aiosmtplib) and signed webhooks (httpx).

A sender either returns (delivered) or raises `DeliveryFailed`, saying whether trying again can
help and when the receiver asked to be tried again.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import httpx

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
    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings

    async def send(self, delivery_id: str, payload: dict[str, Any]) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.notifier_smtp_sender
        message["To"] = ", ".join(payload["to"])
        message["Subject"] = payload["subject"]
        # The same Message-ID on every attempt: mail systems drop the duplicates a retry makes.
        message["Message-ID"] = make_msgid(idstring=delivery_id, domain="lapor-hub")
        message[DELIVERY_HEADER] = delivery_id
        message.set_content(payload["text"])
        message.add_alternative(payload["html"], subtype="html")
        password = settings.notifier_smtp_password
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.notifier_smtp_host,
                port=settings.notifier_smtp_port,
                start_tls=settings.notifier_smtp_starttls,
                username=settings.notifier_smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=settings.notifier_smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise DeliveryFailedError(f"recipients refused: {error}", permanent=True) from error
        except aiosmtplib.SMTPResponseException as error:
            # 5xx replies are permanent (bad address, policy); 4xx are "try later".
            raise DeliveryFailedError(
                f"SMTP {error.code}: {error.message}", permanent=error.code >= 500
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailedError(f"SMTP: {error!r}") from error


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, delivery_id: str, url: str, body: dict[str, Any], secret: str) -> None:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signed_headers(secret, int(time.time()), content, delivery_id)
        try:
            response = await self._client.post(url, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryFailedError(f"POST {url}: {error!r}") from error
        if response.is_success:
            return
        status = response.status_code
        raise DeliveryFailedError(
            f"POST {url}: HTTP {status}",
            permanent=400 <= status < 500 and status not in _RETRYABLE_STATUS,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )
