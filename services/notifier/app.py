"""The notifier service (`python -m services.notifier`): consumes the complaint stream, keeps
each agency's inbox, sends the alerts from its durable queue, relays its outbox, and serves the
inbox API with `/metrics` on its HTTP port (8081)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator

import uvicorn
from faststream import FastStream

from services.notifier.deadlines import DeadlineJob
from services.notifier.delivery import DeliveryQueue, DeliveryWorker
from services.notifier.directory import load_directory
from services.notifier.http import inbox_api
from services.notifier.repository import SCHEMA, NotifierRepository
from services.notifier.senders import SmtpSender, WebhookSender, webhook_session
from services.notifier.service import PRODUCER, NotifierService
from services.notifier.settings import NotifierSettings
from shared.consumer import event_types, own_events, subscribe_to_complaint_events
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters
from shared.events import (
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatusChanged,
)
from shared.ops_http import dependency_checks
from shared.proxies import uvicorn_proxy_options
from shared.rate_limits import CallerLimits
from shared.runtime import BackgroundTasks, build_broker, running
from shared.settings import refuse_unsafe, unsafe_secrets

SERVICE = "notifier"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside FastStream's loop: FastStream handles the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def create_app(settings: NotifierSettings) -> FastStream:
    # Webhook secrets need 16 characters or more in every environment (the directory's check).
    # Unset, each notifier process would sign its web inbox's sessions with a key of its own.
    secrets = ["notifier_pages_session_secret", "attachments_token"]
    if settings.notifier_citizen_sms_gateway_url:
        secrets.append("notifier_citizen_sms_gateway_secret")
    refuse_unsafe(unsafe_secrets(settings.environment, settings, *secrets))
    broker = build_broker(SERVICE, settings)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # A broken directory stops the start, with every problem listed, before anything runs.
        targets = settings.webhook_targets()
        directory = load_directory(settings.notifier_directory_file, targets=targets)
        pool = await create_pool(settings.database_url, max_size=10)
        async with pool.acquire() as connection:
            await NotifierRepository(connection).load_directory(directory.values())
        citizen_sms = settings.notifier_citizen_sms_gateway_url
        citizen_secret = settings.notifier_citizen_sms_gateway_secret
        service = NotifierService(
            pool,
            settings.notifier_public_url,
            citizen_sms,
            settings.complaint_events_topic,
            idempotency_window=settings.idempotency_window(),
            intake_url=settings.intake_public_url,
        )
        subscriber = subscribe_to_complaint_events(
            broker,
            service,
            group_id=settings.notifier_consumer_group,
            acts_on=event_types(
                ComplaintReceived, ComplaintRouted, ComplaintStatusChanged, ComplaintPlaceRequested
            ),
            passes_over=own_events(PRODUCER, ComplaintStatusChanged),
            on_poison=keep_in_dead_letters(pool, SCHEMA),
            topic=settings.complaint_events_topic,
        )
        queue = DeliveryQueue(
            pool,
            settings.retry_policy(),
            per_agency=settings.notifier_per_agency_concurrency,
            lease_s=settings.notifier_delivery_lease_s,
            topic=settings.complaint_events_topic,
            outcome_linger_s=settings.notifier_delivery_outcome_linger_s,
        )
        timeout = settings.notifier_webhook_timeout_s
        client = webhook_session(timeout, targets)
        smtp = SmtpSender(settings)
        worker = DeliveryWorker(
            queue,
            smtp,
            WebhookSender(client, targets),
            database_url=settings.database_url,
            concurrency=settings.notifier_delivery_workers,
            poll_s=settings.notifier_delivery_poll_s,
            citizen_sms_secret=citizen_secret.get_secret_value() if citizen_secret else None,
        )
        deadlines = DeadlineJob(
            pool, service.inbox_url, interval_s=settings.notifier_deadline_interval_s
        )
        background = BackgroundTasks()
        api = inbox_api(
            service,
            pool,
            checks=dependency_checks(pool, broker),
            background=background,
            settings=settings,
            callers=CallerLimits.parse(
                settings.notifier_rate_limit, settings.unknown_api_key_limit
            ),
        )
        server = _EmbeddedServer(
            uvicorn.Config(
                api,
                host=settings.bind_host,
                port=settings.notifier_http_port,
                log_level=settings.log_level.lower(),
                access_log=False,
                **uvicorn_proxy_options(settings.trusted_proxies),
            )
        )
        background.start(worker.run(), "deliveries")
        background.start(deadlines.run(), "deadlines")
        serving = asyncio.create_task(server.serve(), name="inbox-api")

        async def served() -> None:
            await asyncio.gather(serving, return_exceptions=True)

        lag_of = (subscriber, settings.notifier_consumer_group)
        closing = [served, client.close, smtp.close]
        async with running(settings, pool, SCHEMA, background, lag_of=lag_of, closing=closing):
            try:
                yield
            finally:
                server.should_exit = True  # finishes the requests it has, then returns

    return FastStream(broker, lifespan=lifespan)


settings = NotifierSettings()
app = create_app(settings)
