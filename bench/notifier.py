"""The notifier as a process: ComplaintRouted in → signed webhook received, at offered rates.

Latency is from sending ComplaintRouted to Kafka to the webhook's arrival at a local receiver
(127.0.0.1): consumption, the delivery queue in PostgreSQL, signing and the HTTP POST. The
notifier runs on a database of its own (created and dropped here) with ten agencies whose
webhooks all point at the receiver; emails go to a local aiosmtpd server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import date
from itertools import cycle

import asyncpg
from aiohttp import web
from aiosmtpd.controller import Controller

from bench.measure import Figures, figures, scratch_database
from services.notifier.domain.directory import AgencyContacts
from services.notifier.repository import NotifierRepository
from shared.agencies import agency_names
from shared.events import AuthorityLevel, ComplaintReceived, ComplaintRouted
from shared.kafka import idempotent_producer, publish, scratch_topic
from shared.settings import Settings
from shared.topics import TopicSpec
from testkit.factories import complaint_received
from testkit.processes import ServiceProcess, free_port

SECRET = "bench-webhook-secret-0123456789"
AGENCIES = ("63.pupr", "63.dishub", "63.disdikbud", "63.dinkes", "63.dlh", "6371", "6372", "6303")


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        return "250 OK"


def _pair(agency: str) -> tuple[ComplaintReceived, ComplaintRouted]:
    received = complaint_received()
    routed = ComplaintRouted(
        **received.caused(
            producer="bench",
            tracking_number=received.complaint.tracking_number,
            agency_code=agency,
            level=AuthorityLevel.PROVINSI,
            confidence=0.9,
            routing_table_version="bench",
            disposition_due=date(2026, 12, 3),
            followup_due=date(2026, 12, 10),
        )
    )
    return received, routed


class _Receiver:
    """When each assignment's webhook arrived; `done` once every expected one has."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.expected: set[str] = set()
        self.done = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrived.setdefault(body["tracking_number"], time.perf_counter())
        if self.expected <= self.arrived.keys():
            self.done.set()
        return web.Response(status=200)


async def notifier_service(
    settings: Settings, rates: tuple[float, ...], count: int
) -> list[Figures]:
    receiver = _Receiver()
    application = web.Application()
    application.router.add_post("/hook", receiver.receive)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    hook_port, smtp_port, http_port = free_port(), free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    smtp = Controller(_Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    async with scratch_topic(settings.kafka_bootstrap_servers, "bench.notifier") as topic:
        names = agency_names()
        try:
            async with scratch_database(
                settings.database_url, "lapor_hub_bench", ("notifier",)
            ) as database_url:
                process = ServiceProcess(
                    name="bench-notifier",
                    module="services.notifier",
                    ready_url=f"http://127.0.0.1:{http_port}/readyz",
                    env={
                        "LAPOR_HUB_DATABASE_URL": database_url,
                        "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic.name,
                        "LAPOR_HUB_NOTIFIER_HTTP_PORT": str(http_port),
                        "LAPOR_HUB_NOTIFIER_SMTP_PORT": str(smtp_port),
                        "LAPOR_HUB_NOTIFIER_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
                        "LAPOR_HUB_LOG_LEVEL": "WARNING",
                    },
                )
                await asyncio.to_thread(process.start)
                connection = await asyncpg.connect(database_url)
                try:
                    for code in AGENCIES:
                        await NotifierRepository(connection).put_contacts(
                            AgencyContacts(
                                code=code,
                                name=names[code],
                                emails=(f"penghubung@{code}.bench.example",),
                                escalation_email=f"pimpinan@{code}.bench.example",
                                webhook={
                                    "url": f"http://127.0.0.1:{hook_port}/hook",
                                    "secret": SECRET,
                                },
                            )
                        )
                finally:
                    await connection.close()
                try:
                    return [
                        await _stage(settings, topic.name, rate, count, receiver) for rate in rates
                    ]
                finally:
                    await asyncio.to_thread(process.stop)
        finally:
            smtp.stop()
            await runner.cleanup()


async def _stage(
    settings: Settings, topic: str, rate: float, count: int, receiver: _Receiver
) -> Figures:
    pairs = [_pair(agency) for agency, _ in zip(cycle(AGENCIES), range(count), strict=False)]
    receiver.expected = {routed.tracking_number for _, routed in pairs}
    receiver.done.clear()
    producer = idempotent_producer(settings.kafka_bootstrap_servers, client_id="bench-router")
    await producer.start()
    sent_at: dict[str, float] = {}
    try:
        spec = TopicSpec(topic, 1)
        for received, _ in pairs:  # the complaints are known before they are routed
            await publish(producer, received, spec)
        began = time.perf_counter()
        for n, (_, routed) in enumerate(pairs):
            if (pause := began + n / rate - time.perf_counter()) > 0:
                await asyncio.sleep(pause)
            sent_at[routed.tracking_number] = time.perf_counter()
            await publish(producer, routed, spec)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.done.wait(), 120)
    finally:
        await producer.stop()
    arrived = receiver.arrived
    latencies = [arrived[number] - sent for number, sent in sent_at.items() if number in arrived]
    return figures(
        f"notifier: routed → webhook received @ {rate:.0f}/s",
        latencies,
        max(arrived[n] for n in sent_at if n in arrived) - began,
        offered_per_s=rate,
    )
