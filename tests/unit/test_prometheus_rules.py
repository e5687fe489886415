"""The Prometheus configuration and every alert rule, checked by promtool (Debian's prometheus,
which .ci/run installs: a machine without it fails here rather than skipping the checks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus.compose.yml")


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (.ci/run does)")
    return subprocess.run(
        [promtool, *arguments], cwd=PROMETHEUS_DIR, capture_output=True, text=True, check=False
    )


def _load(name: str) -> Any:
    return yaml.safe_load((PROMETHEUS_DIR / name).read_text())


@pytest.mark.parametrize("config", CONFIGS)
def test_the_scrape_configuration_and_rules_are_valid(config: str) -> None:
    result = _promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_when_it_should_and_not_before() -> None:
    result = _promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case_and_runbooks() -> None:
    alerts = {r["alert"]: r for g in _load("alerts.yml")["groups"] for r in g["rules"]}
    cases = [a for t in _load("alerts.test.yml")["tests"] for a in t.get("alert_rule_test", [])]
    for name, rule in alerts.items():
        expectations = [bool(case["exp_alerts"]) for case in cases if case["alertname"] == name]
        assert True in expectations, f"{name} is never expected to fire"
        assert False in expectations, f"{name} is never expected to stay quiet"
        assert rule["annotations"].get("runbook"), f"{name} has no runbook"
        assert rule["annotations"].get("runbook_id"), f"{name} has no runbook in Indonesian"


def test_the_compose_scrape_config_has_the_local_jobs_at_compose_names() -> None:
    def jobs(config: str) -> dict[str, tuple[list[str], dict[str, str]]]:
        return {
            job["job_name"]: (
                [t for static in job["static_configs"] for t in static["targets"]],
                job["static_configs"][0]["labels"],
            )
            for job in _load(config)["scrape_configs"]
        }

    local, compose = jobs("prometheus.yml"), jobs("prometheus.compose.yml")
    assert set(local) == set(compose)
    for job, (targets, labels) in local.items():
        service = labels["service"]
        assert compose[job][1] == labels
        assert compose[job][0] == [t.replace("127.0.0.1", service) for t in targets]
    assert {labels["service"] for _, labels in local.values()} == {
        "intake",
        "router",
        "notifier",
        "sync",
    }
