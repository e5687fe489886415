"""The sync service's port to national SP4N-LAPOR!: a small interface, its aiohttp adapter.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sync.adapters.lapor_api import (
    ActionLog,
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
# A write answered so may have been applied: an error inside national (500), or a gateway's in
# front of it (502 when its backend failed to answer, maybe after applying; 504 timed out).
_AMBIGUOUS_STATUSES = (500, 502, 504)
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

    async def actions_since(self, after_id: int | None, limit: int = 100) -> ActionLog: ...

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


@dataclass(frozen=True)
class NationalAnswer:
    status: int
    body: bytes
    retry_after: str | None = None


class HttpNationalLapor:
    """`NationalLapor` over HTTP (aiohttp, which costs less CPU than httpx: README), with
    timeouts on every call. Must be made inside the event loop that uses it."""

    def __init__(self, settings: NationalApiSettings) -> None:
        self._base_url = settings.base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            headers={"Authorization": settings.authorization, "token": settings.token},
            timeout=aiohttp.ClientTimeout(
                total=settings.connect_timeout + settings.timeout,
                connect=settings.connect_timeout,
                sock_read=settings.timeout,
            ),
        )

    async def aclose(self) -> None:
        """Close the connection pool (`contextlib.aclosing` calls this)."""
        await self._session.close()

    async def create_complaint(self, draft: ComplaintDraft) -> ComplaintCreated:
        answer = await self._call(
            "create_complaint", "POST", "/complaints/complaint", write=True, body=draft
        )
        return self._parse("create_complaint", answer, ComplaintCreated, write=True)

    async def add_followup(self, draft: FollowupDraft) -> FollowupAdded:
        answer = await self._call(
            "add_followup", "POST", "/complaints/followup/add", write=True, body=draft
        )
        return self._parse("add_followup", answer, FollowupAdded, write=True)

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
        answer = await self._call("complaint", "GET", f"/complaints/{complaint_id}/complaint")
        return self._parse("complaint", answer, ComplaintRecord)

    async def followups(self, complaint_id: int) -> list[Followup]:
        answer = await self._call("followups", "GET", f"/complaints/{complaint_id}/followups")
        return self._parse("followups", answer, FollowupList).followups

    async def find_by_reference(self, tracking_number: str) -> list[ComplaintRecord]:
        """The national complaints carrying the complaint's tag. National's search is not
        trusted to have filtered: what it answers without the tag is left out (taken for this
        complaint, another's record would stand for a create that never happened)."""
        tag = reference_tag(tracking_number)
        answer = await self._call("find_by_reference", "GET", "/complaints", params={"tag": tag})
        found = self._parse("find_by_reference", answer, ComplaintList).complaints
        return [record for record in found if tag in record.tags]

    async def actions_since(self, after_id: int | None, limit: int = 100) -> ActionLog:
        """National's action log (every complaint's) after entry `after_id`, in order."""
        params: dict[str, Any] = {"limit": limit}
        if after_id is not None:
            params["after_id"] = after_id
        answer = await self._call("actions_since", "GET", "/complaints/logs", params=params)
        return self._parse("actions_since", answer, ActionLog)

    async def institutions(self) -> list[Institution]:
        answer = await self._call("institutions", "GET", "/masters/institutions/external")
        return self._parse("institutions", answer, InstitutionList).institutions

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        write: bool = False,
        body: WireModel | None = None,
        params: dict[str, Any] | None = None,
    ) -> NationalAnswer:
        content = body.model_dump_json().encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with self._session.request(
                method, self._base_url + path, data=content, headers=headers, params=params
            ) as response:
                answer = NationalAnswer(
                    response.status, await response.read(), response.headers.get("Retry-After")
                )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            # Nothing was sent.
            raise NationalUnavailableError(operation, _describe(error)) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            if write:
                raise AmbiguousWriteError(operation, _describe(error)) from error
            raise NationalUnavailableError(operation, _describe(error)) from error
        return checked_answer(operation, answer, write=write)

    @staticmethod
    def _parse(operation: str, answer: NationalAnswer, model: type[M], *, write: bool = False) -> M:
        """The answer's body as `model`. Unreadable, it is a failed call; for a write answered
        2xx, one that was applied without its answer (ambiguous: looked for before sending
        again)."""
        try:
            return model.model_validate_json(answer.body)
        except ValidationError as error:
            failed = AmbiguousWriteError if write else NationalUnavailableError
            raise failed(operation, f"unreadable answer: {error}") from error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def checked_answer(operation: str, answer: NationalAnswer, *, write: bool) -> NationalAnswer:
    """The answer if it succeeded, else the error it means for the caller."""
    status = answer.status
    if 200 <= status < 300:
        return answer
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        raise RateLimitedError(operation, retry_after_seconds(answer.retry_after))
    if write and status in _AMBIGUOUS_STATUSES:
        raise AmbiguousWriteError(operation, f"answered {status}")
    if status >= 500 or status == HTTPStatus.REQUEST_TIMEOUT:
        raise NationalUnavailableError(operation, f"answered {status}")
    raise RejectedError(operation, status, answer.body[:500].decode(errors="replace"))
