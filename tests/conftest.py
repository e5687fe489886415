"""Fixtures for tests against the real stack (`make test` starts it; see README).

Integration tests get a database of their own, created fresh with every service's migrations
applied, and Kafka topics with unique names, so runs never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.kafka import scratch_topic
from shared.migrations import apply_migrations
from shared.settings import Settings
from shared.topics import TopicSpec


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "integration":
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def bootstrap_servers(settings: Settings) -> str:
    return settings.kafka_bootstrap_servers


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


@asynccontextmanager
async def _temporary_database(server_url: str) -> AsyncIterator[str]:
    name = f"lapor_hub_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(server_url, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def empty_database_url(settings: Settings) -> AsyncIterator[str]:
    """A fresh, empty database on the real server, for one test."""
    async with _temporary_database(settings.database_url) as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """A fresh database with every service's migrations applied, shared by the session."""
    async with _temporary_database(settings.database_url) as url:
        apply_migrations(url)
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def fresh_topic(bootstrap_servers: str) -> AsyncIterator[TopicSpec]:
    """A new topic with the complaint-events layout, for one test (deleted after it)."""
    async with scratch_topic(bootstrap_servers, "test", partitions=3) as topic:
        yield topic


@pytest.fixture
def unique_group() -> Iterator[str]:
    yield f"test-group-{uuid.uuid4().hex[:8]}"
