"""Helpers shared by the benchmarks: latency samples, percentiles, bounded concurrency, and a
database of their own."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.migrations import SERVICE_SCHEMAS, apply_migrations


@dataclass(frozen=True)
class Figures:
    """One measured stage: what the benchmark prints and writes to bench-results.json."""

    stage: str
    operations: int
    seconds: float
    p50_ms: float
    p99_ms: float
    offered_per_s: float | None = None

    @property
    def throughput_per_s(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_per_s": round(self.throughput_per_s, 1)}


def figures(stage: str, latencies_s: Sequence[float], seconds: float, **extra: Any) -> Figures:
    cuts = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return Figures(
        stage=stage,
        operations=len(latencies_s),
        seconds=seconds,
        p50_ms=round(cuts[49] * 1000, 2),
        p99_ms=round(cuts[98] * 1000, 2),
        **extra,
    )


async def timed_concurrently(
    stage: str, operations: Sequence[Callable[[], Awaitable[object]]], concurrency: int
) -> Figures:
    """Run every operation, at most `concurrency` at once, timing each and the whole."""
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(operation: Callable[[], Awaitable[object]]) -> None:
        async with limit:
            began = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one(op) for op in operations))
    return figures(stage, latencies, time.perf_counter() - began)


@contextlib.asynccontextmanager
async def scratch_database(
    server_url: str, prefix: str, schemas: tuple[str, ...] = SERVICE_SCHEMAS
) -> AsyncIterator[str]:
    """A database of its own for one benchmark, migrated, dropped afterwards: a development
    database that keeps every run's rows grows past PostgreSQL's cache, and each run measures
    the history of those before it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await asyncio.to_thread(apply_migrations, url, schemas)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
