"""The console's calls to the other services: readiness, national state from sync's `/metrics`,
and their dead letters (router and sync: the operations token; notifier: an operator key of its
inbox API). A service that does not answer is shown so, never an error page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.intake.console.domain import NationalStatus, national_status
from services.intake.console.settings import ConsoleSettings


@dataclass(frozen=True)
class Readiness:
    service: str
    ready: bool
    detail: str


@dataclass(frozen=True)
class Letter:
    """A dead letter of any service, as the console lists it."""

    service: str
    id: str
    subject: str  # complaint id or tracking number
    reason: str
    created_at: datetime | None


@dataclass(frozen=True)
class Letters:
    service: str
    letters: list[Letter]
    problem: str | None = None  # why they could not be listed


def _problem(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"menjawab HTTP {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return "tidak menjawab (timeout)"
    return f"tidak dapat dihubungi ({type(error).__name__})"


class Services:
    """The other services as the console reaches them."""

    def __init__(self, settings: ConsoleSettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._ops = {"Authorization": f"Bearer {settings.ops_token.get_secret_value()}"}
        key = settings.console_notifier_api_key
        self._notifier = {"X-API-Key": key.get_secret_value()} if key else None

    @property
    def readiness_urls(self) -> dict[str, str]:
        return {
            "router": f"{self._settings.console_router_ops_url}/readyz",
            "notifier": f"{self._settings.console_notifier_url}/readyz",
            "sync": f"{self._settings.console_sync_ops_url}/readyz",
        }

    async def readiness(self, service: str, url: str) -> Readiness:
        try:
            response = await self._client.get(url)
            checks: dict[str, Any] = response.json().get("checks", {})
        except (httpx.HTTPError, ValueError) as error:
            return Readiness(service, False, _problem(error))
        failing = [name for name, ok in checks.items() if not ok]
        if response.status_code == 200:
            return Readiness(service, True, "siap")
        reason = ", ".join(failing) or f"HTTP {response.status_code}"
        return Readiness(service, False, f"belum siap: {reason}")

    async def national(self) -> NationalStatus | str:
        """National LAPOR's state, or why it is not known."""
        try:
            response = await self._client.get(f"{self._settings.console_sync_ops_url}/metrics")
            response.raise_for_status()
            return national_status(response.text)
        except httpx.HTTPError as error:
            return f"Layanan sync {_problem(error)}"
        except ValueError as error:
            return f"Metrik sync tidak lengkap: {error}"

    async def _listed(
        self,
        service: str,
        url: str,
        headers: dict[str, str],
        letters: Callable[[Any], list[Letter]],
    ) -> Letters:
        """A service's dead letters at `url`, read from its answer by `letters`."""
        try:
            response = await self._client.get(url, headers=headers)
            response.raise_for_status()
            return Letters(service, letters(response.json()))
        except (httpx.HTTPError, ValueError) as error:
            return Letters(service, [], f"Layanan {service} {_problem(error)}")

    async def ops_dead_letters(self, service: str) -> Letters:
        """Router's or sync's dead letters (their ops endpoints)."""

        def letters(answer: Any) -> list[Letter]:
            return [
                Letter(
                    service,
                    str(item["id"]),
                    item["complaint_id"] or "-",
                    item["error"],
                    datetime.fromisoformat(item["created_at"]),
                )
                for item in answer["dead_letters"]
            ]

        url = f"{self._ops_url(service)}/v1/dead-letters"
        return await self._listed(service, url, self._ops, letters)

    async def notifier_dead_letters(self) -> Letters:
        """The notifier's deliveries that exhausted their attempts (its operations API)."""
        if self._notifier is None:
            return Letters("notifier", [], "Kunci operator notifier belum diatur")

        def letters(answer: Any) -> list[Letter]:
            return [
                Letter(
                    "notifier",
                    str(item["delivery_id"]),
                    # A notice of changed contacts belongs to no complaint: its kind instead.
                    f"{item['tracking_number'] or item['kind']} → {item['agency_code']}"
                    f" ({item['channel']})",
                    item["last_error"] or "-",
                    datetime.fromisoformat(item["created_at"]),
                )
                for item in answer
            ]

        url = f"{self._settings.console_notifier_url}/admin/dead-letters"
        return await self._listed("notifier", url, self._notifier, letters)

    async def retry(self, service: str, letter_id: str) -> str | None:
        """Retry a router, sync or notifier dead letter; None when done, else why not."""
        try:
            if service == "notifier":
                if self._notifier is None:
                    return "Kunci operator notifier belum diatur"
                response = await self._client.post(
                    f"{self._settings.console_notifier_url}/admin/deliveries/"
                    f"{uuid.UUID(letter_id)}/retry",
                    headers=self._notifier,
                )
            else:
                response = await self._client.post(
                    f"{self._ops_url(service)}/v1/dead-letters/{int(letter_id)}/retry",
                    headers=self._ops,
                )
        except httpx.HTTPError as error:
            return f"Layanan {service} {_problem(error)}"
        if response.status_code == 404:
            return "Surat tidak ditemukan atau sudah diulang"
        if response.status_code >= 400:
            detail = response.json().get("error") if response.status_code == 409 else None
            return f"Ditolak lagi: {detail}" if detail else f"Gagal (HTTP {response.status_code})"
        return None

    def _ops_url(self, service: str) -> str:
        urls = {
            "router": self._settings.console_router_ops_url,
            "sync": self._settings.console_sync_ops_url,
        }
        return urls[service]
