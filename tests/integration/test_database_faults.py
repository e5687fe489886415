"""The database's own faults are passing, never poison: an event whose handler met a terminated
backend, a statement or lock timeout, or a read-only transaction is applied once the fault has
passed, and nothing is set aside as a dead letter (issue 17, item 4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from shared.consumer import apply_record
from shared.db import create_pool
from shared.events import AnyEvent
from testkit.factories import complaint_received, consumer_record

# Fails the handler's first statement, given its pool and the database it serves.
FaultyStatement = Callable[[asyncpg.Pool, str], Awaitable[None]]


@pytest.fixture
async def pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(
        empty_database_url, max_size=2, statement_timeout_s=0.3, lock_timeout_s=0.3
    )
    await created.execute("CREATE TABLE applied (event_id uuid PRIMARY KEY)")
    try:
        yield created
    finally:
        await created.close()


async def _stopped_by_an_administrator(pool: asyncpg.Pool, url: str, how: str) -> None:
    """`how` (pg_terminate_backend, pg_cancel_backend) of the handler's connection while its
    statement runs: a failover, an operator stopping a query. asyncpg reports a terminated
    backend as a lost connection, not as the server's AdminShutdown."""
    async with pool.acquire() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(url)
        try:
            sleeping = asyncio.create_task(connection.execute("SELECT pg_sleep(0.2)"))
            await asyncio.sleep(0.05)
            await admin.execute(f"SELECT {how}($1)", pid)
            await sleeping
        finally:
            await admin.close()


async def _statement_timeout(pool: asyncpg.Pool, url: str) -> None:
    await pool.execute("SELECT pg_sleep(1)")


async def _lock_timeout(pool: asyncpg.Pool, url: str) -> None:
    holder = await asyncpg.connect(url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE applied IN ACCESS EXCLUSIVE MODE")
            await pool.execute("SELECT count(*) FROM applied")
    finally:
        await holder.close()


async def _read_only(pool: asyncpg.Pool, url: str) -> None:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("INSERT INTO applied VALUES (gen_random_uuid())")


@pytest.mark.parametrize(
    "fault",
    [
        partial(_stopped_by_an_administrator, how="pg_terminate_backend"),
        partial(_stopped_by_an_administrator, how="pg_cancel_backend"),
        _statement_timeout,
        _lock_timeout,
        _read_only,
    ],
    ids=["terminated", "cancelled", "statement-timeout", "lock-timeout", "read-only"],
)
async def test_a_server_fault_is_retried_and_never_a_dead_letter(
    pool: asyncpg.Pool, empty_database_url: str, fault: FaultyStatement
) -> None:
    poisoned: list[Exception] = []
    attempts = 0

    async def handle(event: AnyEvent) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await fault(pool, empty_database_url)
        await pool.execute("INSERT INTO applied VALUES ($1)", event.event_id)

    async def poison(record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        poisoned.append(error)

    await apply_record(consumer_record(complaint_received()), handle, poison, retry_for_s=10)

    assert poisoned == []
    assert attempts == 2
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1
