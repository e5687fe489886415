"""The router service's FastStream application (`faststream run services.router.app:app`).

Consumes the complaint stream, assigns each complaint in one transaction with its outbox row,
and relays the outbox to Kafka; `/metrics`, `/healthz` and `/readyz` on its ops port.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from faststream import FastStream

from services.router.domain import Router, load_routing_table
from services.router.domain.model import load_active_model
from services.router.repository import SCHEMA
from services.router.service import RouterService
from services.router.settings import RouterSettings
from shared.consumer import event_types, subscribe_to_complaint_events
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters, reapply
from shared.events import ComplaintReceived, ComplaintStatusChanged, RoutingOverrideRequested
from shared.ops_http import serve_ops
from shared.runtime import BackgroundTasks, build_broker, running
from shared.settings import refuse_unsafe, unsafe_secrets

SERVICE = "router"


def create_app(settings: RouterSettings) -> FastStream:
    refuse_unsafe(unsafe_secrets(settings.environment, settings, "ops_token"))
    broker = build_broker(SERVICE, settings)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # The table and the active model are checked before anything connects: a bad table or
        # model file stops the start, loudly.
        router = Router(load_routing_table(), load_active_model())
        pool = await create_pool(settings.database_url, max_size=5)
        service = RouterService(
            pool, router, settings.complaint_events_topic, settings.place_policy()
        )
        subscriber = subscribe_to_complaint_events(
            broker,
            service,
            group_id=settings.router_consumer_group,
            acts_on=event_types(
                ComplaintReceived, ComplaintStatusChanged, RoutingOverrideRequested
            ),
            on_poison=keep_in_dead_letters(pool, SCHEMA),
            topic=settings.complaint_events_topic,
        )
        background = BackgroundTasks()
        ops = await serve_ops(
            settings,
            settings.router_metrics_port,
            pool,
            broker,
            background,
            schema=SCHEMA,
            retry=partial(reapply, pool, SCHEMA, handle=service.handle),
        )
        background.start(
            service.keep_routing_unanswered(settings.router_place_check_s), "unanswered-places"
        )
        lag_of = (subscriber, settings.router_consumer_group)
        async with running(
            settings, pool, SCHEMA, background, lag_of=lag_of, closing=[ops.cleanup]
        ):
            yield

    return FastStream(broker, lifespan=lifespan)


settings = RouterSettings()
app = create_app(settings)
