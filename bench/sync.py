"""Sync benchmark: the drain rate after an outage as a fraction of national's rate limit, and
the sync service's memory during the outage (`python -m bench.sync`).

Complaints (each with two follow-ups) arrive while the simulated national service is down; the
sync service (a process, on a database of its own) must hold still with flat memory, then drain
everything at the configured rate, ramping up, once national is back behind its rate limit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import typer

from shared.events import (
    Event,
)
from shared.kafka import idempotent_producer, publish, scratch_topic
from shared.migrations import apply_migrations
from shared.settings import Settings
from shared.topics import TopicSpec
from tests.factories import complaint_received, followup
from tests.processes import ServiceProcess, free_port


@dataclass(frozen=True)
class SyncFigures:
    complaints: int
    writes: int
    rate_limit_per_s: float
    outage_s: float
    noticed_s: float  # from national's return to the first write (the probe schedule)
    drain_s: float  # from the first write to the last
    drain_fraction: float  # writes a second while draining / national's rate limit
    rss_mb_start: float
    rss_mb_max: float
    rss_mb_end: float
    probes: int
    other_calls_during_outage: int


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _publish_flows(bootstrap_servers: str, topic: TopicSpec, complaints: int) -> None:
    events: list[Event] = []
    for _ in range(complaints):
        received = complaint_received()
        events += [received, followup(received, 1), followup(received, 2)]
    producer = idempotent_producer(bootstrap_servers, "bench-sync")
    await producer.start()
    try:
        await asyncio.gather(*(publish(producer, e, topic) for e in events))
    finally:
        await producer.stop()


def _processes(
    database_url: str, topic: TopicSpec, rate_limit: float
) -> tuple[ServiceProcess, ServiceProcess, int]:
    """The simulator (down from the start) and the sync service, not yet started."""
    api, control_port, metrics = free_port(), free_port(), free_port()
    simulator = ServiceProcess(
        name="bench-simulator",
        module="services.sync.simulator",
        ready_url=f"http://127.0.0.1:{control_port}/_sim/health",
        env={
            "LAPOR_HUB_SIMULATOR_PORT": str(api),
            "LAPOR_HUB_SIMULATOR_CONTROL_PORT": str(control_port),
            "LAPOR_HUB_SIMULATOR_LOG_LEVEL": "WARNING",
            "LAPOR_HUB_SIMULATOR_FAULTS": '{"outage": {"mode": "unavailable"}}',
        },
    )
    sync = ServiceProcess(
        name="bench-sync",
        module="services.sync",
        ready_url=f"http://127.0.0.1:{metrics}/readyz",
        env={
            "LAPOR_HUB_DATABASE_URL": database_url,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
            "LAPOR_HUB_SYNC_METRICS_PORT": str(metrics),
            "LAPOR_HUB_SYNC_CONSUMER_GROUP": f"bench-sync-{uuid.uuid4().hex[:8]}",
            "LAPOR_HUB_NATIONAL_BASE_URL": f"http://127.0.0.1:{api}",
            "LAPOR_HUB_SYNC_RATE_PER_S": str(rate_limit),
            "LAPOR_HUB_SYNC_PROBE_INTERVAL_S": "1",
            "LAPOR_HUB_SYNC_MAX_PROBE_INTERVAL_S": "5",
            "LAPOR_HUB_SYNC_MAX_BACKLOG": "400",
            "LAPOR_HUB_SYNC_POLL_INTERVAL_S": "30",
            "LAPOR_HUB_LOG_LEVEL": "WARNING",
        },
    )
    return simulator, sync, control_port


async def sync_outage(
    settings: Settings, complaints: int = 500, outage_s: float = 30, rate_limit: float = 50
) -> SyncFigures:
    name = f"bench_sync_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(settings.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = _database(settings.database_url, name)
    await asyncio.to_thread(apply_migrations, database_url, ("sync",))
    async with scratch_topic(settings.kafka_bootstrap_servers, "bench.sync") as topic:
        simulator, sync, control_port = _processes(database_url, topic, rate_limit)
        await asyncio.to_thread(simulator.start)
        control = httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=10)
        try:
            await control.post("/_sim/faults", json={"outage": {"mode": "unavailable"}})
            await asyncio.to_thread(sync.start)
            assert sync.process is not None
            pid = sync.process.pid
            await _publish_flows(settings.kafka_bootstrap_servers, topic, complaints)
            await asyncio.sleep(3)  # the breaker has opened, the first batches are queued
            rss = [_rss_mb(pid)]
            start_seq = (await control.get("/_sim/audit")).json()["last_seq"]
            deadline = time.monotonic() + outage_s
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                rss.append(_rss_mb(pid))
            during = (await control.get("/_sim/audit", params={"since_seq": start_seq})).json()
            probes = sum(during["by_operation"].get("institutions", {}).values())
            await control.post(
                "/_sim/faults", json={"rate_limit": {"rate_per_second": rate_limit, "burst": 5}}
            )
            recovered = time.monotonic()
            writes = 3 * complaints
            first_write: float | None = None
            while True:
                audit = (await control.get("/_sim/audit")).json()
                done = sum(sum(counts.values()) for counts in audit["applied"].values())
                if done and first_write is None:
                    first_write = time.monotonic()
                if done >= writes or time.monotonic() - recovered > writes / rate_limit * 3 + 60:
                    break
                await asyncio.sleep(0.2)
            first_write = first_write or recovered
            drain_s = time.monotonic() - first_write
            return SyncFigures(
                complaints=complaints,
                writes=done,
                rate_limit_per_s=rate_limit,
                outage_s=outage_s,
                noticed_s=round(first_write - recovered, 1),
                drain_s=round(drain_s, 1),
                drain_fraction=round(done / drain_s / rate_limit, 3),
                rss_mb_start=round(rss[0], 1),
                rss_mb_max=round(max(rss), 1),
                rss_mb_end=round(rss[-1], 1),
                probes=probes,
                other_calls_during_outage=during["total"] - probes,
            )
        finally:
            await control.aclose()
            sync.stop()
            simulator.stop()
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()


def main(
    complaints: int = typer.Option(500, help="Complaints, each with two follow-ups"),
    outage: float = typer.Option(30, help="Seconds national stays down"),
    rate_limit: float = typer.Option(50, help="National's rate limit, calls a second"),
) -> None:
    figures = asyncio.run(sync_outage(Settings(), complaints, outage, rate_limit))
    for field, value in vars(figures).items():
        typer.echo(f"{field:>26}: {value}")


if __name__ == "__main__":
    typer.run(main)
