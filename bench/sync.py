"""Sync benchmark: the drain rate after an outage as a fraction of national's rate limit, and
the sync service's memory during the outage (`python -m bench.sync`).

Complaints (each with two follow-ups) arrive while the simulated national service is down; the
sync service (a process, on a database of its own) must hold still with flat memory, then drain
everything at the configured rate, ramping up, once national is back behind its rate limit.

With `--steady-rate R` instead: national healthy, complaints offered at R a second (each
received, then routed 50 ms later, half of them to a kab/kota: a forward), and what each costs
the machine: PostgreSQL statements (transactions committed in sync's database, which only sync
uses) and the sync process's CPU time.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import typer

from bench.measure import scratch_database
from shared.events import Event, encode_event, event_headers
from shared.kafka import idempotent_producer, publish, scratch_topic
from shared.settings import Settings
from shared.topics import TopicSpec
from testkit.factories import complaint_received, followup, routed
from testkit.processes import ServiceProcess, free_port


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


@dataclass(frozen=True)
class SteadyFigures:
    rate_per_s: float
    complaints: int
    span_s: float  # from the first complaint offered to the last event mirrored
    statements_per_complaint: float
    cpu_ms_per_complaint: float
    idle_statements_per_s: float
    idle_cpu_percent: float
    queue_p50_ms: float  # queued -> recorded done
    queue_p99_ms: float


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
    database_url: str, topic: TopicSpec, rate_limit: float, down: bool = True
) -> tuple[ServiceProcess, ServiceProcess, int]:
    """The simulator (down from the start, unless not `down`) and the sync service, not yet
    started."""
    api, control_port, metrics = free_port(), free_port(), free_port()
    simulator = ServiceProcess(
        name="bench-simulator",
        module="services.sync.simulator",
        ready_url=f"http://127.0.0.1:{control_port}/_sim/health",
        env={
            "LAPOR_HUB_SIMULATOR_PORT": str(api),
            "LAPOR_HUB_SIMULATOR_CONTROL_PORT": str(control_port),
            "LAPOR_HUB_SIMULATOR_LOG_LEVEL": "WARNING",
            "LAPOR_HUB_SIMULATOR_FAULTS": '{"outage": {"mode": "unavailable"}}' if down else "{}",
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
    async with (
        scratch_database(settings.database_url, "bench_sync", ("sync",)) as database_url,
        scratch_topic(settings.kafka_bootstrap_servers, "bench.sync") as topic,
    ):
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


async def _offer(bootstrap_servers: str, topic: TopicSpec, rate: float, seconds: float) -> int:
    """Complaints at `rate` a second: each received, then routed 50 ms later (every other one
    to a kab/kota, so forwarded nationally); returns how many."""
    producer = idempotent_producer(bootstrap_servers, "bench-sync-steady")
    await producer.start()
    began = time.perf_counter()

    async def send(event: Event, due: float) -> None:
        if (pause := due - time.perf_counter()) > 0:
            await asyncio.sleep(pause)
        await producer.send(
            topic.name, encode_event(event), key=event.key, headers=event_headers(event)
        )

    try:
        count = int(rate * seconds)
        sends = []
        for n in range(count):
            received, due = complaint_received(), began + n / rate
            sends += [
                send(received, due),
                send(routed(received, "63.pupr" if n % 2 else "6371"), due + 0.05),
            ]
        await asyncio.gather(*sends)
        await producer.flush()
        return count
    finally:
        await producer.stop()


async def _committed(admin: asyncpg.Connection, database: str) -> int:
    """Transactions committed in the database (each autocommit statement is one); after the
    statistics' flush (at most a second behind)."""
    await asyncio.sleep(1.2)
    committed: int = await admin.fetchval(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database
    )
    return committed


async def sync_steady(settings: Settings, rate: float = 100, seconds: float = 20) -> SteadyFigures:
    async with (
        scratch_database(settings.database_url, "bench_sync", ("sync",)) as database_url,
        scratch_topic(settings.kafka_bootstrap_servers, "bench.sync") as topic,
    ):
        name = urlsplit(database_url).path.lstrip("/")
        simulator, sync, _ = _processes(database_url, topic, 5000, down=False)
        # Statistics read from the server's database: reading them in this one would count.
        admin = await asyncpg.connect(settings.database_url)
        database = await asyncpg.connect(database_url)
        try:
            await asyncio.to_thread(simulator.start)
            await asyncio.to_thread(sync.start)
            assert sync.process is not None
            pid = sync.process.pid
            await asyncio.sleep(4)  # joined its group, first batches fetched
            idle_from = (await _committed(admin, name), _cpu_s(pid), time.monotonic())
            await asyncio.sleep(5)
            load_from = (await _committed(admin, name), _cpu_s(pid), time.monotonic())
            idle_s = load_from[2] - idle_from[2]
            began = time.monotonic()
            count = await _offer(settings.kafka_bootstrap_servers, topic, rate, seconds)
            while time.monotonic() - began < seconds + 60:
                if (
                    await database.fetchval(
                        "SELECT count(*) FROM sync.mirror_queue WHERE state = 'done'"
                    )
                    >= 2 * count
                ):
                    break
                await asyncio.sleep(0.2)
            span_s = time.monotonic() - began
            statements, cpu_s = await _committed(admin, name), _cpu_s(pid)
            p50, p99 = await database.fetchval(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM done_at - created_at)) FROM sync.mirror_queue"
            )
            return SteadyFigures(
                rate_per_s=rate,
                complaints=count,
                span_s=round(span_s, 1),
                statements_per_complaint=round((statements - load_from[0]) / count, 2),
                cpu_ms_per_complaint=round((cpu_s - load_from[1]) / count * 1000, 2),
                idle_statements_per_s=round((load_from[0] - idle_from[0]) / idle_s, 1),
                idle_cpu_percent=round((load_from[1] - idle_from[1]) / idle_s * 100, 1),
                queue_p50_ms=round(p50 * 1000, 1),
                queue_p99_ms=round(p99 * 1000, 1),
            )
        finally:
            await database.close()
            await admin.close()
            sync.stop()
            simulator.stop()


def main(
    complaints: int = typer.Option(500, help="Complaints, each with two follow-ups"),
    outage: float = typer.Option(30, help="Seconds national stays down"),
    rate_limit: float = typer.Option(50, help="National's rate limit, calls a second"),
    steady_rate: float = typer.Option(
        0, help="Instead: complaints a second with national healthy; statements and CPU each"
    ),
    seconds: float = typer.Option(20, help="With --steady-rate: seconds of load"),
) -> None:
    figures: SyncFigures | SteadyFigures
    if steady_rate:
        figures = asyncio.run(sync_steady(Settings(), steady_rate, seconds))
    else:
        figures = asyncio.run(sync_outage(Settings(), complaints, outage, rate_limit))
    for field, value in vars(figures).items():
        typer.echo(f"{field:>26}: {value}")


if __name__ == "__main__":
    typer.run(main)
