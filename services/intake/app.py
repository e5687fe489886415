"""The intake service: the HTTP API (uvicorn), the outbox relay, and the timeline consumer.

Intake keeps accepting complaints whatever else is down: without Kafka the outbox grows and the
relay drains it when Kafka returns; without PostgreSQL it answers 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.intake.citizen import citizen_state, mount_citizen
from services.intake.console import console_state, mount_console
from services.intake.console.settings import ConsoleSettings
from services.intake.http import create_api, intake_state
from services.intake.repository import SCHEMA
from services.intake.service import PRODUCER, IntakeService
from services.intake.settings import IntakeSettings
from services.intake.whatsapp_media import graph_media
from shared.consumer import own_events, subscribe_to_complaint_events
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters
from shared.events import ComplaintReceived
from shared.ops_http import dependency_checks
from shared.runtime import BackgroundTasks, build_broker, running
from shared.settings import refuse_unsafe, unsafe_secrets

SERVICE = "intake"
log = logging.getLogger(__name__)


async def _consume_when_kafka_answers(broker: KafkaBroker) -> None:
    """Start the timeline consumer, retrying while Kafka is away (intake must not wait)."""
    while True:
        try:
            await broker.start()
            return
        except Exception as error:  # Kafka away at start-up: try again shortly
            log.warning("timeline consumer not started yet: %r", error)
            await asyncio.sleep(5)


def create_app(settings: IntakeSettings) -> FastAPI:
    refuse_unsafe(
        unsafe_secrets(
            settings.environment,
            settings,
            "intake_access_token_secret",
            "ops_token",
            "attachments_token",
        )
        # Unset, each intake process would sign its console sessions with a key of its own.
        + unsafe_secrets(settings.environment, ConsoleSettings(), "console_session_secret")
        # Likewise the citizen forms' CSRF tokens.
        + unsafe_secrets(settings.environment, settings, "intake_pages_secret")
    )
    broker = build_broker(SERVICE, settings)

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # min_size=0: intake starts (and answers 503) even while PostgreSQL is away.
        pool = await create_pool(
            settings.database_url, min_size=0, max_size=settings.intake_db_pool_size
        )
        service = IntakeService(
            pool,
            settings.complaint_events_topic,
            access_token_secret=settings.intake_access_token_secret.get_secret_value(),
        )
        subscriber = subscribe_to_complaint_events(
            broker,
            service,
            group_id=settings.intake_consumer_group,
            on_poison=keep_in_dead_letters(pool, SCHEMA),
            topic=settings.complaint_events_topic,
            # Its own complaints were stored when accepted: their events need no reading.
            passes_over=own_events(PRODUCER, ComplaintReceived),
        )
        background = BackgroundTasks()
        token = settings.intake_whatsapp_access_token
        media = graph_media(
            settings.intake_whatsapp_graph_url,
            token.get_secret_value() if token else None,
            settings.intake_whatsapp_media_timeout_s,
        )
        background.start(_consume_when_kafka_answers(broker), "timeline-consumer", lasting=False)
        api.state.intake = intake_state(
            service,
            dependency_checks(pool, broker),
            settings,
            background,
            media,
        )
        api.state.console = console_state(pool, service, settings.complaint_events_topic)
        pages_secret = settings.intake_pages_secret
        api.state.citizen = citizen_state(
            service,
            pages_secret.get_secret_value() if pages_secret else None,
            settings.intake_public_url,
            settings.attachments_token.get_secret_value(),
        )
        lag_of = (subscriber, settings.intake_consumer_group)
        closing = [broker.stop] + ([media.client.aclose] if media else [])
        async with running(settings, pool, SCHEMA, background, lag_of=lag_of, closing=closing):
            yield

    app = create_api(lifespan)
    mount_console(app)
    mount_citizen(app)
    return app


settings = IntakeSettings()
app = create_app(settings)
