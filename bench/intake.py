"""`POST /v1/complaints` through the real intake server: accepted per second and latency."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import aiohttp
import asyncpg

from bench.measure import Figures, figures, scratch_database, timed_concurrently
from lapor_hub.demo_complaints import sample_complaint_fields
from services.intake.service import IntakeService
from shared.db import create_pool
from shared.events import Channel
from shared.kafka import scratch_topic
from shared.settings import Settings
from testkit.processes import ServiceProcess, free_port

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


# wrk's request() hands out the forms in turn: every complaint differs, as in real traffic.
_WRK_SCRIPT = """
local forms = {%s}
local n = 0
request = function()
  n = n %% #forms + 1
  return wrk.format("POST", nil, nil, forms[n])
end
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _wrk_ms(output: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {percentile}th percentile in wrk's output:\n{output}")
    return round(float(found.group(1)) * _WRK_UNITS[found.group(2)], 2)


async def _flat_out_with_wrk(wrk: str, url: str, key: str, seconds: int) -> Figures:
    """wrk (C, one thread) loads intake with little CPU of its own, unlike a Python client,
    which on two cores takes a third of what it measures."""
    forms = ", ".join(json.dumps(json.dumps(_form(i))) for i in range(1000))
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(_WRK_SCRIPT % forms)
        command = [wrk, "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", str(script)]
        command += ["-H", "Content-Type: application/json", "-H", f"X-API-Key: {key}", url]
        run = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output = (await run.communicate())[0].decode()
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = re.search(r"(\d+) requests in ([\d.]+)s", output)
    if run.returncode != 0 or refused or requests is None:
        raise RuntimeError(f"wrk failed or was refused:\n{output}")
    return Figures(
        stage="intake: POST /v1/complaints, flat out (wrk, 32 connections)",
        operations=int(requests.group(1)),
        seconds=float(requests.group(2)),
        p50_ms=_wrk_ms(output, "50"),
        p99_ms=_wrk_ms(output, "99"),
    )


async def _outbox_drained(database_url: str, timeout_s: float = 120.0) -> float:
    """Seconds until every accepted complaint's event is on Kafka: accepting is only sustained
    if the relay keeps up (its marks trail by a batch for up to a second)."""
    began = time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        while await connection.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
        ):
            if time.perf_counter() - began > timeout_s:
                raise RuntimeError(f"intake's outbox not drained {timeout_s:.0f} s after the load")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return time.perf_counter() - began


async def intake_http(
    settings: Settings, count: int, rate: float = 200.0, flat_out_s: int = 20
) -> list[Figures]:
    """At a steady rate (aiohttp), then flat out: with wrk when it is installed (`make bench`
    installs it), otherwise `count` requests from aiohttp. With wrk, flat out again with a second
    intake process sharing the port (`LAPOR_HUB_INTAKE_SHARE_PORT`): one process is one core."""
    wrk = shutil.which("wrk")
    async with (
        scratch_topic(settings.kafka_bootstrap_servers, "bench.intake") as topic,
        scratch_database(settings.database_url, "lapor_hub_bench_intake", ("intake",)) as url,
    ):
        pool = await create_pool(url)
        try:
            key = await IntakeService(pool).create_key("channel", "web")
        finally:
            await pool.close()
        port = free_port()
        processes = [
            ServiceProcess(
                name=f"bench-intake-{n}",
                module="services.intake",
                ready_url=f"http://127.0.0.1:{port}/readyz",
                env={
                    "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
                    "LAPOR_HUB_DATABASE_URL": url,
                    "LAPOR_HUB_INTAKE_HTTP_PORT": str(port),
                    "LAPOR_HUB_INTAKE_SHARE_PORT": "true",
                    "LAPOR_HUB_INTAKE_RATE_LIMIT": "100000/second",
                    "LAPOR_HUB_LOG_LEVEL": "WARNING",
                },
            )
            for n in (1, 2)
        ]
        processes[0].start()
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
                if wrk is None:
                    flat_out = await timed_concurrently(
                        "intake: POST /v1/complaints, flat out (aiohttp, 32 clients)",
                        [partial(_post, client, i) for i in range(count)],
                        32,
                    )
                    return [steady, await _drained(flat_out, url)]
            endpoint = f"http://127.0.0.1:{port}/v1/complaints"
            one = await _flat_out_with_wrk(wrk, endpoint, key, flat_out_s)
            results = [steady, await _drained(one, url)]
            # Its readiness URL may be answered by the first: it is serving once the port has two
            # listeners. Then it warms up as the first did.
            processes[1].spawn()
            processes[1].wait_listening(port, 2)
            await _flat_out_with_wrk(wrk, endpoint, key, 3)
            two = await _flat_out_with_wrk(wrk, endpoint, key, flat_out_s)
            stage = two.stage.replace("flat out", "flat out, 2 intake processes on one port")
            return [*results, await _drained(dataclasses.replace(two, stage=stage), url)]
        finally:
            for process in processes:
                process.stop()


async def _drained(flat_out: Figures, database_url: str) -> Figures:
    """The flat-out figures once the outbox has drained, saying how long that took."""
    drained_s = await _outbox_drained(database_url)
    stage = f"{flat_out.stage[:-1]}; outbox drained {drained_s:.1f} s after)"
    return dataclasses.replace(flat_out, stage=stage)
