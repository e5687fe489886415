"""What every service process shares: its FastStream Kafka broker, its background work with the
outbox relay, and its logging."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

import asyncpg
import uvloop
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from shared.consumer import observe_lag
from shared.db import DATABASE_AWAY, database_ready
from shared.kafka import broker_ready
from shared.masking import configure_logging
from shared.outbox import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)
BACKGROUND_TASK_RUNNING = Gauge(
    "lapor_hub_background_task_running",
    "1 while a service's background task runs; 0 once it has stopped (then /healthz fails)",
    ["task"],
)
# How long one round of waiting for Kafka and PostgreSQL lasts before it is logged.
DEPENDENCY_CHECK_S = 10.0


def build_broker(
    service: str, settings: Settings, registry: CollectorRegistry = REGISTRY
) -> KafkaBroker:
    """A broker whose publishers are idempotent (acks=all) and whose traffic is measured. Its
    messages go through the service's logging (LAPOR_HUB_LOG_LEVEL); the line FastStream writes
    per consumed batch is DEBUG (left at its own INFO, it wrote two lines a batch whatever the
    level, each a write: README, Benchmarks)."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"lapor-hub-{service}",
        enable_idempotence=True,
        logger=logging.getLogger(f"faststream.{service}"),
        log_level=logging.DEBUG,
        middlewares=[
            KafkaPrometheusMiddleware(
                registry=registry,
                app_name=f"lapor-hub-{service}",
                metrics_prefix="lapor_hub_faststream",
            )
        ],
    )


class BackgroundTasks:
    """A service's background work: relays, workers, pollers. Each handles the failures it
    expects (Kafka, PostgreSQL or national away) and runs as long as the process. One that stops
    anyway (a bug) is logged as critical, its `lapor_hub_background_task_running` drops to 0
    and the service's /healthz fails, so that it gets restarted: a process that looks alive
    while its relay is dead would hold complaints back unnoticed. Restarting loses nothing (the
    outboxes and queues are in PostgreSQL, offsets are committed after handling)."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._lasting: list[asyncio.Task[None]] = []

    def start(self, work: Coroutine[Any, Any, None], name: str, *, lasting: bool = True) -> None:
        """`lasting=False`: work that ends by itself once done (and is cancelled if still running
        when the service stops)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)
        if lasting:
            self._lasting.append(task)
            BACKGROUND_TASK_RUNNING.labels(name).set(1)
            task.add_done_callback(_report_stop)

    def stopped(self) -> list[str]:
        """The lasting tasks that have ended (none should, before the service stops)."""
        return [task.get_name() for task in self._lasting if task.done()]

    async def cancel(self) -> None:
        """Stop them all and wait until they have (their cleanups run)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    pool: asyncpg.Pool,
    schema: str,
    background: BackgroundTasks,
    *,
    lag_of: tuple[Any, str],
    closing: Sequence[Callable[[], Awaitable[object]]] = (),
) -> AsyncIterator[None]:
    """A service's lifespan from the moment its parts are built: its outbox relay (the outbox in
    `schema`) and its consumer's lag (`lag_of`: the subscriber and its group) run beside its
    own background work. When it stops: the background work first, then what `closing` names,
    in order, then the pool."""
    relay = OutboxRelay(settings.database_url, pool, schema, settings.kafka_bootstrap_servers)
    background.start(relay.run(), "outbox-relay")
    background.start(observe_lag(*lag_of), "consumer-lag")
    try:
        yield
    finally:
        await background.cancel()
        for close in closing:
            await close()
        await pool.close()


async def every(interval_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Background work: `step` every `interval_s`; a round the database is away for is logged
    (as `what`) and left to the next."""
    while True:
        try:
            await step()
        except DATABASE_AWAY as error:
            log.warning("%s: database unavailable (%r)", what, error)
        await asyncio.sleep(interval_s)


def _report_stop(task: asyncio.Task[None]) -> None:
    BACKGROUND_TASK_RUNNING.labels(task.get_name()).set(0)
    if task.cancelled():
        return
    log.critical(
        "background task %s stopped: /healthz now fails", task.get_name(), exc_info=task.exception()
    )


def run(app: FastStream, settings: Settings) -> None:
    """Run a service in the foreground until SIGINT/SIGTERM."""
    configure_logging(settings.log_level)
    # uvloop: socket writes (every database statement, every SMTP command) cost a fraction of
    # what they cost on asyncio's own loop (README, Benchmarks).
    uvloop.run(_when_dependencies_answer(app, settings))


async def _when_dependencies_answer(app: FastStream, settings: Settings) -> None:
    """Start once Kafka and PostgreSQL answer: a service started while either is away (a host
    booting, a restart during an outage) waits for them instead of exiting and crash-looping."""
    while True:
        try:
            await broker_ready(settings.kafka_bootstrap_servers, DEPENDENCY_CHECK_S)
            await database_ready(settings.database_url, DEPENDENCY_CHECK_S)
            break
        except TimeoutError as error:
            log.warning("waiting for dependencies before starting: %s", error)
    await app.run()
