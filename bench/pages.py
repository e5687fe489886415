"""Weight and time to first byte of the citizen pages: `python -m bench.pages URL [TRACKING]`.

Weight: the HTML of /lapor and /lacak/{nomor} plus what they load (one stylesheet; /lapor's
answer page one small script), in KB as sent (no compression). Time to first byte: GETs at a
steady 100 per second for 10 s, each timed from sending to the response's headers."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx

RATE_PER_S = 100
SECONDS = 10


async def _weight(client: httpx.AsyncClient, path: str) -> float:
    page = await client.get(path)
    page.raise_for_status()
    css = await client.get("/warga/static/citizen.css")
    return (len(page.content) + len(css.content)) / 1024


async def _ttfb(client: httpx.AsyncClient, path: str) -> list[float]:
    timings: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        async with client.stream("GET", path) as response:
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            await response.aread()

    tasks = []
    start = time.perf_counter()
    for n in range(RATE_PER_S * SECONDS):
        await asyncio.sleep(max(0.0, start + n / RATE_PER_S - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return timings


async def main(base: str, tracking: str) -> None:
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        for path in ("/lapor", f"/lacak/{tracking}"):
            kb = await _weight(client, path)
            timings = sorted(await _ttfb(client, path))
            p50 = statistics.median(timings)
            p95, p99 = (timings[int(len(timings) * q) - 1] for q in (0.95, 0.99))
            print(
                f"{path.split('/')[1]:6} weight {kb:5.1f} KB (HTML + CSS)  "
                f"TTFB at {RATE_PER_S}/s for {SECONDS}s: p50 {p50:.1f} ms, "
                f"p95 {p95:.1f} ms, p99 {p99:.1f} ms ({len(timings)} requests)"
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
