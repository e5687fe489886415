"""The notifier against real servers: PostgreSQL, Kafka, an SMTP server (aiosmtpd) and an HTTP
webhook receiver on 127.0.0.1 that verifies signatures and drops duplicate delivery ids."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiosmtpd.controller import Controller

from services.notifier.app import _EmbeddedServer
from services.notifier.deadlines import DeadlineJob
from services.notifier.delivery import DeliveryQueue, DeliveryWorker
from services.notifier.directory import DIRECTORY_FILE
from services.notifier.domain.directory import AgencyContacts, Webhook
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.targets import WebhookTargets, webhook_targets
from services.notifier.http import inbox_api
from services.notifier.repository import KeyRole, NotifierRepository
from services.notifier.senders import (
    DeliveryFailedError,
    SmtpSender,
    WebhookSender,
    webhook_session,
)
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from shared.agencies import TRIAGE_AGENCY
from shared.consumer import apply_batch
from shared.db import create_pool
from shared.dead_letters import keep_in_dead_letters
from shared.events import (
    Actor,
    ActorKind,
    AgencyNotified,
    AnyEvent,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    Event,
    encode_event,
    parse_event,
)
from shared.kafka import ensure_topics
from shared.rate_limits import CallerLimits
from shared.runtime import BackgroundTasks
from shared.topics import TopicSpec
from testkit.factories import complaint_received, publish_all, routed
from testkit.processes import ServiceProcess, free_port
from testkit.staff import PASSWORD, create_staff_account
from testkit.waiting import eventually as waited

SECRET = "rahasia-bersama-untuk-uji-0123456789"
NIK = "6303015501900002"
PUBLIC_URL = "http://127.0.0.1:8081"
# The receivers of these tests listen on loopback, which the notifier refuses unless allowed.
LOOPBACK_RECEIVERS = webhook_targets("development", "127.0.0.0/8")
# Where the in-process tests' events go (the outbox relay of the process tests publishes them).
OUTBOX_TOPIC = TopicSpec(f"test.notifier-{uuid.uuid4().hex[:8]}", partitions=1)


@pytest.fixture(scope="module", autouse=True)
async def outbox_topic(bootstrap_servers: str) -> None:
    await ensure_topics(bootstrap_servers, (OUTBOX_TOPIC,))


# --- Real receivers -------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    def about(self, received: ComplaintReceived) -> list[EmailMessage]:
        """Messages about this complaint (a shared test database may hold others' leftovers)."""
        number = received.complaint.tracking_number
        with self._lock:
            return [m for m in self.messages if number in str(m["Subject"])]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class WebhookReceiver:
    """Verifies the signature itself (not with the hub's code) and keeps one body per delivery
    id, as a careful receiver would. Fails the first `fail_first` signed requests."""

    secret: str
    fail_first: int = 0
    retry_after: str | None = None
    delay_s: float = 0.0
    attempts: list[float] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    bad_signatures: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        # As the README tells receivers: timestamp, delivery id and body signed together.
        timestamp = request.headers.get("X-Lapor-Timestamp", "")
        delivery_id = request.headers.get("X-Lapor-Delivery", "")
        signed = f"{timestamp}.{delivery_id}.".encode() + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Lapor-Signature", "")
        if not hmac.compare_digest(signature, f"sha256={expected}"):
            self.bad_signatures += 1
            return web.Response(status=401)
        assert abs(time.time() - int(timestamp)) < 60
        self.attempts.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if len(self.attempts) <= self.fail_first:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=503, headers=headers)
        if delivery_id in self.accepted:
            self.duplicates += 1
        else:
            self.accepted[delivery_id] = json.loads(body)
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def serving(receiver: WebhookReceiver) -> AsyncIterator[WebhookReceiver]:
    application = web.Application()
    application.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    receiver.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# --- In-process notifier on the real database -------------------------------------------------


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=10)
    yield pool
    await pool.close()


def _agency(receiver: WebhookReceiver | None = None, *, public: bool = False) -> AgencyContacts:
    code = f"t.{uuid.uuid4().hex[:8]}"
    webhook = None
    if receiver is not None:
        webhook = {"url": receiver.url, "secret": receiver.secret, "public": public}
    return AgencyContacts.model_validate(
        {
            "code": code,
            "name": f"Dinas Uji {code}",
            "emails": [f"penghubung@{code.replace('.', '-')}.example"],
            "escalation_email": f"pimpinan@{code.replace('.', '-')}.example",
            "webhook": webhook,
        }
    )


async def _register(pool: asyncpg.Pool, *agencies: AgencyContacts) -> None:
    async with pool.acquire() as connection:
        for agency in agencies:
            await NotifierRepository(connection).put_contacts(agency)


def _routed(
    received: ComplaintReceived, agency: str, previous: str | None = None, round_: int = 1
) -> ComplaintRouted:
    """Due dates the deadline tests count from (follow-up due Thursday 10 Dec 2026)."""
    return routed(
        received,
        agency,
        round_,
        previous=previous,
        disposition_due=date(2026, 12, 3),
        followup_due=date(2026, 12, 10),
    )


async def _assign(
    pool: asyncpg.Pool, agency: AgencyContacts, received: ComplaintReceived | None = None
) -> ComplaintReceived:
    """A complaint received, then routed to the agency, through the notifier's handlers."""
    received = received or complaint_received()
    service = NotifierService(pool, PUBLIC_URL)
    await service.handle(received)
    await service.handle(_routed(received, agency.code))
    return received


@contextlib.asynccontextmanager
async def running_worker(
    pool: asyncpg.Pool,
    database_url: str,
    smtp_port: int,
    *,
    max_attempts: int = 4,
    initial_s: float = 0.2,
    per_agency: int = 2,
    lease_s: float = 30.0,
    outcome_linger_s: float = 0.0,
    targets: WebhookTargets = LOOPBACK_RECEIVERS,
) -> AsyncIterator[DeliveryQueue]:
    policy = RetryPolicy(
        max_attempts=max_attempts,
        initial=timedelta(seconds=initial_s),
        ceiling=timedelta(seconds=initial_s * 8),
    )
    queue = DeliveryQueue(
        pool,
        policy,
        per_agency=per_agency,
        lease_s=lease_s,
        topic=OUTBOX_TOPIC.name,
        outcome_linger_s=outcome_linger_s,
    )
    async with webhook_session(2.0, targets) as client:
        worker = DeliveryWorker(
            queue,
            SmtpSender(NotifierSettings(notifier_smtp_port=smtp_port)),
            WebhookSender(client, targets),
            database_url=database_url,
            concurrency=8,
            poll_s=0.05,
        )
        task = asyncio.create_task(worker.run())
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _deliveries(pool: asyncpg.Pool, agency: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT delivery_id, channel, kind, state, attempts, last_error"
        " FROM notifier.deliveries WHERE agency_code = $1 ORDER BY channel",
        agency,
    )


async def test_a_redelivered_assignment_notifies_once(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        service = NotifierService(pool, PUBLIC_URL)
        received = complaint_received()
        routed = _routed(received, agency.code)
        async with running_worker(pool, database_url, smtp_port):
            for event in (received, routed, received, routed, routed):
                await service.handle(event)
            await eventually(lambda: len(receiver.accepted) == 1 and len(box.about(received)) == 1)
            await asyncio.sleep(0.5)
        rows = await _deliveries(pool, agency.code)
        assert [(r["channel"], r["state"]) for r in rows] == [
            ("email", "delivered"),
            ("webhook", "delivered"),
        ]
        assert len(receiver.attempts) == 1
        assert len(box.about(received)) == 1
        assert receiver.bad_signatures == 0
        events = await _outbox_events(pool, received.complaint_id)
        notified = [e for e in events if isinstance(e, AgencyNotified)]
        assert sorted(e.channel for e in notified) == ["email", "webhook"]
        assert all(e.causation_id == routed.event_id for e in notified)


async def test_an_alert_arrives_as_a_well_formed_multipart_email_and_a_retry_keeps_its_id(
    mailbox: tuple[Mailbox, int],
) -> None:
    box, smtp_port = mailbox
    sender = SmtpSender(NotifierSettings(notifier_smtp_port=smtp_port))
    delivery_id = str(uuid.uuid4())
    payload = {
        "to": ["penghubung@pupr.example", "sekretariat@pupr.example"],
        "subject": "[RAHASIA] [LAPOR Kalsel] Pengaduan LPR-1: Jalan “ambles” di Banjarbaru, "
        "kendaraan roda empat terperosok, warga menutup jalur dengan batang pisang",
        "text": "Yth. Pejabat Penghubung,\n.\n.baris berawalan titik\nIsi: jalan ambles 3 m² " * 30,
        "html": "<html><body><p>Jalan <strong>ambles</strong> — 3 m²</p></body></html>",
    }
    try:
        await sender.send(delivery_id, payload)
        await sender.send(delivery_id, payload)  # a retry, on the session kept open
    finally:
        await sender.close()
    first, again = box.messages
    for mail in (first, again):
        assert all(not part.defects for part in mail.walk())
        assert mail.get_content_type() == "multipart/alternative"
        assert mail["From"] == "LAPOR Kalsel <noreply@lapor-kalsel.example>"
        assert mail["To"] == ", ".join(payload["to"])
        assert mail["Subject"] == payload["subject"]
        assert mail["Date"].datetime is not None
        assert mail["X-Lapor-Delivery"] == delivery_id
        assert mail.get_body(("plain",)).get_content() == payload["text"]  # type: ignore[union-attr]
        assert mail.get_body(("html",)).get_content() == payload["html"]  # type: ignore[union-attr]
    assert first["Message-ID"] == again["Message-ID"] == f"<{delivery_id}@lapor-hub>"


async def test_a_reporter_address_beyond_ascii_is_sent_with_smtputf8() -> None:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    sender = SmtpSender(NotifierSettings(notifier_smtp_port=port))
    payload = {"to": ["wärga@contoh.id"], "subject": "Kabar", "text": "Teks", "html": "<p>H</p>"}
    try:
        await sender.send(str(uuid.uuid4()), payload)
    finally:
        await sender.close()
        controller.stop()
    [mail] = box.messages
    assert mail["To"] == "wärga@contoh.id"  # raw UTF-8 (RFC 6532): an address is not encoded
    assert mail.get_body(("plain",)).get_content() == "Teks"  # type: ignore[union-attr]


class _Stalling:
    """A mail server that takes the message and never answers."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(5)
        return "250 OK"


async def test_a_mail_server_that_stops_answering_fails_the_attempt_within_its_timeout() -> None:
    port = free_port()
    controller = Controller(_Stalling(), hostname="127.0.0.1", port=port)
    controller.start()
    sender = SmtpSender(NotifierSettings(notifier_smtp_port=port, notifier_smtp_timeout_s=0.5))
    payload = {"to": ["penghubung@pupr.example"], "subject": "Uji", "text": "a", "html": "b"}
    began = time.monotonic()
    try:
        with pytest.raises(DeliveryFailedError) as failure:
            await sender.send(str(uuid.uuid4()), payload)
    finally:
        await sender.close()
        controller.stop()
    assert not failure.value.permanent
    assert time.monotonic() - began < 2


def _record(event: Event, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(event)
    key = str(event.complaint_id).encode()
    return ConsumerRecord(
        "test.notifier", 0, offset, 0, 0, key, value, None, len(key), len(value), []
    )


async def test_a_batch_is_applied_together_and_a_never_received_complaint_is_a_dead_letter(
    pool: asyncpg.Pool,
) -> None:
    first, second = _agency(), _agency()
    await _register(pool, first, second)
    service = NotifierService(pool, PUBLIC_URL)
    rerouted, fresh, never = complaint_received(), complaint_received(), complaint_received()
    before = _routed(rerouted, first.code)
    assert await service.apply_together((rerouted, fresh)) == {
        rerouted.event_id,
        fresh.event_id,
    }
    await service.handle(before)
    again = _routed(rerouted, second.code, previous=first.code, round_=2)
    batch = [again, _routed(fresh, second.code), _routed(never, first.code)]
    records = [_record(event, offset) for offset, event in enumerate(batch)]
    together: list[set[uuid.UUID]] = []

    async def apply_together(events: Sequence[AnyEvent]) -> set[uuid.UUID]:
        together.append(await service.apply_together(events))
        return together[-1]

    await apply_batch(
        records,
        service.handle,
        keep_in_dead_letters(pool, "notifier"),
        4,
        handle_leading=apply_together,
    )
    assert together == [{again.event_id, batch[1].event_id}]  # the third went alone
    # Redelivered, the applied ones are applied again and change nothing (counted below).
    assert await service.apply_together(batch[:2]) == {again.event_id, batch[1].event_id}

    current = await pool.fetch(
        "SELECT complaint_id, agency_code, current FROM notifier.assignments"
        " WHERE complaint_id = ANY($1::uuid[])",
        [rerouted.complaint_id, fresh.complaint_id, never.complaint_id],
    )
    assert sorted((r["complaint_id"], r["agency_code"], r["current"]) for r in current) == sorted(
        [
            (rerouted.complaint_id, first.code, False),
            (rerouted.complaint_id, second.code, True),
            (fresh.complaint_id, second.code, True),
        ]
    )
    queued = await pool.fetch(
        "SELECT complaint_id, agency_code, kind FROM notifier.deliveries"
        " WHERE complaint_id = ANY($1::uuid[]) AND agency_code <> 'citizen'",
        [rerouted.complaint_id, fresh.complaint_id, never.complaint_id],
    )
    assert sorted((r["complaint_id"], r["agency_code"], r["kind"]) for r in queued) == sorted(
        [
            (rerouted.complaint_id, first.code, "assigned"),
            (rerouted.complaint_id, second.code, "assigned"),
            (rerouted.complaint_id, first.code, "rerouted"),
            (fresh.complaint_id, second.code, "assigned"),
        ]
    )
    poison = await pool.fetch("SELECT payload, error FROM notifier.dead_letters")
    [kept] = [row for row in poison if parse_event(row["payload"]).event_id == batch[2].event_id]
    assert kept["error"].startswith("MissingComplaintError")


async def _outbox_events(pool: asyncpg.Pool, complaint_id: uuid.UUID) -> list[Event]:
    rows = await pool.fetch(
        "SELECT payload FROM notifier.outbox WHERE complaint_id = $1 ORDER BY id", complaint_id
    )
    return [parse_event(row["payload"]) for row in rows]


async def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    _, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET, fail_first=1000)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        await _assign(pool, agency)
        async with running_worker(pool, database_url, smtp_port, max_attempts=4, initial_s=0.2):
            await eventually(lambda: len(receiver.attempts) == 4)
            await asyncio.sleep(0.3)
            gaps = [b - a for a, b in zip(receiver.attempts, receiver.attempts[1:], strict=False)]
            # Waits of 0.1-0.2, 0.2-0.4, 0.4-0.8 s: growing, never immediate.
            assert gaps[0] >= 0.09
            assert gaps[2] >= 0.39
            assert len(receiver.attempts) == 4  # no fifth attempt
            webhook = [r for r in await _deliveries(pool, agency.code) if r["channel"] == "webhook"]
            assert webhook[0]["state"] == "dead"
            assert webhook[0]["attempts"] == 4
            assert "HTTP 503" in webhook[0]["last_error"]
            async with pool.acquire() as connection:
                dead = await NotifierRepository(connection).dead_letters(10_000)
            assert webhook[0]["delivery_id"] in {row["delivery_id"] for row in dead}

            # The receiver is fixed; an operator sends the dead letter again, by hand.
            receiver.fail_first = 0
            async with pool.acquire() as connection:
                assert await NotifierRepository(connection).retry_dead(webhook[0]["delivery_id"])
            await eventually(lambda: len(receiver.accepted) == 1)


async def test_three_failures_then_success_is_one_accepted_delivery(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    _, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET, fail_first=3, retry_after="0")) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        received = await _assign(pool, agency)
        async with running_worker(pool, database_url, smtp_port, max_attempts=5, initial_s=0.1):
            await eventually(lambda: len(receiver.accepted) == 1)
            await asyncio.sleep(0.5)
        assert len(receiver.attempts) == 4
        assert receiver.duplicates == 0
        webhook = [r for r in await _deliveries(pool, agency.code) if r["channel"] == "webhook"]
        assert (webhook[0]["state"], webhook[0]["attempts"]) == ("delivered", 4)
        [notified] = [
            e
            for e in await _outbox_events(pool, received.complaint_id)
            if isinstance(e, AgencyNotified) and e.channel == "webhook"
        ]
        assert notified.attempts == 4
        assert str(notified.delivery_id) in receiver.accepted


async def test_a_crashed_workers_deliveries_are_taken_up_after_its_lease(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        received = await _assign(pool, agency)
        # A worker claims everything due and dies before sending (no outcome recorded).
        crashed = DeliveryQueue(
            pool, RetryPolicy(), per_agency=8, lease_s=1.0, topic=OUTBOX_TOPIC.name
        )
        claimed = (await crashed.claim(10_000)).deliveries
        assert {d.agency_code for d in claimed} >= {agency.code}
        async with running_worker(pool, database_url, smtp_port):
            await asyncio.sleep(0.5)
            assert receiver.accepted == {}  # still leased to the dead worker
            await eventually(lambda: len(receiver.accepted) == 1 and len(box.about(received)) == 1)
            await asyncio.sleep(0.5)
        rows = await _deliveries(pool, agency.code)
        assert [(r["state"], r["attempts"]) for r in rows] == [("delivered", 2)] * 2


async def test_one_agency_gets_no_more_than_its_limit_at_once(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    _, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET, delay_s=0.3)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        for _ in range(6):
            await _assign(pool, agency)
        async with running_worker(pool, database_url, smtp_port, per_agency=2):
            await eventually(lambda: len(receiver.accepted) == 6)
        assert receiver.max_in_flight <= 2


async def test_deliveries_done_together_are_marked_together_each_announced_once(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    _, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET, delay_s=0.05)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        complaints = [await _assign(pool, agency) for _ in range(12)]
        async with running_worker(
            pool, database_url, smtp_port, per_agency=8, outcome_linger_s=0.02
        ):
            await eventually(lambda: len(receiver.accepted) == 12)
            await eventually_async(lambda: _all_delivered(pool, agency.code), timeout_s=10.0)
    for received in complaints:
        notified = [
            e
            for e in await _outbox_events(pool, received.complaint_id)
            if isinstance(e, AgencyNotified)
        ]
        assert sorted(e.channel for e in notified) == ["email", "webhook"]
    rows = await _deliveries(pool, agency.code)
    assert {r["state"] for r in rows} == {"delivered"} and len(rows) == 24


async def _all_delivered(pool: asyncpg.Pool, agency: str) -> bool:
    states = {r["state"] for r in await _deliveries(pool, agency)}
    return states == {"delivered"}


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_reroute_tells_the_previous_agency_and_keeps_confidential_text_private(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        first = _agency(receiver)
        second = _agency(receiver, public=True)
        await _register(pool, first, second)
        received = complaint_received(
            confidential=True, body="Dugaan pungutan liar di loket, NIK saya " + NIK
        )
        service = NotifierService(pool, PUBLIC_URL)
        async with running_worker(pool, database_url, smtp_port):
            await service.handle(received)
            await service.handle(_routed(received, first.code))
            await service.handle(_routed(received, second.code, previous=first.code, round_=2))
            await eventually(lambda: len(receiver.accepted) == 3)
        bodies = list(receiver.accepted.values())
        kinds = sorted((b["type"], b["agency_code"]) for b in bodies)
        assert kinds == sorted(
            [
                ("complaint.assigned", first.code),
                ("complaint.assigned", second.code),
                ("complaint.rerouted_away", first.code),
            ]
        )
        public = next(
            b
            for b in bodies
            if b["type"] == "complaint.assigned" and b["agency_code"] == second.code
        )
        assert public["complaint"] is None  # a public channel gets only the link
        assert public["confidential"] is True
        private = next(
            b
            for b in bodies
            if b["type"] == "complaint.assigned" and b["agency_code"] == first.code
        )
        assert "pungutan liar" in private["complaint"]["body"]
        assert NIK not in json.dumps(bodies)
        mails = box.about(received)
        assert any("dialihkan" in m["Subject"] for m in mails)
        assert all(NIK not in m.as_string() for m in mails)


async def test_a_reporters_reply_reaches_the_assigned_agency_masked_once(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        agency = _agency(receiver)
        await _register(pool, agency)
        received = complaint_received(anonymous=True, reporter={"name": "Siti Aminah"})
        reply = ComplaintStatusChanged(
            **received.caused(
                producer="intake",
                tracking_number=received.complaint.tracking_number,
                status=ComplaintStatus.REPORTER_REPLIED,
                actor=Actor(kind=ActorKind.REPORTER, id="sms"),
                note=f"Siti Aminah di sini: masih rusak, NIK {NIK}, hp 0812-5555-0199",
            )
        )
        service = NotifierService(pool, PUBLIC_URL)
        async with running_worker(pool, database_url, smtp_port):
            await _assign(pool, agency, received)
            await service.handle(reply)
            await service.handle(reply)  # redelivered: passed on once
            await eventually(lambda: len(receiver.accepted) == 2)
            await eventually(lambda: len(box.about(received)) == 2)
        replies = [
            b for b in receiver.accepted.values() if b["type"] == "complaint.reporter_replied"
        ]
        assert len(replies) == 1
        assert "masih rusak" in replies[0]["text"]
        mail = next(m for m in box.about(received) if "Tanggapan pelapor" in m["Subject"])
        for shown in (json.dumps(replies), mail.as_string()):
            assert NIK not in shown and "5555" not in shown and "Siti" not in shown
        kinds = sorted(r["kind"] for r in await _deliveries(pool, agency.code))
        assert kinds == ["assigned", "assigned", "reply", "reply"]


async def test_a_reminder_and_an_escalation_fire_once_on_a_controlled_clock(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    agency, admin = _agency(), _agency()
    await _register(pool, agency, admin.model_copy(update={"code": TRIAGE_AGENCY}))
    service = NotifierService(pool, PUBLIC_URL)
    received = complaint_received()
    await service.handle(received)
    await service.handle(_routed(received, agency.code))  # follow-up due Thursday 10 Dec 2026
    now = [datetime(2026, 12, 8, 1, 0, tzinfo=UTC)]
    job = DeadlineJob(pool, service.inbox_url, clock=lambda: now[0])

    async def kinds() -> list[str]:
        rows = await _deliveries(pool, agency.code)
        return sorted(r["kind"] for r in rows if r["kind"] != "assigned")

    await job.tick()
    assert await kinds() == []
    now[0] = datetime(2026, 12, 9, 1, 0, tzinfo=UTC)  # Wednesday 09:00 WITA
    await job.tick()
    await job.tick()
    await DeadlineJob(pool, service.inbox_url, clock=lambda: now[0]).tick()  # after a restart
    assert await kinds() == ["reminder"]
    now[0] = datetime(2026, 12, 11, 1, 0, tzinfo=UTC)  # Friday: a working day past the deadline
    await job.tick()
    await job.tick()
    assert await kinds() == ["escalation", "reminder"]
    async with running_worker(pool, database_url, smtp_port):
        await eventually(lambda: len(box.about(received)) == 3)
        await asyncio.sleep(0.3)
    by_subject = {str(m["Subject"]): m for m in box.about(received)}
    [reminder] = [m for s, m in by_subject.items() if "Pengingat" in s]
    [escalation] = [m for s, m in by_subject.items() if "ESKALASI" in s]
    assert reminder["To"] == agency.emails[0]
    assert "10 Desember 2026" in str(reminder["Subject"])
    assert escalation["To"] == f"{agency.escalation_email}, {admin.emails[0]}"


# --- The inbox API, served by uvicorn on 127.0.0.1 -------------------------------------------


@contextlib.asynccontextmanager
async def serving_api(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    port = free_port()
    server = _EmbeddedServer(
        uvicorn.Config(
            inbox_api(
                NotifierService(pool, PUBLIC_URL, topic=OUTBOX_TOPIC.name),
                pool,
                checks={"postgres": ready},
                background=BackgroundTasks(),
                callers=CallerLimits.parse("1000/second", "1000/second"),
            ),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout_s=10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def _key(
    pool: asyncpg.Pool, agency: str | None, role: KeyRole = KeyRole.AGENCY
) -> dict[str, str]:
    async with pool.acquire() as connection:
        key = await NotifierRepository(connection).create_api_key(
            f"test-{uuid.uuid4().hex[:8]}", agency, role
        )
    return {"X-API-Key": key}


async def test_an_agency_sees_and_acts_on_its_own_assignments_only(pool: asyncpg.Pool) -> None:
    ours, theirs = _agency(), _agency()
    await _register(pool, ours, theirs)
    service = NotifierService(pool, PUBLIC_URL)
    mine = complaint_received(anonymous=True, body=f"NIK {NIK}, hubungi 081255550101")
    other = complaint_received()
    for received, agency in ((mine, ours), (other, theirs)):
        await service.handle(received)
        await service.handle(_routed(received, agency.code))
    our_key, their_key = await _key(pool, ours.code), await _key(pool, theirs.code)
    mine_number = mine.complaint.tracking_number
    other_number = other.complaint.tracking_number
    async with serving_api(pool) as api:
        assert (await api.get("/inbox/assignments")).status_code == 401
        assert (
            await api.get("/inbox/assignments", headers={"X-API-Key": "nope"})
        ).status_code == 401
        listed = (await api.get("/inbox/assignments", headers=our_key)).json()
        assert [a["tracking_number"] for a in listed] == [mine_number]
        assert listed[0]["complaint"]["reporter"] is None
        assert NIK not in json.dumps(listed) and "55550101" not in json.dumps(listed)
        assert listed[0]["allowed_actions"] == ["acknowledge", "reject"]
        for path in ("", "/acknowledge"):
            response = await api.request(
                "GET" if not path else "POST",
                f"/inbox/assignments/{other_number}{path}",
                headers=our_key,
            )
            assert response.status_code == 404
        assert (await api.get(f"/inbox/assignments/{other_number}", headers=their_key)).is_success

        invalid = await api.post(
            f"/inbox/assignments/{mine_number}/resolve", headers=our_key, json={}
        )
        assert invalid.status_code == 409
        assert invalid.json()["allowed_actions"] == ["acknowledge", "reject"]

        steps = [
            ("acknowledge", {}),
            ("follow-up", {"text": "Petugas sudah ke lokasi."}),
            ("resolve", {"note": "Sudah diperbaiki."}),
        ]
        for action, body in steps:
            response = await api.post(
                f"/inbox/assignments/{mine_number}/{action}", headers=our_key, json=body
            )
            assert response.status_code == 200, response.text
        assert response.json()["status"] == "resolved"
        again = await api.post(f"/inbox/assignments/{mine_number}/acknowledge", headers=our_key)
        assert again.status_code == 409
        assert again.json()["allowed_actions"] == []
        assert (await api.get("/openapi.json")).json()["info"]["title"].startswith("lapor-hub")
        assert "lapor_hub_notifier" in (await api.get("/metrics")).text
    changes = [
        e
        for e in await _outbox_events(pool, mine.complaint_id)
        if isinstance(e, ComplaintStatusChanged)
    ]
    assert [(e.previous_status, e.status) for e in changes] == [
        (ComplaintStatus.ROUTED, ComplaintStatus.ACKNOWLEDGED),
        (ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.FOLLOWED_UP),
        (ComplaintStatus.FOLLOWED_UP, ComplaintStatus.RESOLVED),
    ]
    assert changes[1].note == "Petugas sudah ke lokasi."
    assert all(e.actor.id == ours.code and e.producer == "notifier" for e in changes)


async def test_the_reporter_hears_of_routing_follow_up_and_resolution(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    agency = _agency()
    await _register(pool, agency)
    received = await _assign(
        pool, agency, complaint_received(anonymous=True, reporter={"email": "warga@contoh.id"})
    )
    key = await _key(pool, agency.code)
    number = received.complaint.tracking_number
    async with serving_api(pool) as api:
        for action, body in (
            ("acknowledge", {}),
            ("follow-up", {"text": "Lubang sudah ditambal."}),
            ("resolve", {}),
        ):
            response = await api.post(
                f"/inbox/assignments/{number}/{action}", headers=key, json=body
            )
            assert response.is_success
    async with running_worker(pool, database_url, smtp_port):
        await eventually(
            lambda: len([m for m in box.messages if m["To"] == "warga@contoh.id"]) == 3
        )
        await asyncio.sleep(0.3)
    to_reporter = [m for m in box.messages if m["To"] == "warga@contoh.id"]
    texts = [str(m.get_body(("plain",)).get_content()) for m in to_reporter]  # type: ignore[union-attr]
    assert any(f"diteruskan kepada {agency.name}" in t for t in texts)
    assert any("Lubang sudah ditambal." in t for t in texts)
    assert any("dinyatakan selesai" in t for t in texts)
    # No AgencyNotified for what went to the reporter.
    notified = [
        e
        for e in await _outbox_events(pool, received.complaint_id)
        if isinstance(e, AgencyNotified)
    ]
    assert {e.agency_code for e in notified} == {agency.code}


async def test_a_rejection_is_published_and_dead_letters_are_for_operators(
    pool: asyncpg.Pool,
) -> None:
    agency = _agency()
    await _register(pool, agency)
    received = await _assign(pool, agency)
    agency_key = await _key(pool, agency.code)
    operator_key = await _key(pool, None, KeyRole.DEAD_LETTER_OPERATOR)
    number = received.complaint.tracking_number
    async with serving_api(pool) as api:
        missing_reason = await api.post(
            f"/inbox/assignments/{number}/reject", headers=agency_key, json={"reason": " "}
        )
        assert missing_reason.status_code == 422
        rejected = await api.post(
            f"/inbox/assignments/{number}/reject",
            headers=agency_key,
            json={"reason": "Jalan kota, bukan provinsi", "suggested_agency_code": "6371"},
        )
        assert rejected.json()["status"] == "rejected"
        assert (await api.get("/admin/dead-letters", headers=agency_key)).status_code == 403
        assert (await api.get("/admin/dead-letters", headers=operator_key)).status_code == 200
        unknown = await api.post(f"/admin/deliveries/{uuid.uuid4()}/retry", headers=operator_key)
        assert unknown.status_code == 404
    [change] = [
        e
        for e in await _outbox_events(pool, received.complaint_id)
        if isinstance(e, ComplaintStatusChanged)
    ]
    assert change.status is ComplaintStatus.REJECTED
    assert change.suggested_agency_code == "6371"
    assert change.note == "Jalan kota, bukan provinsi"


async def test_directory_admins_edit_contacts_and_dead_letter_operators_only_dead_letters(
    pool: asyncpg.Pool,
) -> None:
    """The console's key (dead letters) can no longer point an agency's alerts elsewhere."""
    agency = _agency()
    await _register(pool, agency)
    admin = await _key(pool, None, KeyRole.DIRECTORY_ADMIN)
    letters = await _key(pool, None, KeyRole.DEAD_LETTER_OPERATOR)
    own = await _key(pool, agency.code)
    moved = agency.model_copy(update={"emails": ("penyerang@contoh.id",)}).model_dump_json()
    path = f"/admin/agencies/{agency.code}"
    json_type = {"content-type": "application/json"}
    async with serving_api(pool) as api:
        refused = [
            (await api.put(path, headers={**key, **json_type}, content=moved)).status_code
            for key in (letters, own)
        ]
        assert (await api.get("/admin/dead-letters", headers=admin)).status_code == 403
        assert (await api.get("/admin/dead-letters", headers=letters)).status_code == 200
        async with pool.acquire() as connection:
            unchanged = await NotifierRepository(connection).contacts(agency.code)
        edited = await api.put(path, headers={**admin, **json_type}, content=moved)
    assert refused == [403, 403]
    assert unchanged is not None and unchanged.emails == agency.emails
    assert edited.status_code == 204


async def test_a_contact_change_is_recorded_with_its_key_and_told_to_the_old_addresses(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        agency = _agency(receiver)
    await _register(pool, agency)
    name = f"admin-{uuid.uuid4().hex[:6]}"
    async with pool.acquire() as connection:
        key = await NotifierRepository(connection).create_api_key(
            name, None, KeyRole.DIRECTORY_ADMIN
        )
    moved = agency.model_copy(
        update={
            "emails": ("penyerang@contoh.id",),
            "webhook": Webhook(url="https://hook.penyerang.example/x?t=1", secret="z" * 20),
        }
    )
    old_addresses = {*agency.emails, agency.escalation_email}

    def notices() -> list[EmailMessage]:
        return [m for m in box.messages if agency.name in str(m["Subject"])]

    async with running_worker(pool, database_url, smtp_port), serving_api(pool) as api:
        answer = await api.put(
            f"/admin/agencies/{agency.code}",
            headers={"X-API-Key": key, "content-type": "application/json"},
            content=moved.model_dump_json(),
        )
        assert answer.status_code == 204
        await eventually(lambda: len(notices()) == 1)
    [notice] = notices()
    assert set(str(notice["To"]).split(", ")) == old_addresses  # not the new address
    text = _plain(notice)
    assert f"API key {name}" in text
    assert "penyerang@contoh.id" in text and "https://hook.penyerang.example" in text
    assert "t=1" not in text and SECRET not in text and "z" * 20 not in text
    change = await pool.fetchrow(
        "SELECT changed_by, previous, contacts FROM notifier.agency_contact_changes"
        " WHERE agency_code = $1",
        agency.code,
    )
    assert change["changed_by"] == f"API key {name}"
    assert json.loads(change["previous"])["emails"] == list(agency.emails)
    assert json.loads(change["contacts"])["emails"] == ["penyerang@contoh.id"]
    assert SECRET not in change["previous"] and "z" * 20 not in change["contacts"]


async def _webhooks_dead(pool: asyncpg.Pool, codes: list[str]) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT bool_and(state = 'dead') FROM notifier.deliveries"
            " WHERE agency_code = ANY($1::text[]) AND channel = 'webhook'",
            codes,
        )
    )


async def test_webhooks_reach_no_private_address_follow_no_redirect_and_store_no_details(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    """Real receivers on loopback; the notifier's rules as in production for addresses (none
    allowed) for the first two agencies, loopback allowed for the others."""
    _, smtp_port = mailbox
    landed: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    async def elsewhere(request: web.Request) -> web.Response:
        landed.append(await request.text())  # a signed alert where the directory never said
        return web.Response(status=200)

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="Traceback: redis at 10.1.2.3:6379 refused AUTH")

    application = web.Application()
    application.router.add_post("/redirect", redirect)
    application.router.add_post("/elsewhere", elsewhere)
    application.router.add_post("/broken", broken)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    port, closed = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    strict = webhook_targets("development", "")
    hostname = socket.gethostname()  # a name of this machine: it resolves to a local address
    local_name = not strict.address_allowed(socket.gethostbyname(hostname))

    def agency_at(url: str) -> AgencyContacts:
        agency = _agency()
        return agency.model_copy(update={"webhook": Webhook(url=url, secret=SECRET)})

    literal = agency_at(f"http://127.0.0.1:{port}/elsewhere")
    named = agency_at(f"http://{hostname}:{port}/elsewhere")
    redirected = agency_at(f"http://127.0.0.1:{port}/redirect")
    unreachable = agency_at(f"http://127.0.0.1:{closed}/hook")
    failing = agency_at(f"http://127.0.0.1:{port}/broken")
    try:
        await _register(pool, literal, named, redirected, unreachable, failing)
        for targets, agencies in (
            (strict, (literal, named)),
            (LOOPBACK_RECEIVERS, (redirected, unreachable, failing)),
        ):
            async with running_worker(
                pool, database_url, smtp_port, max_attempts=1, targets=targets
            ):
                for agency in agencies:
                    await _assign(pool, agency)
                await waited(functools.partial(_webhooks_dead, pool, [a.code for a in agencies]))
    finally:
        await runner.cleanup()
    errors = {
        agency.code: await pool.fetchval(
            "SELECT last_error FROM notifier.deliveries WHERE agency_code = $1"
            " AND channel = 'webhook'",
            agency.code,
        )
        for agency in (literal, named, redirected, unreachable, failing)
    }
    assert landed == []
    private = "a loopback, link-local or private address"
    assert errors[literal.code] == f"refused: {private} is not allowed"
    if local_name:
        assert errors[named.code] == f"refused: the host resolves to {private}"
    assert errors[redirected.code] == "HTTP 307: redirects are not followed"
    assert errors[unreachable.code] == "could not connect"
    assert errors[failing.code] == "HTTP 500"


async def test_the_directory_admin_cannot_point_a_webhook_at_a_private_address(
    pool: asyncpg.Pool,
) -> None:
    agency = _agency()
    await _register(pool, agency)
    admin = {
        **(await _key(pool, None, KeyRole.DIRECTORY_ADMIN)),
        "content-type": "application/json",
    }
    path = f"/admin/agencies/{agency.code}"
    refused = {}
    async with serving_api(pool) as api:
        for url in (
            "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
            "https://10.20.30.40/hook",
            "https://[::1]:8443/hook",
            "https://localhost/hook",
        ):
            moved = agency.model_copy(update={"webhook": Webhook(url=url, secret=SECRET)})
            answer = await api.put(path, headers=admin, content=moved.model_dump_json())
            refused[url] = (answer.status_code, "private address" in answer.text)
        public = agency.model_copy(
            update={"webhook": Webhook(url="https://hook.dinas.example/lapor", secret=SECRET)}
        )
        accepted = await api.put(path, headers=admin, content=public.model_dump_json())
    assert set(refused.values()) == {(422, True)}
    assert accepted.status_code == 204


# --- The notifier as a real process, fed through Kafka ---------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)  # strings and lists of strings


def _directory_with_webhook(path: Path, agency: str, url: str, secret_env: str) -> None:
    """The shipped directory, with a webhook for one agency (its secret named, not written)."""
    entries = tomllib.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))["agency"]
    lines = []
    for entry in entries:
        if entry["code"] == agency:
            entry["webhook"] = {"url": url, "secret_env": secret_env}
        lines.append("[[agency]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def notifier_process(
    *,
    tmp_path: Path,
    database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    unique_group: str,
    mailbox: tuple[Mailbox, int],
) -> Iterator[Callable[[WebhookReceiver], ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(receiver: WebhookReceiver) -> ServiceProcess:
        directory = tmp_path / "directory.toml"
        _directory_with_webhook(directory, "63.pupr", receiver.url, "TEST_PUPR_WEBHOOK_SECRET")
        port = free_port()
        process = ServiceProcess(
            name="notifier",
            module="services.notifier",
            ready_url=f"http://127.0.0.1:{port}/readyz",
            env={
                "LAPOR_HUB_DATABASE_URL": database_url,
                "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
                "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": fresh_topic.name,
                "LAPOR_HUB_NOTIFIER_CONSUMER_GROUP": unique_group,
                "LAPOR_HUB_NOTIFIER_HTTP_PORT": str(port),
                "LAPOR_HUB_NOTIFIER_SMTP_PORT": str(mailbox[1]),
                "LAPOR_HUB_NOTIFIER_DIRECTORY_FILE": str(directory),
                "LAPOR_HUB_NOTIFIER_DELIVERY_INITIAL_BACKOFF_S": "0.2",
                "LAPOR_HUB_NOTIFIER_DELIVERY_MAX_BACKOFF_S": "1",
                "LAPOR_HUB_NOTIFIER_DELIVERY_MAX_ATTEMPTS": "50",
                "LAPOR_HUB_NOTIFIER_DELIVERY_POLL_S": "0.1",
                "LAPOR_HUB_NOTIFIER_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
                "LAPOR_HUB_NOTIFIER_DELIVERY_LEASE_S": "2",
                "TEST_PUPR_WEBHOOK_SECRET": receiver.secret,
            },
        )
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


async def _notified(
    bootstrap_servers: str, topic: str, complaint_id: uuid.UUID, wanted: int
) -> list[AgencyNotified]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[AgencyNotified] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = parse_event(record.value)
                    if isinstance(event, AgencyNotified) and event.complaint_id == complaint_id:
                        found.append(event)
    finally:
        await consumer.stop()
    return found


async def test_the_process_sends_one_email_and_one_signed_webhook_without_identity(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
    mailbox: tuple[Mailbox, int],
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    box, _ = mailbox
    async with serving(WebhookReceiver(SECRET)) as receiver:
        process = notifier_process(receiver)
        await asyncio.to_thread(process.start)
        received = complaint_received(
            anonymous=True,
            body=f"Saya Siti Aminah (NIK {NIK}, WA 0812 5555 0101): jalan provinsi berlubang.",
        )
        routed = _routed(received, "63.pupr")
        await publish_all(bootstrap_servers, fresh_topic.name, [received, routed, routed])
        await eventually(lambda: len(receiver.accepted) == 1 and len(box.about(received)) == 1)
        notified = await _notified(bootstrap_servers, fresh_topic.name, received.complaint_id, 2)
        await asyncio.sleep(0.5)
    [mail] = box.about(received)
    assert mail["To"] == "penghubung@pupr.lapor-kalsel.example"
    assert received.complaint.tracking_number in mail["Subject"]
    [body] = receiver.accepted.values()
    assert body["agency_code"] == "63.pupr"
    assert body["complaint"]["reporter"] is None
    parts = [str(part.get_content()) for part in mail.iter_parts()]
    everything = mail.as_string() + "".join(parts) + json.dumps(body)
    assert received.complaint.tracking_number in parts[0]
    # The phone as written and as digits.
    for secret in (NIK, "Siti", "Aminah", "5555 0101", "55550101"):
        assert secret not in everything
    assert receiver.bad_signatures == 0
    assert len(receiver.attempts) == 1
    assert sorted(e.channel for e in notified) == ["email", "webhook"]
    assert str(next(e for e in notified if e.channel == "webhook").delivery_id) in receiver.accepted


async def test_a_killed_notifier_resumes_its_pending_deliveries(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    async with serving(WebhookReceiver(SECRET, fail_first=10_000)) as receiver:
        first = notifier_process(receiver)
        await asyncio.to_thread(first.start)
        complaints = [complaint_received() for _ in range(5)]
        events: list[Event] = []
        for received in complaints:
            events += [received, _routed(received, "63.pupr")]
        await publish_all(bootstrap_servers, fresh_topic.name, events)
        await eventually(lambda: len(receiver.attempts) >= 5)  # all queued, all failing
        first.kill()
        receiver.fail_first = 0
        second = notifier_process(receiver)
        await asyncio.to_thread(second.start)
        await eventually(lambda: len(receiver.accepted) == 5, timeout_s=30)
    numbers = {b["tracking_number"] for b in receiver.accepted.values()}
    assert numbers == {c.complaint.tracking_number for c in complaints}


async def test_operators_manage_keys_and_the_directory_from_the_command_line(
    pool: asyncpg.Pool, database_url: str
) -> None:
    from typer.testing import CliRunner

    from lapor_hub.cli import app

    runner = CliRunner()
    env = {"LAPOR_HUB_DATABASE_URL": database_url}

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(app, ["notifier", *args], env=env, input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    agency = _agency()
    await asyncio.to_thread(run, "directory", "load")
    edited = agency.model_copy(update={"code": "63.dishub"})
    await asyncio.to_thread(run, "directory", "set", stdin=edited.model_dump_json())
    await asyncio.to_thread(run, "directory", "load")  # the file does not undo the edit
    shown = json.loads(await asyncio.to_thread(run, "directory", "show", "63.dishub"))
    assert shown["emails"] == list(agency.emails)
    key = await asyncio.to_thread(run, "keys", "create", "rina-dishub", "--agency", "63.dishub")
    admin = await asyncio.to_thread(
        run, "keys", "create", "admin-kominfo", "--role", "directory_admin"
    )
    roleless = runner.invoke(app, ["notifier", "keys", "create", "who-knows"], env=env)
    assert roleless.exit_code == 2 and "--role" in roleless.output
    async with pool.acquire() as connection:
        repository = NotifierRepository(connection)
        found = await repository.api_key(key.strip())
        assert found is not None and found.agency_code == "63.dishub"
        assert found.role is KeyRole.AGENCY
        hub = await repository.api_key(admin.strip())
        assert hub is not None and hub.role is KeyRole.DIRECTORY_ADMIN and hub.agency_code is None
        await asyncio.to_thread(run, "keys", "revoke", "rina-dishub")
        assert await repository.api_key(key.strip()) is None
        stored = await connection.fetchval(
            "SELECT count(*) FROM notifier.api_keys WHERE key_hash = $1", key.strip()
        )
        assert stored == 0  # only the hash is kept
    await asyncio.to_thread(run, "dead-letters")


async def test_the_reporter_is_asked_where_once_by_email(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    received = complaint_received(reporter={"email": "tanya@contoh.id"}, location={"text": None})
    number = received.complaint.tracking_number
    question = ComplaintPlaceRequested(
        **received.caused(
            producer="router",
            tracking_number=number,
            topic="jalan dan jembatan",
            answer_due=datetime(2026, 12, 7, 5, 30, tzinfo=UTC),
        )
    )
    service = NotifierService(pool, PUBLIC_URL)
    await service.handle(received)
    await service.handle(question)
    await service.handle(question)  # a redelivery asks nothing more
    async with running_worker(pool, database_url, smtp_port):
        await eventually(lambda: any(m["To"] == "tanya@contoh.id" for m in box.messages))
        await asyncio.sleep(0.3)
    (asked,) = [m for m in box.messages if m["To"] == "tanya@contoh.id"]
    assert number in str(asked["Subject"])
    text = str(asked.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "kabupaten/kota dan kecamatan" in text and "7 Desember 2026 pukul 13.30 WITA" in text


async def test_a_reopened_complaint_is_open_again_in_the_agency_inbox_and_the_agency_is_told(
    pool: asyncpg.Pool, database_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    agency = _agency()
    await _register(pool, agency)
    received = await _assign(pool, agency)
    key = await _key(pool, agency.code)
    number = received.complaint.tracking_number
    async with serving_api(pool) as api:
        for action, body in (
            ("acknowledge", {}),
            ("follow-up", {"text": "Lubang sudah ditambal."}),
            ("resolve", {}),
        ):
            response = await api.post(
                f"/inbox/assignments/{number}/{action}", headers=key, json=body
            )
            assert response.is_success
        reopened = ComplaintStatusChanged(
            **received.caused(
                producer="intake",
                tracking_number=number,
                status=ComplaintStatus.REOPENED,
                actor=Actor(kind=ActorKind.REPORTER, id="web"),
                note="Lubangnya muncul lagi sesudah hujan.",
            )
        )
        service = NotifierService(pool, PUBLIC_URL)
        await service.handle(reopened)
        await service.handle(reopened)  # a redelivery changes nothing
        response = await api.post(
            f"/inbox/assignments/{number}/follow-up", headers=key, json={"text": "Ditambal ulang."}
        )
        assert response.is_success, response.text
    async with running_worker(pool, database_url, smtp_port):
        await eventually(lambda: any("belum selesai" in _plain(m) for m in box.messages))
        await asyncio.sleep(0.3)
    told = [m for m in box.messages if "belum selesai" in _plain(m)]
    assert len(told) == 1
    assert "muncul lagi" in _plain(told[0])


async def test_a_reporters_rating_reaches_the_agency_once_masked_and_in_its_history(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
    mailbox: tuple[Mailbox, int],
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    database_url: str,
) -> None:
    """The notifier process consumes the `rated` status change from Kafka (twice: redelivered)
    and tells the agency once, by e-mail and webhook, the comment masked; the assignment's page
    in /instansi shows it in the history."""
    box, _ = mailbox
    received = complaint_received(anonymous=True, reporter={"name": "Siti Aminah"})
    number = received.complaint.tracking_number
    rated = ComplaintStatusChanged(
        **received.caused(
            producer="intake",
            tracking_number=number,
            status=ComplaintStatus.RATED,
            actor=Actor(kind=ActorKind.REPORTER, id="web"),
            note=f"Penilaian pelapor: 2/5. Siti Aminah: lambat, NIK {NIK}, hp 0812-5555-0199",
            rating=2,
        )
    )
    username = f"rina{uuid.uuid4().hex[:6]}"
    await create_staff_account(database_url, username, "63.pupr", "Rina Hartati")
    async with serving(WebhookReceiver(SECRET)) as receiver:
        process = notifier_process(receiver)
        await asyncio.to_thread(process.start)
        await publish_all(
            bootstrap_servers,
            fresh_topic.name,
            [received, _routed(received, "63.pupr"), rated, rated],
        )
        await eventually(lambda: len(receiver.accepted) == 2 and len(box.about(received)) == 2)
        await asyncio.sleep(0.5)  # a second notice would have come by now
        async with httpx.AsyncClient(base_url=f"{process.origin}/instansi") as browser:
            login = await browser.get("/masuk")
            csrf = re.search(r'name="csrf" value="([^"]*)"', login.text)
            assert csrf is not None
            form = {"username": username, "password": PASSWORD, "csrf": csrf.group(1)}
            assert (await browser.post("/masuk", data=form)).status_code == 303
            page = (await browser.get(f"/pengaduan/{number}")).text
    assert len(receiver.accepted) == 2 and len(box.about(received)) == 2
    [told] = [b for b in receiver.accepted.values() if b["type"] == "complaint.rated"]
    assert told["rating"] == 2 and "2/5" in told["text"] and "lambat" in told["text"]
    [mail] = [m for m in box.about(received) if "Penilaian pelapor" in str(m["Subject"])]
    assert "2/5" in _plain(mail) and "lambat" in _plain(mail)
    history = page[page.index("Penilaian pelapor") :]
    assert "2/5" in history and "lambat" in history
    for shown in (json.dumps(told), mail.as_string(), page):
        assert NIK not in shown and "5555" not in shown and "Siti" not in shown


@contextlib.asynccontextmanager
async def intake_store(token: str, content: bytes) -> AsyncIterator[str]:
    """A stand-in for intake's /lampiran/{sha256} holding one confidential file: 404 without
    intake's attachments token, as intake answers; its address."""
    sha = hashlib.sha256(content).hexdigest()

    async def lampiran(request: web.Request) -> web.Response:
        allowed = request.headers.get("Authorization") == f"Bearer {token}"
        if request.match_info["sha"] != sha or not allowed:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    application = web.Application()
    application.router.add_get("/lampiran/{sha}", lampiran)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/lampiran/{sha}"
    finally:
        await runner.cleanup()


async def test_an_agency_fetches_a_confidential_complaints_photo_with_its_own_key(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
    pool: asyncpg.Pool,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    """The webhook links the photo at the notifier's inbox API, not at intake (which answers a
    confidential complaint's only to its own token); the agency's key gets it there, typed by
    its content and never sniffed; another agency's key, no key or a hub key does not."""
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # a JPEG by its first bytes, sent as text/plain
    token = "intake-attachments-token-for-this-test"
    async with (
        intake_store(token, photo) as stored,
        serving(WebhookReceiver(SECRET)) as receiver,
    ):
        process = notifier_process(receiver)
        process.env = {
            **process.env,
            "LAPOR_HUB_INTAKE_PUBLIC_URL": stored.split("/lampiran/")[0],
            "LAPOR_HUB_ATTACHMENTS_TOKEN": token,
        }
        await asyncio.to_thread(process.start)
        received = complaint_received(
            confidential=True,
            attachments=[
                {"filename": "a.txt", "content_type": "text/plain", "size_bytes": 68, "url": stored}
            ],
        )
        number = received.complaint.tracking_number
        await publish_all(
            bootstrap_servers, fresh_topic.name, [received, _routed(received, "63.pupr")]
        )
        await eventually(lambda: len(receiver.accepted) == 1)
        [body] = receiver.accepted.values()
        [link] = body["complaint"]["attachments"]
        path = f"/inbox/assignments/{number}/attachments/1"
        assert link == f"http://127.0.0.1:8081{path}"  # the notifier's public address
        ours, theirs = await _key(pool, "63.pupr"), await _key(pool, "63.dinkes")
        hub = await _key(pool, None, KeyRole.DEAD_LETTER_OPERATOR)
        async with httpx.AsyncClient(base_url=process.origin) as http:
            got = await http.get(path, headers=ours)
            listed = (await http.get(f"/inbox/assignments/{number}", headers=ours)).json()
            refused = [
                (await http.get(path, headers=theirs)).status_code,
                (await http.get(path)).status_code,
                (await http.get(path, headers=hub)).status_code,
                (await http.get(path.replace("/1", "/2"), headers=ours)).status_code,
            ]
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cache-control"] == "no-store"
    assert listed["complaint"]["attachments"] == [link]
    assert refused == [404, 401, 403, 404]


def _plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return "" if body is None else str(body.get_content())


async def test_the_process_refuses_big_bodies_guessed_keys_and_a_key_over_its_rate(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess], pool: asyncpg.Pool
) -> None:
    async with serving(WebhookReceiver(SECRET)) as receiver:
        process = notifier_process(receiver)
        process.env = {
            **process.env,
            "LAPOR_HUB_NOTIFIER_RATE_LIMIT": "4/minute",
            "LAPOR_HUB_UNKNOWN_API_KEY_LIMIT": "3/minute",
        }
        await asyncio.to_thread(process.start)
        key = await _key(pool, "63.pupr")
        too_big = b'{"text": "' + b"a" * 300_000 + b'"}'

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length
            for start in range(0, len(too_big), 16_384):
                yield too_big[start : start + 16_384]

        follow_up = "/inbox/assignments/LPR-2026-AAAAAA-A/follow-up"
        json_key = {**key, "content-type": "application/json"}
        async with httpx.AsyncClient(base_url=process.origin) as http:
            declared = await http.post(follow_up, headers=json_key, content=too_big)
            streamed = await http.post(follow_up, headers=json_key, content=chunked())
            guessed = [
                (await http.get("/inbox/assignments", headers={"X-API-Key": f"guess-{n}"}))
                for n in range(4)
            ]
            own = [(await http.get("/inbox/assignments", headers=key)) for _ in range(5)]
    assert declared.status_code == streamed.status_code == 413
    assert "larger than 262144 bytes" in declared.json()["detail"]
    assert [r.status_code for r in guessed] == [401, 401, 401, 429]
    assert 1 <= int(guessed[-1].headers["Retry-After"]) <= 61
    statuses = [r.status_code for r in own]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429


async def test_the_agency_inbox_cookies_are_secure_behind_a_trusted_tls_proxy_only(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
) -> None:
    """X-Forwarded-Proto is believed only from LAPOR_HUB_TRUSTED_PROXIES (the test's client,
    127.0.0.1, is that proxy for one notifier and an unknown peer for the other)."""
    secure = {}
    async with serving(WebhookReceiver(SECRET)) as receiver:
        for proxies in ("10.20.30.40", "127.0.0.1"):
            process = notifier_process(receiver)
            process.env = {**process.env, "LAPOR_HUB_TRUSTED_PROXIES": proxies}
            await asyncio.to_thread(process.start)
            try:
                async with httpx.AsyncClient(base_url=process.origin) as http:
                    login = await http.get(
                        "/instansi/masuk", headers={"X-Forwarded-Proto": "https"}
                    )
            finally:
                await asyncio.to_thread(process.stop)
            secure[proxies] = "; secure" in login.headers["set-cookie"].lower()
    assert secure == {"10.20.30.40": False, "127.0.0.1": True}


async def _status_changes(
    bootstrap_servers: str, topic: str, complaint_id: uuid.UUID, settle_s: float = 3.0
) -> list[ComplaintStatusChanged]:
    """Every ComplaintStatusChanged of the complaint on the topic, read until none came for
    `settle_s` (a second announcement would come in the same relay pass as the first)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ComplaintStatusChanged] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle_s:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = parse_event(record.value)
                    if (
                        isinstance(event, ComplaintStatusChanged)
                        and event.complaint_id == complaint_id
                    ):
                        found.append(event)
                        quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return found


async def test_a_retried_follow_up_is_answered_once_and_announced_once(
    notifier_process: Callable[[WebhookReceiver], ServiceProcess],
    pool: asyncpg.Pool,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    async with serving(WebhookReceiver(SECRET)) as receiver:
        process = notifier_process(receiver)
        await asyncio.to_thread(process.start)
        received = complaint_received()
        await publish_all(
            bootstrap_servers, fresh_topic.name, [received, _routed(received, "63.pupr")]
        )
        key, other_key = await _key(pool, "63.pupr"), await _key(pool, "63.pupr")
        number = received.complaint.tracking_number
        path = f"/inbox/assignments/{number}"
        body = {"text": "Petugas sudah menambal lubang."}
        async with httpx.AsyncClient(base_url=process.origin) as http:

            async def assigned() -> bool:
                return (await http.get(path, headers=key)).status_code == 200

            await eventually_async(assigned)
            acknowledged = await http.post(
                f"{path}/acknowledge", headers={**key, "Idempotency-Key": "terima-1"}
            )
            assert acknowledged.status_code == 200, acknowledged.text
            retry = {**key, "Idempotency-Key": "tindak-lanjut-1"}
            first = await http.post(f"{path}/follow-up", headers=retry, json=body)
            # The client lost the first answer and sends it again, twice at once.
            again = await asyncio.gather(
                *(http.post(f"{path}/follow-up", headers=retry, json=body) for _ in range(2))
            )
            reused = await http.post(f"{path}/follow-up", headers=retry, json={"text": "Isi lain."})
            # Another caller's key of the same name is its own: it follows up.
            theirs = await http.post(
                f"{path}/follow-up",
                headers={**other_key, "Idempotency-Key": "tindak-lanjut-1"},
                json={"text": "Tindak lanjut kedua."},
            )
            ack_again = await http.post(
                f"{path}/acknowledge", headers={**key, "Idempotency-Key": "terima-1"}
            )
        changes = await _status_changes(bootstrap_servers, fresh_topic.name, received.complaint_id)
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    for response in again:
        assert response.status_code == 200, response.text
        assert response.headers["Idempotent-Replayed"] == "true"
        assert response.json() == first.json()
    assert reused.status_code == 409
    assert reused.json()["idempotency_key"] == "tindak-lanjut-1"
    assert "different request" in reused.json()["detail"]
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    # The acknowledgement's retry answers as then (acknowledged), though the complaint moved on.
    assert ack_again.status_code == 200 and ack_again.json() == acknowledged.json()
    assert ack_again.json()["status"] == "acknowledged"
    assert [(c.status, c.note) for c in changes] == [
        (ComplaintStatus.ACKNOWLEDGED, None),
        (ComplaintStatus.FOLLOWED_UP, "Petugas sudah menambal lubang."),
        (ComplaintStatus.FOLLOWED_UP, "Tindak lanjut kedua."),
    ]
    actions = await pool.fetchval(
        "SELECT count(*) FROM notifier.assignment_actions a JOIN notifier.assignments s"
        " ON s.id = a.assignment_id WHERE s.complaint_id = $1",
        received.complaint_id,
    )
    assert actions == 3


async def test_an_idempotency_key_past_its_window_is_new_again(pool: asyncpg.Pool) -> None:
    agency = _agency()
    await _register(pool, agency)
    received = await _assign(pool, agency)
    retry_key = f"k-{uuid.uuid4()}"
    key = {**(await _key(pool, agency.code)), "Idempotency-Key": retry_key}
    path = f"/inbox/assignments/{received.complaint.tracking_number}"
    async with serving_api(pool) as api:
        assert (await api.post(f"{path}/acknowledge", headers=key)).status_code == 200
        body = {"text": "Sudah dicek."}
        assert (await api.post(f"{path}/follow-up", headers=key, json=body)).status_code == 409
        await pool.execute(
            "UPDATE notifier.action_idempotency_keys"
            " SET remembered_at = now() - interval '25 hours' WHERE idempotency_key = $1",
            retry_key,
        )
        later = await api.post(f"{path}/follow-up", headers=key, json=body)
    assert later.status_code == 200 and "Idempotent-Replayed" not in later.headers
    assert later.json()["status"] == "followed_up"
