"""Operations endpoints of a service without an HTTP API of its own (router, sync).

`/metrics` (Prometheus text), `/healthz` (the process answers and its background work runs:
liveness) and `/readyz` (the
broker and the database answer: readiness), served by aiohttp inside the service's event loop;
a service may add routes of its own (its dead letters, for the operator console), which answer
only with the operations token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial

import asyncpg
from aiohttp import web
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from shared.api_keys import same_secret
from shared.dead_letters import DeadLetter, Retry, RetryOutcome, pending
from shared.runtime import BackgroundTasks
from shared.settings import Settings

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_S = 2.0


async def readiness(checks: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
    """Run every check with a timeout; a check that raises or hangs counts as not ready."""

    async def run(check: ReadinessCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except Exception:  # a failing dependency is an answer, not an error
            return False

    results = await asyncio.gather(*(run(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def dependency_checks(pool: asyncpg.Pool, broker: KafkaBroker) -> dict[str, ReadinessCheck]:
    """The readiness of every lapor-hub service: its database and its Kafka broker answer."""

    async def database_answers() -> bool:
        return await pool.fetchval("SELECT true") is True

    async def broker_answers() -> bool:
        return await broker.ping(timeout=1.0)

    return {"postgres": database_answers, "kafka": broker_answers}


def dead_letter_routes(
    listed: Callable[[], Awaitable[list[DeadLetter]]], retry: Retry, token: str
) -> list[web.RouteDef]:
    """`GET /v1/dead-letters` and `POST /v1/dead-letters/{id}/retry`, for a bearer of `token`
    (a letter's reason may quote the complaint, so even the list is not public)."""

    def authorised(request: web.Request) -> None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # An empty token authorises nobody (it once matched an empty header: everyone).
        if not token or not same_secret(given, token):
            raise web.HTTPUnauthorized(
                text='{"detail": "operations token required"}', content_type="application/json"
            )

    async def list_letters(request: web.Request) -> web.Response:
        authorised(request)
        letters = [
            {
                "id": letter.id,
                "complaint_id": letter.complaint_id,
                "error": letter.error,
                "created_at": letter.created_at.isoformat(),
            }
            for letter in await listed()
        ]
        return web.json_response({"dead_letters": letters})

    async def retry_letter(request: web.Request) -> web.Response:
        authorised(request)
        try:
            dead_id = int(request.match_info["dead_id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        outcome, reason = await retry(dead_id)
        status = {RetryOutcome.REPLAYED: 202, RetryOutcome.NOT_FOUND: 404}.get(outcome, 409)
        return web.json_response(
            {"id": dead_id, "state": outcome.value, "error": reason}, status=status
        )

    return [
        web.get("/v1/dead-letters", list_letters),
        web.post("/v1/dead-letters/{dead_id}/retry", retry_letter),
    ]


def health(stopped: Sequence[str]) -> tuple[dict[str, object], int]:
    """/healthz's answer: the process is alive only while all its background work runs."""
    if stopped:
        return {"status": "failing", "stopped": list(stopped)}, 503
    return {"status": "ok"}, 200


def ops_application(
    checks: Mapping[str, ReadinessCheck],
    background: BackgroundTasks,
    registry: CollectorRegistry = REGISTRY,
    routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    async def healthz(_: web.Request) -> web.Response:
        body, status = health(background.stopped())
        return web.json_response(body, status=status)

    async def readyz(_: web.Request) -> web.Response:
        results = await readiness(checks)
        ready = all(results.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": results},
            status=200 if ready else 503,
        )

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.add_routes(routes)
    return application


async def serve_ops(
    settings: Settings,
    port: int,
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    background: BackgroundTasks,
    *,
    schema: str,
    retry: Retry,
) -> web.AppRunner:
    """Start serving a service's ops endpoints on `port` (`bind_host`), with its dead letters
    (those in `schema`, sent again by `retry`) for the operations token; the caller keeps the
    runner and calls `cleanup()` on shutdown."""
    routes = dead_letter_routes(
        partial(pending, pool, schema), retry, settings.ops_token.get_secret_value()
    )
    application = ops_application(dependency_checks(pool, broker), background, routes=routes)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.bind_host, port).start()
    return runner
