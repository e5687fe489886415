"""Backpressure: Kafka consumption pauses while national is down or the mirror queue is at its
bound, and resumes when neither holds."""

from __future__ import annotations

import logging

import asyncpg
from prometheus_client import Gauge

from services.sync.domain.consumption import keep_paused
from services.sync.gate import NationalGate
from services.sync.repository import SyncRepository
from shared.consumer import ConsumptionSwitch
from shared.runtime import every

log = logging.getLogger(__name__)

BACKLOG = Gauge("lapor_hub_sync_backlog_events", "Events waiting to be mirrored to national")
BACKLOG_OLDEST = Gauge(
    "lapor_hub_sync_backlog_oldest_age_seconds", "Age of the oldest event waiting to be mirrored"
)
CONSUMPTION_PAUSED = Gauge(
    "lapor_hub_sync_consumption_paused", "1 while Kafka consumption is paused (backpressure)"
)


class Backpressure:
    """Pauses Kafka consumption while national is down or the queue is at its bound."""

    def __init__(
        self, pool: asyncpg.Pool, gate: NationalGate, switch: ConsumptionSwitch, bound: int
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._switch = switch
        self._bound = bound

    async def check(self) -> None:
        async with self._pool.acquire() as connection:
            pending, oldest = await SyncRepository(connection).backlog()
        BACKLOG.set(pending)
        BACKLOG_OLDEST.set(oldest)
        pause = keep_paused(self._switch.paused, self._gate.breaker.state, pending, self._bound)
        if pause and not self._switch.paused:
            log.info(
                "pausing Kafka consumption (circuit %s, backlog %d)",
                self._gate.breaker.state,
                pending,
            )
        if not pause and self._switch.paused:
            log.info("resuming Kafka consumption (backlog %d)", pending)
        # Applied every time: a rebalance may have assigned partitions since.
        if pause:
            self._switch.pause()
        else:
            self._switch.resume()
        CONSUMPTION_PAUSED.set(int(pause))

    async def run(self, interval_s: float = 0.2) -> None:
        await every(interval_s, self.check, "backpressure check")
