"""Dead letters: the events a service set aside in its `dead_letters` table (one kind, one
writer: `set_aside`, by the consumer's poison handler `keep_in_dead_letters` and by sync for what
national rejected), and how operators see and retry them.

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
from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError

from shared.consumer import EventHandler, PoisonHandler
from shared.db import TRANSIENT_ERRORS, Connection
from shared.events import parse_event
from shared.masking import masked

DEAD_LETTERS = Counter(
    "lapor_hub_dead_letters_total",
    "Events a service could not apply and kept for an operator, by service",
    ["service"],
)


async def set_aside(
    db: Connection | asyncpg.Pool,
    schema: str,
    *,
    topic: str,
    key: bytes | None,
    payload: bytes | None,
    error: str,
    partition: int | None = None,
    offset: int | None = None,
    **own: object,
) -> int | None:
    """Keep an event with the reason in the service's `dead_letters`; its id, None when the
    record was set aside before (the same Kafka position). `own`: the service's own columns
    (`shared.migrations.dead_letters(extra_columns=...)`)."""
    columns = ("topic", "partition", '"offset"', "key", "payload", "error", *own)
    values = (topic, partition, offset, key, payload, error, *own.values())
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    dead_id: int | None = await db.fetchval(
        f'INSERT INTO "{schema}".dead_letters ({", ".join(columns)}) VALUES ({placeholders})'
        " ON CONFLICT DO NOTHING RETURNING id",
        *values,
    )
    return dead_id


def keep_in_dead_letters(pool: asyncpg.Pool, schema: str) -> PoisonHandler:
    """A poison handler that keeps the record and the reason (masked) as a dead letter."""
    # Exported at 0 from the start: a series born at 1 would hide the first one from increase().
    dead_letters = DEAD_LETTERS.labels(schema)

    async def keep(record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        dead_letters.inc()
        await set_aside(
            pool,
            schema,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            payload=record.value,
            error=masked(f"{type(error).__name__}: {error}"),
        )

    return keep


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
