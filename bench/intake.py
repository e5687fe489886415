"""`POST /v1/complaints` through the real intake server: accepted per second and latency."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import aiohttp

from bench.measure import Figures, figures, timed_concurrently
from services.intake.service import IntakeService
from shared.db import create_pool
from shared.demo_complaints import sample_complaint_fields
from shared.events import Channel
from shared.kafka import scratch_topic
from shared.settings import Settings
from tests.processes import ServiceProcess, free_port

SUBMITTED_FIELDS = ("title", "body", "location", "reporter", "anonymous", "confidential")


def _form(index: int) -> dict[str, object]:
    fields = sample_complaint_fields(index, Channel.WEB)
    return {
        **{k: v for k, v in fields.items() if k in SUBMITTED_FIELDS},
        "location": {
            "text": fields["location"]["text"],
            "region_code": fields["location"]["region_code"],
        },
    }


async def _post(client: aiohttp.ClientSession, index: int) -> None:
    async with client.post("/v1/complaints", json=_form(index)) as response:
        response.raise_for_status()
        await response.read()


async def _at_rate(client: aiohttp.ClientSession, count: int, rate: float) -> Figures:
    latencies: list[float] = []

    async def one(index: int) -> None:
        began = time.perf_counter()
        await _post(client, index)
        latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    tasks = []
    for index in range(count):
        if (pause := began + index / rate - time.perf_counter()) > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    return figures(
        f"intake: POST /v1/complaints @ {rate:.0f}/s",
        latencies,
        time.perf_counter() - began,
        offered_per_s=rate,
    )


async def intake_http(settings: Settings, count: int, rate: float = 200.0) -> list[Figures]:
    async with scratch_topic(settings.kafka_bootstrap_servers, "bench.intake") as topic:
        pool = await create_pool(settings.database_url)
        try:
            key = await IntakeService(pool).create_key("channel", "web")
        finally:
            await pool.close()
        port = free_port()
        process = ServiceProcess(
            name="bench-intake",
            module="services.intake",
            ready_url=f"http://127.0.0.1:{port}/readyz",
            env={
                "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
                "LAPOR_HUB_INTAKE_HTTP_PORT": str(port),
                "LAPOR_HUB_INTAKE_RATE_LIMIT": "100000/second",
                "LAPOR_HUB_LOG_LEVEL": "WARNING",
            },
        )
        process.start()
        try:
            # aiohttp: a client light enough not to be what is measured (httpx was, at ~150/s).
            async with aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}",
                headers={"X-API-Key": key},
                connector=aiohttp.TCPConnector(limit=32),
            ) as client:
                # Not measured: a service that has just started still imports lazily, joins its
                # consumer group and starts its relay's producer (one 100-250 ms stall in its first
                # seconds); a running one has done all that.
                await _at_rate(client, int(rate * 3), rate)
                steady = await _at_rate(client, min(count, int(rate * 10)), rate)
                flat_out = await timed_concurrently(
                    "intake: POST /v1/complaints, flat out (32 clients)",
                    [partial(_post, client, i) for i in range(count)],
                    32,
                )
            return [steady, flat_out]
        finally:
            process.stop()
