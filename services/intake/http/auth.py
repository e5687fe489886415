"""Who is calling intake's API, and whether they may: API keys (header or bearer), their scope,
the per-key rate limit, Meta's signed WhatsApp webhooks, and the per-address limit of the public
lookups by tracking number."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from services.intake.domain.channels import whatsapp_signature_valid
from services.intake.domain.model import Caller
from services.intake.service import IntakeService
from services.intake.settings import IntakeSettings, WhatsAppApp
from services.intake.whatsapp_media import GraphMedia
from shared.app_state import state_of
from shared.events import Channel
from shared.ops_http import ReadinessCheck
from shared.rate_limits import CallerLimits, RateLimitItem, RateLimits, parse_rate
from shared.runtime import BackgroundTasks

log = logging.getLogger(__name__)
PUBLIC_MISSES = Counter(
    "lapor_hub_intake_public_lookup_misses_total",
    "Public lookups (status page, Open311) of a tracking number that does not exist or is not"
    " shown without its access token: many are someone guessing numbers",
    ["route"],
)


@dataclass(frozen=True)
class IntakeState:
    service: IntakeService
    checks: Mapping[str, ReadinessCheck]
    callers: CallerLimits
    limits: RateLimits
    public_per_address: RateLimitItem
    public_misses_per_address: RateLimitItem
    background: BackgroundTasks
    public_url: str
    """Where intake is reached: the links to attachments in the events."""
    whatsapp: WhatsAppApp | None = None
    whatsapp_media: GraphMedia | None = None


def intake_state(
    service: IntakeService,
    checks: Mapping[str, ReadinessCheck],
    settings: IntakeSettings,
    background: BackgroundTasks,
    whatsapp_media: GraphMedia | None = None,
) -> IntakeState:
    """What the routes need, set on `app.state.intake` once the database pool exists."""
    return IntakeState(
        service,
        checks,
        CallerLimits.parse(settings.intake_rate_limit, settings.unknown_api_key_limit),
        RateLimits(),
        parse_rate(settings.intake_public_rate_limit),
        parse_rate(settings.intake_public_miss_limit),
        background,
        settings.intake_public_url,
        settings.whatsapp_app(),
        whatsapp_media,
    )


# Meta's signed webhooks count against the rate limit as one caller of their own.
META_WEBHOOKS = Caller(key_id=0, kind="channel", name=Channel.WHATSAPP.value)


state = state_of("intake", IntakeState)


async def authorised(request: Request, key: str) -> Caller:
    caller = await state(request).service.authenticate(key)
    await within_rate_limit(request, caller)
    if caller is None:
        raise HTTPException(401, "API key tidak dikenal / unknown API key")
    return caller


async def within_rate_limit(request: Request, caller: Caller | None) -> None:
    address = request.client.host if request.client else None
    await state(request).callers.admit(str(caller.key_id) if caller else None, address)


@dataclass(frozen=True)
class PublicLookup:
    """A lookup by tracking number, which needs no key: one client address may make so many,
    and far fewer that find nothing (29^6 numbers a year, with a public check character)."""

    intake: IntakeState
    address: str
    route: str

    async def missed(self, tracking_number: str) -> None:
        """Nothing to show: counted (a metric, a log line, the address's misses)."""
        PUBLIC_MISSES.labels(self.route).inc()
        await self.intake.limits.count(self.intake.public_misses_per_address, self.address)
        log.warning("public lookup found nothing: %r from %s", tracking_number[:40], self.address)


async def _public_lookup(request: Request) -> PublicLookup:
    intake = state(request)
    address = f"address:{request.client.host if request.client else '-'}"
    await intake.limits.check(intake.public_misses_per_address, address)
    await intake.limits.hit(intake.public_per_address, address)
    return PublicLookup(intake, address, getattr(request.scope.get("route"), "path", "-"))


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
    await within_rate_limit(request, META_WEBHOOKS)
    return META_WEBHOOKS


Authenticated = Annotated[Caller, Depends(_caller)]
WhatsAppSender = Annotated[Caller, Depends(_whatsapp_sender)]
Lookup = Annotated[PublicLookup, Depends(_public_lookup)]


async def _service(request: Request) -> IntakeService:  # async: no thread-pool hop
    return state(request).service


Service = Annotated[IntakeService, Depends(_service)]


def require(caller: Caller, channel: Channel | None) -> None:
    """Operators may use every entry; a channel key only its own channel."""
    if caller.kind == "operator":
        return
    if channel is None or caller.name != channel.value:
        raise HTTPException(403, "Kunci ini tidak untuk kanal ini / key not for this channel")
