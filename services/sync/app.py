"""The sync service (`python -m services.sync`): consumes the complaint stream into the mirror
queue, drains it to national SP4N-LAPOR! behind a circuit breaker and a ramping pace, polls
national for its admins' changes, relays its outbox, and pauses Kafka consumption while national
is down or the queue is full. `/metrics`, `/healthz`, `/readyz` on `sync_metrics_port`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from faststream import FastStream

from services.sync.adapters.national import HttpNationalLapor, NationalApiSettings
from services.sync.backpressure import Backpressure
from services.sync.gate import national_gate
from services.sync.mirror import Mirror
from services.sync.poller import Poller
from services.sync.repository import SCHEMA
from services.sync.service import SyncService
from services.sync.settings import SyncSettings
from shared.consumer import (
    ConsumptionSwitch,
    event_types,
    observe_lag,
    subscribe_to_complaint_events,
)
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters, pending, retry_by_replay
from shared.events import ComplaintReceived, ComplaintRouted, ComplaintStatusChanged
from shared.ops_http import dead_letter_routes, dependency_checks, serve_ops
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundTasks, build_broker
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
            group_id=settings.sync_consumer_group,
            handle=service.handle,
            handle_leading=service.apply_together,
            acts_on=event_types(ComplaintReceived, ComplaintRouted, ComplaintStatusChanged),
            on_poison=keep_in_dead_letters(pool, SCHEMA),
            topic=settings.complaint_events_topic,
            listener=switch,
        )
        switch.attach(subscriber)
        relay = OutboxRelay(settings.database_url, pool, SCHEMA, settings.kafka_bootstrap_servers)
        backpressure = Backpressure(pool, gate, switch, settings.sync_max_backlog)
        # Paused from the start until the first check: no batch is fetched before the queue's
        # backlog is known.
        switch.pause()

        background = BackgroundTasks()
        ops = await serve_ops(
            settings.bind_host,
            settings.sync_metrics_port,
            dependency_checks(pool, broker),
            background,
            dead_letter_routes(
                partial(pending, pool, SCHEMA),
                retry_by_replay(service.replay),
                settings.ops_token.get_secret_value(),
            ),
        )
        background.start(gate.watch(), "circuit")
        background.start(backpressure.run(), "backpressure")
        background.start(mirror.run(), "mirror")
        background.start(Poller(pool, gate, settings, topic).run(), "poller")
        background.start(relay.run(), "outbox-relay")
        background.start(observe_lag(subscriber, settings.sync_consumer_group), "consumer-lag")
        try:
            yield
        finally:
            await background.cancel()
            await client.aclose()
            await ops.cleanup()
            await pool.close()

    return FastStream(broker, lifespan=lifespan)


settings = SyncSettings()
app = create_app(settings, NationalApiSettings())
