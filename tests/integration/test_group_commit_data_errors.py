"""A group commit on real PostgreSQL: one item's data that PostgreSQL refuses (a U+0000) fails
that item's caller only, never the others written in the same statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import DATA_ERRORS, create_pool
from shared.group_commit import GroupCommit, each_alone_on


@pytest.fixture
async def pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(empty_database_url, max_size=4)
    await created.execute("CREATE TABLE notes (n int PRIMARY KEY, text text NOT NULL)")
    yield created
    await created.close()


async def test_fifty_poisoned_writes_fail_alone_and_fifty_good_ones_are_written(
    pool: asyncpg.Pool,
) -> None:
    async def write(items: list[tuple[int, str]]) -> None:
        await pool.execute(
            "INSERT INTO notes SELECT * FROM unnest($1::int[], $2::text[])",
            [n for n, _ in items],
            [text for _, text in items],
        )

    group = GroupCommit(each_alone_on(DATA_ERRORS, write), linger_s=0.01)
    items = [(n, f"catatan {n}" if n % 2 else f"racun {n}\x00") for n in range(100)]
    outcomes = await asyncio.gather(*(group.submit(i) for i in items), return_exceptions=True)

    good = [n for (n, _), outcome in zip(items, outcomes, strict=True) if outcome is None]
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert good == [n for n, _ in items if n % 2]
    assert len(failed) == 50 and all(isinstance(o, DATA_ERRORS) for o in failed)
    assert await pool.fetchval("SELECT count(*) FROM notes") == 50
