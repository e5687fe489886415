"""Every call to national LAPOR goes through the gate: the circuit breaker decides whether it
may go at all, the drain pace when, and each outcome is measured and fed back to both.

While the circuit is open only the prober calls national (a cheap read, the institutions list);
the drain workers and the poller wait in `admit()`, holding nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.sync.adapters.national import (
    AmbiguousWriteError,
    NationalLapor,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.domain.circuit import CircuitBreaker, CircuitState
from services.sync.domain.pace import DrainPace
from services.sync.settings import SyncSettings
from shared.topics import COMPLAINT_EVENTS

log = logging.getLogger(__name__)
T = TypeVar("T")

# Answers that say lapor-hub itself is misconfigured, not that one event is invalid.
CREDENTIAL_STATUSES = (401, 403)

NATIONAL_LATENCY = Histogram(
    "lapor_hub_sync_national_request_duration_seconds",
    "Calls to national LAPOR, by operation",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NATIONAL_RESPONSES = Counter(
    "lapor_hub_sync_national_responses_total",
    "Calls to national LAPOR by operation and outcome (ok, 429, 4xx status, unavailable,"
    " ambiguous)",
    ["operation", "outcome"],
)
RATE_LIMITED = Counter("lapor_hub_sync_rate_limited_total", "429 answers from national LAPOR")
CIRCUIT_STATE = Gauge(
    "lapor_hub_sync_circuit_state", "The circuit to national LAPOR: 0 closed, 1 half-open, 2 open"
)
OUTAGE_SECONDS = Gauge(
    "lapor_hub_sync_current_outage_seconds", "How long the circuit has been open (0 when closed)"
)
OUTAGE_SECONDS_TOTAL = Counter(
    "lapor_hub_sync_outage_seconds_total", "Time spent with the circuit not closed"
)
PROBES = Counter("lapor_hub_sync_probes_total", "Health probes sent while open", ["result"])
DRAIN_RATE = Gauge("lapor_hub_sync_drain_rate_per_second", "Calls a second the pace allows now")
_STATE_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class NationalGate:
    def __init__(
        self,
        client: NationalLapor,
        breaker: CircuitBreaker,
        pace: DrainPace,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.breaker = breaker
        self.pace = pace
        self._clock = clock

    async def admit(self) -> None:
        """Wait until the circuit is closed and the pace allows one more call."""
        while True:
            if not self.breaker.allows_traffic:
                await asyncio.sleep(0.1)
                continue
            wait = self.pace.take(self._clock())
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 0.5))

    def give_back(self) -> None:
        self.pace.give_back()

    async def call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """Make one call (after `admit()`); its outcome moves the breaker and the pace."""
        started = self._clock()
        try:
            result = await call()
        except RateLimitedError as error:
            self._observe(operation, started, "429")
            RATE_LIMITED.inc()
            self.pace.rate_limited(self._clock(), error.retry_after)
            raise
        except RejectedError as error:
            self._observe(operation, started, str(error.status))
            if error.status in CREDENTIAL_STATUSES:
                self.breaker.failed(self._clock())
            raise
        except (NationalUnavailableError, AmbiguousWriteError) as error:
            kind = "ambiguous" if isinstance(error, AmbiguousWriteError) else "unavailable"
            self._observe(operation, started, kind)
            self.breaker.failed(self._clock())
            raise
        self._observe(operation, started, "ok")
        self._succeeded()
        return result

    async def probe_if_due(self) -> bool | None:
        """Send a probe if one is due while open: True/False for its result, None if not due."""
        if not self.breaker.start_probe(self._clock()):
            return None
        try:
            await self.call("probe", self.client.institutions)
        except (NationalUnavailableError, AmbiguousWriteError, RateLimitedError, RejectedError):
            if self.breaker.state is CircuitState.HALF_OPEN:  # a 429 or 4xx is an answer too
                self._succeeded()
                PROBES.labels("answered").inc()
                return True
            PROBES.labels("failed").inc()
            log.info("probe failed; national LAPOR still down")
            return False
        PROBES.labels("ok").inc()
        return True

    def _succeeded(self) -> None:
        if self.breaker.succeeded():
            log.info("national LAPOR answers again: draining, ramping up")
            self.pace.recovered(self._clock())

    def _observe(self, operation: str, started: float, outcome: str) -> None:
        NATIONAL_LATENCY.labels(operation).observe(self._clock() - started)
        NATIONAL_RESPONSES.labels(operation, outcome).inc()

    async def watch(self, interval_s: float = 0.1) -> None:
        """Probe while open and keep the circuit's metrics current, until cancelled."""
        last = self._clock()
        while True:
            await self.probe_if_due()
            now = self._clock()
            if not self.breaker.allows_traffic:
                OUTAGE_SECONDS_TOTAL.inc(now - last)
            last = now
            CIRCUIT_STATE.set(_STATE_VALUE[self.breaker.state])
            OUTAGE_SECONDS.set(self.breaker.outage_seconds(now))
            DRAIN_RATE.set(self.pace.rate(now))
            await asyncio.sleep(interval_s)


def national_gate(settings: SyncSettings, client: NationalLapor) -> NationalGate:
    """The gate as configured: breaker and pace from `LAPOR_HUB_SYNC_*`."""
    return NationalGate(
        client,
        CircuitBreaker(
            settings.sync_failure_threshold,
            settings.sync_probe_interval_s,
            settings.sync_max_probe_interval_s,
        ),
        DrainPace(
            settings.sync_rate_per_s,
            ramp_start_fraction=settings.sync_ramp_start_fraction,
            ramp_s=settings.sync_ramp_s,
            now=time.monotonic(),
        ),
    )


class TalksToNational:
    """What the drain and the poller share: the database, the gate, where events go."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: NationalGate,
        settings: SyncSettings,
        topic: str = COMPLAINT_EVENTS.name,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._national = gate.client
        self._settings = settings
        self._topic = topic
