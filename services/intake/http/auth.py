"""Who is calling intake's API, and whether they may: API keys (header or bearer), their scope,
the per-key rate limit, and Meta's signed WhatsApp webhooks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from services.intake.domain.channels import whatsapp_signature_valid
from services.intake.domain.model import Caller
from services.intake.service import IntakeService
from services.intake.settings import WhatsAppApp
from shared.events import Channel
from shared.ops_http import ReadinessCheck
from shared.runtime import BackgroundTasks


@dataclass(frozen=True)
class IntakeState:
    service: IntakeService
    checks: Mapping[str, ReadinessCheck]
    limiter: SlidingWindowCounterRateLimiter
    per_key: RateLimitItem
    background: BackgroundTasks
    whatsapp: WhatsAppApp | None = None


def intake_state(
    service: IntakeService,
    checks: Mapping[str, ReadinessCheck],
    rate_limit: str,
    background: BackgroundTasks,
    whatsapp: WhatsAppApp | None = None,
) -> IntakeState:
    """What the routes need, set on `app.state.intake` once the database pool exists."""
    return IntakeState(
        service,
        checks,
        # A sliding-window counter: two counters per key. limits' in-memory moving window keeps
        # every hit and expires them through a thread hop per request (a tenth of intake's CPU).
        SlidingWindowCounterRateLimiter(MemoryStorage()),
        parse_rate(rate_limit),
        background,
        whatsapp,
    )


# Meta's signed webhooks count against the rate limit as one caller of their own.
META_WEBHOOKS = Caller(key_id=0, kind="channel", name=Channel.WHATSAPP.value)


def state(request: Request) -> IntakeState:
    intake: IntakeState = request.app.state.intake
    return intake


async def authorised(request: Request, key: str) -> Caller:
    caller = await state(request).service.authenticate(key)
    if caller is None:
        raise HTTPException(401, "API key tidak dikenal / unknown API key")
    await _within_rate_limit(request, caller)
    return caller


async def _within_rate_limit(request: Request, caller: Caller) -> None:
    intake = state(request)
    if not await intake.limiter.hit(intake.per_key, str(caller.key_id)):
        stats = await intake.limiter.get_window_stats(intake.per_key, str(caller.key_id))
        retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        raise HTTPException(
            429,
            "Terlalu banyak permintaan / too many requests",
            headers={"Retry-After": str(retry_after)},
        )


# Security schemes rather than plain header parameters: OpenAPI shows how to authenticate, and
# FastAPI reads them without validating each header through pydantic.
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)
BEARER = HTTPBearer(auto_error=False, description="The API key as a bearer token")
ApiKeyHeader = Annotated[str | None, Security(API_KEY_HEADER)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


async def _caller(request: Request, x_api_key: ApiKeyHeader, bearer: BearerToken) -> Caller:
    key = x_api_key or (bearer.credentials.strip() if bearer else None)
    if not key:
        raise HTTPException(401, "API key wajib / API key required")
    return await authorised(request, key)


async def _whatsapp_sender(
    request: Request,
    x_api_key: ApiKeyHeader,
    bearer: BearerToken,
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> Caller:
    """Meta itself (a signed webhook) or a gateway with an API key."""
    meta = state(request).whatsapp
    if x_hub_signature_256 is None or meta is None:
        return await _caller(request, x_api_key, bearer)
    if not whatsapp_signature_valid(await request.body(), x_hub_signature_256, meta.app_secret):
        raise HTTPException(401, "Tanda tangan salah / bad webhook signature")
    await _within_rate_limit(request, META_WEBHOOKS)
    return META_WEBHOOKS


Authenticated = Annotated[Caller, Depends(_caller)]
WhatsAppSender = Annotated[Caller, Depends(_whatsapp_sender)]


async def _service(request: Request) -> IntakeService:  # async: no thread-pool hop
    return state(request).service


Service = Annotated[IntakeService, Depends(_service)]


def require(caller: Caller, channel: Channel | None) -> None:
    """Operators may use every entry; a channel key only its own channel."""
    if caller.kind == "operator":
        return
    if channel is None or caller.name != channel.value:
        raise HTTPException(403, "Kunci ini tidak untuk kanal ini / key not for this channel")
