"""The sync service as a real process, through Kafka, against the simulator as a real process:
complaints and follow-ups flow while national goes down and comes back rate-limited; during the
outage only probes reach national and consumption pauses; afterwards each complaint and each
follow-up exists nationally once, in order; a kill -9 midway loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.events import (
    ComplaintReceived,
    Event,
)
from shared.migrations import apply_migrations
from shared.topics import TopicSpec
from testkit.factories import complaint_received, followup, publish_all
from testkit.processes import ServiceProcess, free_port

RATE_LIMIT = 200  # national's, a second; the service is configured to it
COMPLAINTS = 2000  # each with two follow-ups: 6,000 national writes


@pytest.fixture
def simulator() -> Iterator[ServiceProcess]:
    port, control = free_port(), free_port()
    process = ServiceProcess(
        name="sync-simulator",
        module="services.sync.simulator",
        ready_url=f"http://127.0.0.1:{control}/_sim/health",
        env={
            "LAPOR_HUB_SIMULATOR_PORT": str(port),
            "LAPOR_HUB_SIMULATOR_CONTROL_PORT": str(control),
            "LAPOR_HUB_SIMULATOR_LOG_LEVEL": "WARNING",
        },
    )
    process.start()
    yield process
    process.stop()


def _port(process: ServiceProcess, name: str) -> str:
    return process.env[name]


@pytest.fixture
def sync_process(
    empty_database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    unique_group: str,
    simulator: ServiceProcess,
) -> Iterator[ServiceProcess]:
    apply_migrations(empty_database_url, ("sync",))
    port = free_port()
    process = ServiceProcess(
        name="sync",
        module="services.sync",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        env={
            "LAPOR_HUB_DATABASE_URL": empty_database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": fresh_topic.name,
            "LAPOR_HUB_SYNC_METRICS_PORT": str(port),
            "LAPOR_HUB_SYNC_CONSUMER_GROUP": unique_group,
            "LAPOR_HUB_NATIONAL_BASE_URL": (
                f"http://127.0.0.1:{_port(simulator, 'LAPOR_HUB_SIMULATOR_PORT')}"
            ),
            "LAPOR_HUB_NATIONAL_TIMEOUT": "1.0",
            "LAPOR_HUB_NATIONAL_CONNECT_TIMEOUT": "1.0",
            "LAPOR_HUB_SYNC_RATE_PER_S": str(RATE_LIMIT),
            "LAPOR_HUB_SYNC_RAMP_S": "2",
            "LAPOR_HUB_SYNC_FAILURE_THRESHOLD": "3",
            "LAPOR_HUB_SYNC_PROBE_INTERVAL_S": "0.5",
            "LAPOR_HUB_SYNC_MAX_PROBE_INTERVAL_S": "1",
            "LAPOR_HUB_SYNC_RETRY_INITIAL_S": "0.2",
            "LAPOR_HUB_SYNC_RETRY_MAX_S": "1",
            "LAPOR_HUB_SYNC_LEASE_S": "3",
            "LAPOR_HUB_SYNC_POLL_INTERVAL_S": "2",
            "LAPOR_HUB_SYNC_MAX_BACKLOG": "400",
        },
    )
    yield process
    process.stop()


def _control_url(simulator: ServiceProcess) -> str:
    return f"http://127.0.0.1:{_port(simulator, 'LAPOR_HUB_SIMULATOR_CONTROL_PORT')}"


def _flows(count: int) -> list[tuple[ComplaintReceived, list[Event]]]:
    flows = []
    for _ in range(count):
        received = complaint_received()
        flows.append((received, [received, followup(received, 1), followup(received, 2)]))
    return flows


async def _audit(control: httpx.AsyncClient, since_seq: int = 0) -> dict[str, Any]:
    response = await control.get("/_sim/audit", params={"since_seq": since_seq})
    response.raise_for_status()
    audit: dict[str, Any] = response.json()
    return audit


async def _all_mirrored(
    control: httpx.AsyncClient, flows: list[tuple[ComplaintReceived, list[Event]]], timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    expected = {received.complaint.tracking_number for received, _ in flows}
    while time.monotonic() < deadline:
        audit = await _audit(control)
        applied = audit["applied"]
        if all(applied.get(t, {}).get("followup", 0) >= 2 for t in expected):
            await asyncio.sleep(2)  # a duplicate would show up now
            return await _audit(control)
        await asyncio.sleep(0.5)
    done = sum(1 for t in expected if audit["applied"].get(t, {}).get("followup", 0) >= 2)
    raise AssertionError(f"only {done} of {len(expected)} complaints fully mirrored")


async def _exactly_once_in_order(
    control: httpx.AsyncClient,
    flows: list[tuple[ComplaintReceived, list[Event]]],
    audit: dict[str, Any],
) -> None:
    for received, _ in flows:
        tracking = received.complaint.tracking_number
        assert audit["applied"][tracking] == {"create": 1, "followup": 2}, tracking
    for received, _ in flows[:: max(1, len(flows) // 40)]:  # the order, on a sample
        tracking = received.complaint.tracking_number
        detail = (await control.get(f"/_sim/audit/{tracking}")).json()
        (contents,) = detail["followups"].values()
        assert contents == [
            f"tindak lanjut 1 untuk {tracking}",
            f"tindak lanjut 2 untuk {tracking}",
        ]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}")


async def test_through_an_outage_and_a_rate_limited_recovery_everything_arrives_once_in_order(
    sync_process: ServiceProcess,
    simulator: ServiceProcess,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    flows = _flows(COMPLAINTS)
    first, rest = flows[:100], flows[100:]
    async with httpx.AsyncClient(base_url=_control_url(simulator), timeout=5) as control:
        await control.post(
            "/_sim/faults", json={"rate_limit": {"rate_per_second": RATE_LIMIT, "burst": 5}}
        )
        await asyncio.to_thread(sync_process.start)
        await publish_all(
            bootstrap_servers, fresh_topic.name, [e for _, events in first for e in events]
        )
        await asyncio.sleep(2)

        await control.post("/_sim/faults", json={"outage": {"mode": "unavailable", "status": 503}})
        await publish_all(
            bootstrap_servers, fresh_topic.name, [e for _, events in rest for e in events]
        )
        await asyncio.sleep(3)  # the circuit opens on the first failures
        outage_start = (await _audit(control))["last_seq"]
        metrics = (await control.get(sync_process.ready_url.replace("/readyz", "/metrics"))).text
        assert _metric(metrics, "lapor_hub_sync_circuit_state") == 2
        assert _metric(metrics, "lapor_hub_sync_consumption_paused") == 1
        await asyncio.sleep(5)
        during = await _audit(control, outage_start)
        assert set(during["by_operation"]) <= {"institutions"}, during["by_operation"]
        assert 2 <= during["total"] <= 12  # a probe every 0.5-1 s, nothing else

        await control.post(
            "/_sim/faults", json={"rate_limit": {"rate_per_second": RATE_LIMIT, "burst": 5}}
        )
        audit = await _all_mirrored(control, flows, timeout_s=180)
        await _exactly_once_in_order(control, flows, audit)


async def test_a_killed_sync_service_resumes_without_loss_or_duplicates(
    sync_process: ServiceProcess,
    simulator: ServiceProcess,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    flows = _flows(150)
    async with httpx.AsyncClient(base_url=_control_url(simulator), timeout=5) as control:
        # Slow answers, so the kill lands with writes in flight.
        await control.post(
            "/_sim/faults", json={"latency": {"min_seconds": 0.05, "max_seconds": 0.2}}
        )
        await asyncio.to_thread(sync_process.start)
        await publish_all(
            bootstrap_servers, fresh_topic.name, [e for _, events in flows for e in events]
        )
        await asyncio.sleep(3)
        sync_process.kill()
        before = (await _audit(control))["applied"]
        assert 0 < len(before) < len(flows), "the kill should land midway"
        await asyncio.to_thread(sync_process.start)
        audit = await _all_mirrored(control, flows, timeout_s=180)
        await _exactly_once_in_order(control, flows, audit)
