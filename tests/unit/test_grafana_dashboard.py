"""The Grafana dashboard and its provisioning: valid JSON, PromQL that parses, one data source, and
compose mounts that point at files that exist. (tests/integration/test_prometheus_scrape.py runs
every query against Prometheus scraping the real services.)"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "lapor-hub.json"
# Series names: ours all start with lapor_hub_ (no label does); `up` is Prometheus's own.
METRIC = re.compile(r"\blapor_hub_[a-z0-9_]+\b|\bup(?=\{)")


def dashboard_queries(rate_interval: str = "1m") -> list[str]:
    """Every panel's PromQL, with Grafana's `$__rate_interval` as `rate_interval`."""
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [
        target["expr"].replace("$__rate_interval", rate_interval)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def metric_names(query: str) -> set[str]:
    return set(METRIC.findall(query))


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (source,) = _yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert dashboard["uid"] == "lapor-hub"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for cell in itertools.product(
            range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        ):
            assert cell not in taken, (panel["title"], taken[cell])
            taken[cell] = panel["title"]


def test_the_dashboard_shows_each_stage_backlog_national_status_and_agencies() -> None:
    """Agencies: their SLA, and their reporters' satisfaction (ratings, reopenings)."""
    used = set().union(*map(metric_names, dashboard_queries()))
    assert {
        "lapor_hub_intake_complaints_accepted_total",
        "lapor_hub_router_assignments_total",
        "lapor_hub_notifier_deliveries_total",
        "lapor_hub_sync_mirrored_total",
        "lapor_hub_outbox_pending_events",
        "lapor_hub_outbox_oldest_pending_age_seconds",
        "lapor_hub_consumer_lag_events",
        "lapor_hub_sync_backlog_events",
        "lapor_hub_sync_circuit_state",
        "lapor_hub_sync_current_outage_seconds",
        "lapor_hub_sync_national_request_duration_seconds_bucket",
        "lapor_hub_sync_national_responses_total",
        "lapor_hub_notifier_overdue_assignments",
        "lapor_hub_dead_letters_total",
        "lapor_hub_faststream_received_messages_total",
        "lapor_hub_intake_rating_sum",
        "lapor_hub_intake_rating_count",
        "lapor_hub_intake_reopened_total",
    } <= used


def test_every_query_parses(tmp_path: Path) -> None:
    """promtool has no expression checker, but it parses every rule's PromQL."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (.ci/run does)")
    rules = [
        {"record": f"dashboard:query_{index}", "expr": query}
        for index, query in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_pinned_prometheus_and_grafana_on_the_files_here() -> None:
    services = _yaml(DEPLOY / "docker-compose.yml")["services"]
    for name, image in (("prometheus", "prom/prometheus:v"), ("grafana", "grafana/grafana:")):
        assert services[name]["image"].startswith(image)
        assert not services[name]["image"].endswith(":latest")
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
    (config,) = [c for c in services["prometheus"]["command"] if c.startswith("--config.file=")]
    mounted = dict(v.split(":")[1::-1] for v in services["prometheus"]["volumes"])
    config_path = Path(config.removeprefix("--config.file="))
    assert (DEPLOY / mounted[str(config_path.parent)] / config_path.name).is_file()

    grafana_mounts = dict(v.split(":")[1::-1] for v in services["grafana"]["volumes"])
    provider = _yaml(GRAFANA / "provisioning" / "dashboards" / "lapor-hub.yml")["providers"][0]
    dashboards = DEPLOY / grafana_mounts[provider["options"]["path"]]
    assert (dashboards / DASHBOARD.name).samefile(DASHBOARD)
    assert (DEPLOY / grafana_mounts["/etc/grafana/provisioning"]).samefile(GRAFANA / "provisioning")
