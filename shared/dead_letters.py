"""Dead letters as operators see and retry them: the events a service's consumer set aside in its
`dead_letters` table (see `shared.consumer.keep_in_dead_letters`).

A retry re-applies the stored event through the service's own handler, which is idempotent, so a
retry that races a redelivery (or a second click) changes nothing twice. A letter is marked
replayed only once its event was applied; one refused again stays, with the new reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg
from pydantic import ValidationError

from shared.consumer import EventHandler
from shared.db import TRANSIENT_ERRORS
from shared.events import parse_event
from shared.masking import masked


@dataclass(frozen=True)
class DeadLetter:
    id: int
    complaint_id: str | None  # the Kafka key
    error: str
    created_at: datetime


class RetryOutcome(StrEnum):
    REPLAYED = "replayed"
    NOT_FOUND = "not_found"  # no such letter, or replayed before
    REFUSED = "refused"  # the handler (or the parser) refused the event again


Retry = Callable[[int], Awaitable[tuple[RetryOutcome, str | None]]]


async def pending(pool: asyncpg.Pool, schema: str, limit: int = 100) -> list[DeadLetter]:
    """Letters not yet replayed, the oldest first."""
    rows = await pool.fetch(
        f'SELECT id, key, error, created_at FROM "{schema}".dead_letters'
        " WHERE replayed_at IS NULL ORDER BY id LIMIT $1",
        limit,
    )
    return [
        DeadLetter(
            id=row["id"],
            complaint_id=row["key"].decode(errors="replace") if row["key"] else None,
            error=row["error"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def reapply(
    pool: asyncpg.Pool, schema: str, dead_id: int, handle: EventHandler
) -> tuple[RetryOutcome, str | None]:
    """Apply a letter's event again through `handle`; the reason when it is refused again."""
    payload = await pool.fetchval(
        f'SELECT payload FROM "{schema}".dead_letters WHERE id = $1 AND replayed_at IS NULL',
        dead_id,
    )
    if payload is None:
        return RetryOutcome.NOT_FOUND, None
    try:
        await handle(parse_event(payload))
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:  # refused again, as the consumer's handler refused it
        reason = masked(f"{type(error).__name__}: {error}")
        await pool.execute(
            f'UPDATE "{schema}".dead_letters SET error = $2 WHERE id = $1', dead_id, reason
        )
        return RetryOutcome.REFUSED, reason
    await pool.execute(
        f'UPDATE "{schema}".dead_letters SET replayed_at = now() WHERE id = $1', dead_id
    )
    return RetryOutcome.REPLAYED, None


def retry_by_replay(replay: Callable[[int], Awaitable[int]]) -> Retry:
    """A retry from a service's own replay (it returns how many events it queued again)."""

    async def retry(dead_id: int) -> tuple[RetryOutcome, str | None]:
        try:
            queued = await replay(dead_id)
        except ValidationError as error:
            return RetryOutcome.REFUSED, f"ValidationError: {error}"
        return (RetryOutcome.REPLAYED if queued else RetryOutcome.NOT_FOUND), None

    return retry
