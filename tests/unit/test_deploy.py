"""The Docker path cannot run on machines without Docker; at least keep its structure valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.migrations import SERVICE_SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    return compose


def test_compose_runs_kafka_in_kraft_mode_and_postgres() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")


def test_every_service_is_built_from_the_one_dockerfile_and_waits_for_init() -> None:
    services = _compose()["services"]
    for name in SERVICE_SCHEMAS:
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert "kafka:9092" in service["environment"]["LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS"]
    assert (ROOT / "Dockerfile").is_file()


def test_published_ports_stay_on_loopback() -> None:
    for service in _compose()["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_every_depends_on_names_a_defined_service() -> None:
    services = _compose()["services"]
    for service in services.values():
        assert set(service.get("depends_on", {})) <= set(services)


def test_docker_compose_parses_it_where_compose_exists() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run(
            [docker, "compose", "version"], check=False, capture_output=True
        ).returncode
    ):
        pytest.skip("no docker compose on this machine")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "deploy" / "docker-compose.yml"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
