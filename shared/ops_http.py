"""Operations endpoints of a service without an HTTP API of its own (router, sync).

`/metrics` (Prometheus text), `/healthz` (the process answers: liveness) and `/readyz` (the
broker and the database answer: readiness), served by aiohttp inside the service's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aiohttp import web
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

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


def ops_application(
    checks: Mapping[str, ReadinessCheck], registry: CollectorRegistry = REGISTRY
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

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
    return application


async def serve_ops(host: str, port: int, checks: Mapping[str, ReadinessCheck]) -> web.AppRunner:
    """Start serving; the caller keeps the runner and calls `cleanup()` on shutdown."""
    runner = web.AppRunner(ops_application(checks), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
