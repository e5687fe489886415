"""Thin PostgreSQL adapters shared by the services (asyncpg)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What a handler gets: a plain connection or one borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy


class PooledConnection(asyncpg.Connection):
    """A pooled connection released without asyncpg's reset query (a round trip per release).
    lapor-hub never leaves session state on pooled connections: LISTEN and session advisory
    locks live on dedicated connections, locks taken in transactions are transaction-scoped,
    and no code runs SET. asyncpg still rolls back any open transaction on release."""

    def get_reset_query(self) -> str:
        return ""


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, connection_class=PooledConnection
    )
    assert pool is not None  # create_pool only returns None when not awaited
    return pool


# The one home of the database faults that pass by themselves, from the narrowest to the widest.
# The database cannot be reached just now (a restart, a network cut, a full pool): intake answers
# 503 with Retry-After rather than a false "accepted".
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# What a consumer batch retries with backoff: the database away, or a transaction that lost a race.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
# The database, or the connection to it, is away for now (a restart, a network cut): loops that
# outlive it wait and try again. InterfaceError is what asyncpg raises for a connection that
# closed under a statement or transaction.
DATABASE_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


async def database_ready(database_url: str, timeout_s: float) -> None:
    """Return once PostgreSQL answers a query; raise TimeoutError otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last_error: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            connection = await asyncpg.connect(database_url, timeout=3)
            try:
                await connection.fetchval("SELECT 1")
                return
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError) as error:
            last_error = error
        await asyncio.sleep(0.5)
    where = _without_password(database_url)
    raise TimeoutError(f"PostgreSQL at {where} did not answer: {last_error!r}")


def _without_password(database_url: str) -> str:
    parts = urlsplit(database_url)
    return f"{parts.hostname}:{parts.port}{parts.path}"
