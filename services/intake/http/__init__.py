"""Intake's HTTP API (FastAPI): every channel in, the public status out, Open311 GeoReport v2.

A complaint is answered `202 Accepted` only once it is stored with its event; when PostgreSQL is
away the answer is `503` with `Retry-After`, never a false "accepted". Every rejection names each
bad field and why, in Indonesian and English (`errors`); `auth` says who calls, `channels` and
`open311` take complaints in, `middleware` times every request (`shared.http_limits` limits
its size).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.intake.http.auth import IntakeState, intake_state, state
from services.intake.http.channels import channels, operators, public
from services.intake.http.errors import add_error_handlers, field_errors
from services.intake.http.middleware import MAX_EMAIL_BYTES, MAX_IMPORT_BYTES, Timing
from services.intake.http.open311 import open311
from shared.http_limits import BodySizeLimit
from shared.ops_http import health, readiness

__all__ = ["IntakeState", "create_api", "field_errors", "intake_state"]

operations = APIRouter(include_in_schema=False)


@operations.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@operations.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    body, status = health(state(request).background.stopped())
    return JSONResponse(body, status_code=status)


@operations.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    results = await readiness(state(request).checks)
    ready = all(results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )


def create_api(lifespan: Any = None) -> FastAPI:
    api = FastAPI(
        title="lapor-hub intake",
        version="1",
        description="Pengaduan masuk dari semua kanal / complaints in from every channel.",
        lifespan=lifespan,
    )
    api.add_middleware(
        BodySizeLimit,
        larger={
            ":import": MAX_IMPORT_BYTES,
            "/lapor": MAX_IMPORT_BYTES,
            "/channels/email": MAX_EMAIL_BYTES,
        },
    )
    api.add_middleware(Timing)  # outside the size limit: its 413s are timed and counted too
    add_error_handlers(api)
    for router in (channels, operators, public, open311, operations):
        api.include_router(router)
    return api
