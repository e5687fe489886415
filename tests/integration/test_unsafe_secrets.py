"""Outside development every service, started as a real process, refuses to start while a secret
it uses is unset, empty or its development default, and names each; with real secrets it serves,
and its operations endpoints still want the token."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from shared.topics import TopicSpec
from testkit.processes import ServiceProcess, free_port

PRODUCTION = {"LAPOR_HUB_ENVIRONMENT": "production"}


def _refusal(module: str, env: dict[str, str]) -> str:
    """What `python -m module` says as it exits (it must exit, unsuccessfully, at once)."""
    process = ServiceProcess(module, module, "tcp://127.0.0.1:1", env={**PRODUCTION, **env})
    process.spawn()
    assert process.process is not None
    try:
        returncode = process.process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{module} started outside development with unsafe secrets")
    assert returncode != 0
    return process.log_path.read_text(encoding="utf-8").splitlines()[-1]


@pytest.mark.parametrize(
    ("module", "env", "named"),
    [
        (
            "services.intake",
            {"LAPOR_HUB_OPS_TOKEN": ""},
            [
                "LAPOR_HUB_INTAKE_ACCESS_TOKEN_SECRET",
                "LAPOR_HUB_OPS_TOKEN",
                "LAPOR_HUB_CONSOLE_SESSION_SECRET",
                "LAPOR_HUB_INTAKE_PAGES_SECRET",
            ],
        ),
        ("services.router", {}, ["LAPOR_HUB_OPS_TOKEN"]),
        (
            "services.sync",
            {"LAPOR_HUB_OPS_TOKEN": "a-real-ops-token"},
            ["LAPOR_HUB_NATIONAL_AUTHORIZATION", "LAPOR_HUB_NATIONAL_TOKEN"],
        ),
        (
            "services.notifier",
            {"LAPOR_HUB_NOTIFIER_CITIZEN_SMS_GATEWAY_URL": "https://sms.example/send"},
            [
                "LAPOR_HUB_NOTIFIER_CITIZEN_SMS_GATEWAY_SECRET",
                "LAPOR_HUB_NOTIFIER_PAGES_SESSION_SECRET",
            ],
        ),
        ("services.notifier", {}, ["LAPOR_HUB_NOTIFIER_PAGES_SESSION_SECRET"]),
    ],
)
def test_a_service_outside_development_names_every_unsafe_secret_and_stops(
    module: str, env: dict[str, str], named: list[str]
) -> None:
    said = _refusal(module, env)
    assert "refusing to start outside development" in said
    for variable in named:
        assert variable in said
    assert "a-real-ops-token" not in said


def test_with_real_secrets_the_router_serves_and_its_dead_letters_want_the_token(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    port = free_port()
    router = ServiceProcess(
        "router-production",
        "services.router",
        f"http://127.0.0.1:{port}/readyz",
        env={
            **PRODUCTION,
            "LAPOR_HUB_OPS_TOKEN": "a-real-ops-token",
            "LAPOR_HUB_DATABASE_URL": database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": fresh_topic.name,
            "LAPOR_HUB_ROUTER_METRICS_PORT": str(port),
        },
    )
    router.start()
    try:
        dead_letters = f"{router.origin}/v1/dead-letters"
        for headers in ({}, {"Authorization": "Bearer lapor-hub-local-ops-token"}):
            assert httpx.get(dead_letters, headers=headers).status_code == 401
        answer = httpx.get(dead_letters, headers={"Authorization": "Bearer a-real-ops-token"})
        assert answer.status_code == 200
    finally:
        router.stop()
