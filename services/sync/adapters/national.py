"""The sync service's port to national SP4N-LAPOR!: a small interface and its httpx adapter.

Whether the other end is the simulator or the real service is configuration
(`LAPOR_HUB_NATIONAL_*`). Every failure becomes one of four errors, each asking for a different
reaction from the caller:

- `NationalUnavailableError`: not reached, or failed without applying anything: retry later.
- `RateLimitedError`: slow down; retry no sooner than `retry_after` seconds.
- `RejectedError`: the national side refused the request as invalid (4xx): do not retry as is.
- `AmbiguousWriteError`: a write was sent but no answer came back, so it may have been applied:
  look it up (by its reference tag) before sending it again.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sync.adapters.lapor_api import (
    ComplaintCreated,
    ComplaintDraft,
    ComplaintList,
    ComplaintRecord,
    Followup,
    FollowupAdded,
    FollowupDraft,
    FollowupList,
    Institution,
    InstitutionList,
    RejectRequest,
    WireModel,
    reference_tag,
)

# Answers after which a write may or may not have been applied: a crash mid-request, a gateway
# that gave up waiting for the backend.
_AMBIGUOUS_STATUSES = (500, 504)
_DEFAULT_RETRY_AFTER = 1.0
M = TypeVar("M", bound=WireModel)


class NationalApiSettings(BaseSettings):
    """Where national LAPOR is and how to call it; the defaults reach the local simulator."""

    model_config = SettingsConfigDict(
        env_prefix="LAPOR_HUB_NATIONAL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    base_url: str = "http://127.0.0.1:8090"
    authorization: str = "Bearer lapor-hub-simulator"
    token: str = "lapor-hub-simulator-token"
    connect_timeout: float = 2.0
    # Per read/write/pool wait; a create not answered within this is ambiguous.
    timeout: float = 10.0


class NationalError(Exception):
    """A call to national LAPOR failed."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation


class NationalUnavailableError(NationalError):
    pass


class RateLimitedError(NationalError):
    def __init__(self, operation: str, retry_after: float) -> None:
        super().__init__(operation, f"rate limited, retry after {retry_after:g} s")
        self.retry_after = retry_after


class RejectedError(NationalError):
    def __init__(self, operation: str, status: int, detail: str) -> None:
        super().__init__(operation, f"rejected with {status}: {detail}")
        self.status = status
        self.detail = detail


class AmbiguousWriteError(NationalError):
    pass


class NationalLapor(Protocol):
    """What the sync service needs from national LAPOR."""

    async def create_complaint(self, draft: ComplaintDraft) -> ComplaintCreated: ...

    async def add_followup(self, draft: FollowupDraft) -> FollowupAdded: ...

    async def forward(self, complaint_id: int, institution_id: int, reason: str) -> None: ...

    async def complaint(self, complaint_id: int) -> ComplaintRecord: ...

    async def followups(self, complaint_id: int) -> list[Followup]: ...

    async def find_by_reference(self, tracking_number: str) -> list[ComplaintRecord]: ...

    async def changed_since(
        self, since: datetime | None, limit: int = 100, institution_id: int | None = None
    ) -> ComplaintList: ...

    async def institutions(self) -> list[Institution]: ...


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date."""
    if value is None:
        return _DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _DEFAULT_RETRY_AFTER
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpNationalLapor:
    """`NationalLapor` over HTTP, with timeouts on every call."""

    def __init__(self, settings: NationalApiSettings) -> None:
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"Authorization": settings.authorization, "token": settings.token},
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        )

    async def aclose(self) -> None:
        """Close the connection pool (`contextlib.aclosing` calls this)."""
        await self._client.aclose()

    async def create_complaint(self, draft: ComplaintDraft) -> ComplaintCreated:
        response = await self._call(
            "create_complaint", "POST", "/complaints/complaint", write=True, body=draft
        )
        return self._parse("create_complaint", response, ComplaintCreated)

    async def add_followup(self, draft: FollowupDraft) -> FollowupAdded:
        response = await self._call(
            "add_followup", "POST", "/complaints/followup/add", write=True, body=draft
        )
        return self._parse("add_followup", response, FollowupAdded)

    async def forward(self, complaint_id: int, institution_id: int, reason: str) -> None:
        rejection = RejectRequest(not_authority=1, institution_id=institution_id, reason=reason)
        await self._call(
            "forward",
            "POST",
            f"/complaints/process/{complaint_id}/reject",
            write=True,
            body=rejection,
        )

    async def complaint(self, complaint_id: int) -> ComplaintRecord:
        response = await self._call("complaint", "GET", f"/complaints/{complaint_id}/complaint")
        return self._parse("complaint", response, ComplaintRecord)

    async def followups(self, complaint_id: int) -> list[Followup]:
        response = await self._call("followups", "GET", f"/complaints/{complaint_id}/followups")
        return self._parse("followups", response, FollowupList).followups

    async def find_by_reference(self, tracking_number: str) -> list[ComplaintRecord]:
        response = await self._call(
            "find_by_reference",
            "GET",
            "/complaints",
            params={"tag": reference_tag(tracking_number)},
        )
        return self._parse("find_by_reference", response, ComplaintList).complaints

    async def changed_since(
        self, since: datetime | None, limit: int = 100, institution_id: int | None = None
    ) -> ComplaintList:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["updated_since"] = since.isoformat()
        if institution_id is not None:
            params["institution_id"] = institution_id
        response = await self._call("changed_since", "GET", "/complaints", params=params)
        return self._parse("changed_since", response, ComplaintList)

    async def institutions(self) -> list[Institution]:
        response = await self._call("institutions", "GET", "/masters/institutions/external")
        return self._parse("institutions", response, InstitutionList).institutions

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        write: bool = False,
        body: WireModel | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        content = body.model_dump_json().encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = await self._client.request(
                method, path, content=content, headers=headers, params=params
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing was sent.
            raise NationalUnavailableError(operation, _describe(error)) from error
        except httpx.TransportError as error:
            if write:
                raise AmbiguousWriteError(operation, _describe(error)) from error
            raise NationalUnavailableError(operation, _describe(error)) from error
        return checked_answer(operation, response, write=write)

    @staticmethod
    def _parse(operation: str, response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise NationalUnavailableError(operation, f"unreadable answer: {error}") from error


def _describe(error: httpx.TransportError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def checked_answer(operation: str, response: httpx.Response, *, write: bool) -> httpx.Response:
    """The answer if it succeeded, else the error it means for the caller."""
    status = response.status_code
    if response.is_success:
        return response
    if status == httpx.codes.TOO_MANY_REQUESTS:
        raise RateLimitedError(operation, retry_after_seconds(response.headers.get("Retry-After")))
    if write and status in _AMBIGUOUS_STATUSES:
        raise AmbiguousWriteError(operation, f"answered {status}")
    if status >= 500 or status == httpx.codes.REQUEST_TIMEOUT:
        raise NationalUnavailableError(operation, f"answered {status}")
    raise RejectedError(operation, status, response.text[:500])
