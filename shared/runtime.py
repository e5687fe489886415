"""What every service process shares: its FastStream Kafka broker and its logging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import uvloop
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry

from shared.db import database_ready
from shared.kafka import broker_ready
from shared.settings import Settings

log = logging.getLogger(__name__)
# How long one round of waiting for Kafka and PostgreSQL lasts before it is logged.
DEPENDENCY_CHECK_S = 10.0


def build_broker(
    service: str, settings: Settings, registry: CollectorRegistry = REGISTRY
) -> KafkaBroker:
    """A broker whose publishers are idempotent (acks=all) and whose traffic is measured. Its
    messages go through the service's logging (LAPOR_HUB_LOG_LEVEL); the line FastStream writes
    per consumed batch is DEBUG (left at its own INFO, it wrote two lines a batch whatever the
    level: 80,000 lines a router in one benchmark, and a write each)."""
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


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Stop a service's background tasks and wait until they have (their cleanups run)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run(app: FastStream, settings: Settings) -> None:
    """Run a service in the foreground until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvloop: socket writes (every database statement, every SMTP command) cost a fraction of
    # asyncio's own loop, which showed as a quarter of a service's CPU.
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
