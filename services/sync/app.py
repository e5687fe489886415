"""The sync service (`python -m services.sync`): consumes the complaint stream into the mirror
queue, drains it to national SP4N-LAPOR! behind a circuit breaker and a ramping pace, polls
national for its admins' changes, relays its outbox, and pauses Kafka consumption while national
is down or the queue is full. `/metrics`, `/healthz`, `/readyz` on `sync_metrics_port`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from faststream import FastStream

from services.sync.adapters.national import HttpNationalLapor, NationalApiSettings
from services.sync.backpressure import Backpressure
from services.sync.gate import national_gate
from services.sync.mirror import Mirror
from services.sync.poller import Poller
from services.sync.repository import SCHEMA
from services.sync.service import SyncService
from services.sync.settings import SyncSettings
from shared.consumer import ConsumptionSwitch, event_types, subscribe_to_complaint_events
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters, retry_by_replay
from shared.events import ComplaintReceived, ComplaintRouted, ComplaintStatusChanged
from shared.ops_http import serve_ops
from shared.runtime import BackgroundTasks, build_broker, running
from shared.settings import refuse_unsafe, unsafe_secrets

SERVICE = "sync"


def create_app(settings: SyncSettings, national: NationalApiSettings) -> FastStream:
    refuse_unsafe(
        unsafe_secrets(settings.environment, settings, "ops_token")
        # The simulator's credentials, which national LAPOR itself would refuse.
        + unsafe_secrets(settings.environment, national, "authorization", "token")
    )
    broker = build_broker(SERVICE, settings)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, max_size=settings.sync_concurrency + 6)
        client = HttpNationalLapor(national)
        gate = national_gate(settings, client)
        switch = ConsumptionSwitch()
        topic = settings.complaint_events_topic
        mirror = Mirror(pool, gate, settings, topic)
        service = SyncService(pool, mirror.queued)
        subscriber = subscribe_to_complaint_events(
            broker,
            service,
            group_id=settings.sync_consumer_group,
            acts_on=event_types(ComplaintReceived, ComplaintRouted, ComplaintStatusChanged),
            on_poison=keep_in_dead_letters(pool, SCHEMA),
            topic=settings.complaint_events_topic,
            listener=switch,
        )
        switch.attach(subscriber)
        backpressure = Backpressure(pool, gate, switch, settings.sync_max_backlog)
        # Paused from the start until the first check: no batch is fetched before the queue's
        # backlog is known.
        switch.pause()

        background = BackgroundTasks()
        ops = await serve_ops(
            settings,
            settings.sync_metrics_port,
            pool,
            broker,
            background,
            schema=SCHEMA,
            retry=retry_by_replay(service.replay),
        )
        background.start(gate.watch(), "circuit")
        background.start(backpressure.run(), "backpressure")
        background.start(mirror.run(), "mirror")
        background.start(Poller(pool, gate, settings, topic).run(), "poller")
        lag_of = (subscriber, settings.sync_consumer_group)
        closing = [client.aclose, ops.cleanup]
        async with running(settings, pool, SCHEMA, background, lag_of=lag_of, closing=closing):
            yield

    return FastStream(broker, lifespan=lifespan)


settings = SyncSettings()
app = create_app(settings, NationalApiSettings())
