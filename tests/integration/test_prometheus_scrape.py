"""Prometheus (Debian's `prometheus` binary) scraping intake, router, notifier and sync as real
processes on real Kafka and PostgreSQL, with the project's own scrape jobs and alert rules (only
their `for:` durations shortened, and every second for scrapes and evaluations): the targets are
up, the series the dashboard and the alerts read exist, every dashboard query evaluates, and two
alerts fire when their condition is forced (a poison event, a killed service)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from lapor_hub.demo_complaints import sample_complaint_fields
from shared.events import Channel
from shared.topics import TopicSpec
from testkit.processes import ROOT, ServiceProcess, free_port, running
from tests.unit.test_grafana_dashboard import dashboard_queries, metric_names

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
SERVICES = ("intake", "router", "notifier", "sync")
SHORT_FOR = "1s"


def _test_configuration(system: Mapping[str, ServiceProcess], directory: Path) -> Path:
    """deploy/prometheus's jobs and rules, pointed at the test's ports, everything every second."""
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = SHORT_FOR
    (directory / "alerts.yml").write_text(yaml.safe_dump(rules))

    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            service = system[static["labels"]["service"]]
            static["targets"] = [service.origin.removeprefix("http://")]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def prometheus(system: Mapping[str, ServiceProcess], tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus (.ci/run does)")
    port = free_port()
    process = ServiceProcess(
        "prometheus",
        "",
        f"http://127.0.0.1:{port}/-/ready",
        command=[
            binary,
            f"--config.file={_test_configuration(system, tmp_path)}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    with running({"prometheus": process}, timeout_s=20):
        yield process.origin


class PrometheusApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, **params: str) -> Any:
        response = await self.client.get(path, params=params)
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expression: str) -> list[dict[str, Any]]:
        data = await self.get("/query", query=expression)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def labels_of(self, expression: str, label: str = "service") -> set[str]:
        return {series["metric"].get(label, "") for series in await self.query(expression)}

    async def firing(self, alert: str) -> set[str]:
        """The services for which `alert` fires."""
        alerts = (await self.get("/alerts"))["alerts"]
        return {
            a["labels"].get("service", "")
            for a in alerts
            if a["labels"]["alertname"] == alert and a["state"] == "firing"
        }


async def _until_covers(
    what: str, found: Callable[[], Awaitable[set[str]]], wanted: set[str], timeout_s: float = 20
) -> set[str]:
    """Poll `found()` until it includes `wanted`; fail naming `what` and the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        have = await found()
        if wanted <= have:
            return have
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout_s:.0f} s, {what}: wanted {sorted(wanted)}, {sorted(have)}")
        await asyncio.sleep(0.5)


def _promtool_check_metrics(exposition: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (.ci/run does)")
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        check=False,
    )


def _declared_metrics(exposition: str) -> set[str]:
    """Every series name a /metrics text declares, samples or not (a labelled metric has no
    sample until its first use, but its TYPE line is there)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
            names.update(name + suffix for suffix in suffixes)
    return names


@pytest.fixture
async def api(prometheus: str) -> AsyncIterator[PrometheusApi]:
    async with httpx.AsyncClient(base_url=f"{prometheus}/api/v1", timeout=5) as client:
        yield PrometheusApi(client)


async def test_prometheus_scrapes_every_service_and_the_alerts_fire(
    system: Mapping[str, ServiceProcess],
    api: PrometheusApi,
    web_key: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:

    async def up_targets() -> set[str]:
        targets = (await api.get("/targets"))["activeTargets"]
        return {t["labels"]["service"] for t in targets if t["health"] == "up"}

    await _until_covers("targets up", up_targets, set(SERVICES))
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            alive = await client.get(f"{system[service].origin}/healthz")
            ready = await client.get(f"{system[service].origin}/readyz")
            assert alive.status_code == 200, (service, alive.text)
            assert ready.status_code == 200, (service, ready.text)
            assert ready.json()["checks"] == {"postgres": True, "kafka": True}, service

    # One complaint through every stage.
    fields = sample_complaint_fields(1, Channel.WEB)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{system['intake'].origin}/v1/complaints",
            headers={"X-API-Key": web_key},
            json={
                name: fields[name]
                for name in ("title", "body", "location", "reporter", "anonymous", "confidential")
            },
        )
    assert response.status_code == 202, response.text

    stages = {
        "lapor_hub_intake_complaints_accepted_total": {"intake"},
        "lapor_hub_router_assignments_total": {"router"},
        'lapor_hub_notifier_deliveries_total{outcome="delivered"}': {"notifier"},
        "lapor_hub_sync_mirrored_total": {"sync"},
        "lapor_hub_sync_circuit_state": {"sync"},
        "lapor_hub_outbox_pending_events": set(SERVICES),
        "lapor_hub_consumer_lag_events": set(SERVICES),
        "lapor_hub_faststream_received_messages_total": set(SERVICES),
    }
    for series, services in stages.items():
        await _until_covers(series, partial(api.labels_of, series), services)

    # A poison event: every service sets it aside, and the dead-letters alert fires for each.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(fresh_topic.name, b"not an event", key=b"poison")
    finally:
        await producer.stop()

    await _until_covers(
        "LaporHubDeadLetters firing", lambda: api.firing("LaporHubDeadLetters"), set(SERVICES)
    )

    # Every /metrics, now with traffic and a dead letter counted, follows Prometheus's conventions;
    # the dashboard and the alerts read no series that no service declares, and each dashboard
    # query evaluates.
    async with httpx.AsyncClient(timeout=10) as client:
        expositions = {s: (await client.get(f"{system[s].origin}/metrics")).text for s in SERVICES}
    for service, exposition in expositions.items():
        lint = await asyncio.to_thread(_promtool_check_metrics, exposition)
        assert lint.returncode == 0 and not lint.stdout.strip(), (service, lint.stdout, lint.stderr)
    declared = set[str]().union(*map(_declared_metrics, expositions.values()))
    alerts = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    queries = [*dashboard_queries(), *(rule["expr"] for group in alerts for rule in group["rules"])]
    used = set[str]().union(*map(metric_names, queries))
    assert used - {"up"} <= declared, sorted(used - {"up"} - declared)
    for query in dashboard_queries():
        await api.query(query)

    # A killed service: LaporHubServiceDown fires for it, and only for it.
    system["router"].kill()
    down = await _until_covers(
        "LaporHubServiceDown firing", lambda: api.firing("LaporHubServiceDown"), {"router"}
    )
    assert down == {"router"}
