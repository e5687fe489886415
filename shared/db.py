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


# What one item's data can fail a statement with (a value PostgreSQL refuses: class 22, or text
# asyncpg cannot encode): a group write then writes each item alone (`each_alone_on`).
DATA_ERRORS: tuple[type[Exception], ...] = (asyncpg.DataError, UnicodeEncodeError)

# Every pooled statement is bounded: a PostgreSQL that answers slowly, or a row locked by a
# stuck transaction, fails the statement (QueryCanceledError, LockNotAvailableError: both passing
# faults, retried) instead of holding a consumer batch past Kafka's max.poll.interval. No pooled
# statement of lapor-hub's needs seconds; the dedicated connections (a relay's LISTEN and its
# leader's advisory lock) are not pooled and not bounded.
STATEMENT_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 10.0


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        connection_class=PooledConnection,
        server_settings={
            "statement_timeout": str(int(statement_timeout_s * 1000)),
            "lock_timeout": str(int(lock_timeout_s * 1000)),
        },
    )
    assert pool is not None  # create_pool only returns None when not awaited
    return pool


# The one home of the database faults that pass by themselves, from the narrowest to the widest.
# The server's own faults: whatever the statement, it failed because of the server's state, not
# because of the event it carried. A failover or pg_terminate_backend (AdminShutdown,
# CrashShutdown), a statement or lock timeout (QueryCanceled, LockNotAvailable), a full disk or
# memory, a primary turned read-only, an I/O or internal error. Such an event is never poison:
# set aside as a dead letter with its offset committed, every later event of its complaint would
# be ignored.
SERVER_FAULTS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    asyncpg.exceptions.PostgresSystemError,
    asyncpg.exceptions.InternalServerError,
)
# The database cannot serve just now (a restart, a network cut, a full pool, a server fault):
# intake answers 503 with Retry-After rather than a false "accepted".
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    *SERVER_FAULTS,
)
# What a consumer batch retries with backoff (never a dead letter): the database unavailable, or
# a transaction that lost a race (serialization failure, deadlock). What remains among errors, a
# constraint or data error, the handler's own refusal, is the event's, and may be a dead letter.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE,
    asyncpg.exceptions.TransactionRollbackError,
)
# The database, or the connection to it, is away for now (a restart, a network cut): loops that
# outlive it wait and try again. InterfaceError is what asyncpg raises for a connection that
# closed under a statement or transaction; InternalClientError ("cannot switch to state 12;
# another operation is in progress") one a restart left half-reset in the pool: it stopped the
# notifier's delivery worker in a chaos run.
DATABASE_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
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
