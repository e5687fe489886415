"""`lapor-hub demo`: the demo feed of `make run`, and a live summary of the pipeline.

Posts realistic Indonesian complaints to intake (web form, SMS and WhatsApp webhooks) at a steady
rate with a burst now and then, and every few seconds prints how many complaints were accepted,
routed, notified and mirrored, read from the complaint stream itself. The submissions of every
channel and the channels' API keys are shared with the load generator (`lapor_hub.load`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from rich.console import Console

from lapor_hub.demo_complaints import sample_complaint_fields
from shared.events import Channel, parse_event
from shared.settings import Settings

BURST_EVERY_S = 60
BURST_SIZE = 50
# The key of the operators' entry (walk-in, social media, paper): any channel, typed in by hand.
OPERATOR = "operator"
HAND_COLLECTED = (Channel.WALK_IN, Channel.SOCIAL_MEDIA, Channel.PAPER)


@dataclass(frozen=True)
class Submission:
    """One complaint as a channel sends it to intake. Sent again as it is, it counts once
    (the channel's message id, or an Idempotency-Key), so a client may retry it safely."""

    channel: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _web(index: int) -> Submission:
    fields = sample_complaint_fields(index, Channel.WEB)
    keep = ("title", "body", "location", "reporter", "anonymous", "confidential")
    return Submission(
        "web",
        "/v1/complaints",
        {k: fields[k] for k in keep},
        {"Idempotency-Key": f"web-{uuid.uuid4()}"},
    )


def _message_text(fields: dict[str, Any], index: int) -> str:
    """A text message as citizens send one: half of them say where, the others are asked."""
    place = fields["location"]["text"]
    said = f" Lokasi: {place}" if place and index % 2 == 0 else ""
    return f"{fields['title']}. {fields['body']}{said}"


def _sms(index: int) -> Submission:
    fields = sample_complaint_fields(index, Channel.SMS)
    text = _message_text(fields, index)
    return Submission(
        "sms",
        "/v1/channels/sms",
        {"message_id": f"demo-{uuid.uuid4()}", "from": f"0812{index:08d}", "text": text},
    )


def _whatsapp(index: int) -> Submission:
    fields = sample_complaint_fields(index, Channel.WHATSAPP)
    message = {
        "from": f"62813{index:08d}",
        "id": f"wamid.demo-{uuid.uuid4()}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": _message_text(fields, index)},
    }
    value = {
        "messaging_product": "whatsapp",
        "contacts": [{"wa_id": message["from"], "profile": {"name": "Warga"}}],
        "messages": [message],
    }
    webhook = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "demo", "changes": [{"field": "messages", "value": value}]}],
    }
    return Submission("whatsapp", "/v1/channels/whatsapp", webhook)


def _email(index: int) -> Submission:
    fields = sample_complaint_fields(index, Channel.EMAIL)
    place = fields["location"]["text"]
    text = f"{fields['body']}\n\nLokasi: {place}" if place else fields["body"]
    return Submission(
        "email",
        "/v1/channels/email",
        {
            "message_id": f"<demo-{uuid.uuid4()}@mail.example>",
            "from": f"Warga <warga{index}@mail.example>",
            "subject": fields["title"],
            "text": text,
        },
    )


def _operator(index: int) -> Submission:
    channel = HAND_COLLECTED[index % len(HAND_COLLECTED)]
    fields = sample_complaint_fields(index, channel)
    keep = ("title", "body", "location", "reporter", "anonymous", "confidential")
    return Submission(
        OPERATOR,
        "/v1/operator/complaints",
        {"channel": channel.value, **{k: fields[k] for k in keep}},
        {"Idempotency-Key": f"operator-{uuid.uuid4()}"},
    )


SUBMISSIONS: dict[str, Callable[[int], Submission]] = {
    "web": _web,
    "sms": _sms,
    "whatsapp": _whatsapp,
    "email": _email,
    OPERATOR: _operator,
}


async def create_keys(database_url: str, names: Iterable[str]) -> dict[str, str]:
    """A fresh API key for each channel named (and the operators' key for `OPERATOR`), made
    straight in intake's database as `lapor-hub keys create` would."""
    from services.intake.service import IntakeService
    from shared.db import create_pool, database_ready

    await database_ready(database_url, 60)
    pool = await create_pool(database_url)
    try:
        service = IntakeService(pool)
        return {
            name: await (
                service.create_key("operator", "feed")
                if name == OPERATOR
                else service.create_key("channel", name)
            )
            for name in names
        }
    finally:
        await pool.close()


async def post(client: aiohttp.ClientSession, submission: Submission, key: str) -> None:
    headers = {"X-API-Key": key, **submission.headers}
    async with client.post(submission.path, json=submission.body, headers=headers) as reply:
        await reply.read()


async def feed(intake_url: str, keys: dict[str, str], rate_per_s: float) -> None:
    """Submit complaints forever: `rate_per_s` steady, plus a burst every minute."""
    async with aiohttp.ClientSession(base_url=intake_url) as client:
        started = time.monotonic()
        last_burst = started
        for index in itertools.count():
            channel = ("web", "sms", "whatsapp")[index % 3]
            await post(client, SUBMISSIONS[channel](index), keys[channel])
            if time.monotonic() - last_burst > BURST_EVERY_S:
                last_burst = time.monotonic()
                await asyncio.gather(
                    *(post(client, _web(index * 1000 + n), keys["web"]) for n in range(BURST_SIZE))
                )
            await asyncio.sleep(1 / rate_per_s)


async def summarise(settings: Settings, every_s: float = 5.0) -> None:
    """Print the pipeline's counts from the complaint stream, every few seconds, forever: of the
    complaints received since it started (complaints from before, still flowing, would make
    more routed than received, and a negative queue)."""
    console = Console()
    consumer = AIOKafkaConsumer(
        settings.complaint_events_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"lapor-hub-demo-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    seen: dict[str, set[uuid.UUID]] = {}
    try:
        next_print = time.monotonic() + every_s
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value or b"")
                    seen.setdefault(event.event_type, set()).add(event.complaint_id)
            if time.monotonic() >= next_print:
                next_print += every_s
                received = seen.get("ComplaintReceived", set())
                counts = Counter({kind: len(ids & received) for kind, ids in seen.items()})
                accepted = counts["ComplaintReceived"]
                mirrored = counts["ComplaintMirrored"]
                console.print(
                    f"diterima {accepted} | dirutekan {counts['ComplaintRouted']}"
                    f" | instansi diberi tahu {counts['AgencyNotified']}"
                    f" | di LAPOR nasional {mirrored} | antre ke nasional {accepted - mirrored}",
                    highlight=False,
                    soft_wrap=True,
                )
    finally:
        await consumer.stop()
