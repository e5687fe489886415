"""The whole system as real processes, for the tests that need every service at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import pytest

from services.intake.service import IntakeService
from shared.db import create_pool
from shared.migrations import apply_migrations
from shared.topics import TopicSpec
from testkit.processes import ServiceProcess, running, smtp_sink, system_processes


@pytest.fixture
def smtp_port() -> Iterator[int]:
    with smtp_sink() as port:
        yield port


@pytest.fixture
def system(
    request: pytest.FixtureRequest,
    empty_database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    smtp_port: int,
) -> Iterator[Mapping[str, ServiceProcess]]:
    """Intake, router, notifier, sync and the national simulator on a fresh database and topic;
    their logs are named after the test module."""
    yield from _running_system(
        request,
        database_url=empty_database_url,
        bootstrap_servers=bootstrap_servers,
        topic=fresh_topic,
        smtp_port=smtp_port,
    )


@pytest.fixture
def browsed_system(
    request: pytest.FixtureRequest,
    empty_database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    smtp_port: int,
) -> Iterator[Mapping[str, ServiceProcess]]:
    """The whole system for the browser tests: a tracking page reloaded until Kafka's events show
    is more than the 60 lookups a minute one address may make, so its intake allows 1000 (misses
    stay at 10)."""
    yield from _running_system(
        request,
        database_url=empty_database_url,
        bootstrap_servers=bootstrap_servers,
        topic=fresh_topic,
        smtp_port=smtp_port,
        intake={"LAPOR_HUB_INTAKE_PUBLIC_RATE_LIMIT": "1000/minute"},
    )


def _running_system(
    request: pytest.FixtureRequest,
    *,
    database_url: str,
    bootstrap_servers: str,
    topic: TopicSpec,
    smtp_port: int,
    intake: Mapping[str, str] | None = None,
) -> Iterator[Mapping[str, ServiceProcess]]:
    apply_migrations(database_url)
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    processes = system_processes(database_url, bootstrap_servers, topic.name, smtp_port, name)
    processes["intake"].env = {**processes["intake"].env, **(intake or {})}
    with running(processes):
        yield processes


@pytest.fixture
async def web_key(empty_database_url: str) -> AsyncIterator[str]:
    pool = await create_pool(empty_database_url)
    try:
        yield await IntakeService(pool).create_key("channel", "web")
    finally:
        await pool.close()
