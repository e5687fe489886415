"""`lapor-hub demo`: the demo feed of `make run`, and a live summary of the pipeline.

Posts realistic Indonesian complaints to intake (web form, SMS and WhatsApp webhooks) at a steady
rate with a burst now and then, and every few seconds prints how many complaints were accepted,
routed, notified and mirrored, read from the complaint stream itself.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from rich.console import Console

from shared.demo_complaints import sample_complaint_fields
from shared.events import Channel, parse_event
from shared.settings import Settings

BURST_EVERY_S = 60
BURST_SIZE = 50


def _web(index: int) -> tuple[str, dict[str, Any]]:
    fields = sample_complaint_fields(index, Channel.WEB)
    keep = ("title", "body", "location", "reporter", "anonymous", "confidential")
    return "/v1/complaints", {k: fields[k] for k in keep}


def _sms(index: int) -> tuple[str, dict[str, Any]]:
    fields = sample_complaint_fields(index, Channel.SMS)
    text = f"{fields['title']}. {fields['body']}"
    return "/v1/channels/sms", {
        "message_id": f"demo-{uuid.uuid4()}",
        "from": f"0812{index:08d}",
        "text": text,
    }


def _whatsapp(index: int) -> tuple[str, dict[str, Any]]:
    fields = sample_complaint_fields(index, Channel.WHATSAPP)
    message = {
        "from": f"62813{index:08d}",
        "id": f"wamid.demo-{uuid.uuid4()}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f"{fields['title']}. {fields['body']}"},
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
    return "/v1/channels/whatsapp", webhook


CHANNELS = {"web": _web, "sms": _sms, "whatsapp": _whatsapp}


async def feed(intake_url: str, keys: dict[str, str], rate_per_s: float) -> None:
    """Submit complaints forever: `rate_per_s` steady, plus a burst every minute."""
    async with aiohttp.ClientSession(base_url=intake_url) as client:
        started = time.monotonic()
        last_burst = started
        for index in itertools.count():
            channel = ("web", "sms", "whatsapp")[index % 3]
            path, body = CHANNELS[channel](index)
            async with client.post(path, json=body, headers={"X-API-Key": keys[channel]}) as reply:
                await reply.read()
            if time.monotonic() - last_burst > BURST_EVERY_S:
                last_burst = time.monotonic()
                await asyncio.gather(
                    *(_post_web(client, keys["web"], index * 1000 + n) for n in range(BURST_SIZE))
                )
            await asyncio.sleep(1 / rate_per_s)


async def _post_web(client: aiohttp.ClientSession, key: str, index: int) -> None:
    path, body = _web(index)
    async with client.post(path, json=body, headers={"X-API-Key": key}) as reply:
        await reply.read()


async def summarise(settings: Settings, every_s: float = 5.0) -> None:
    """Print the pipeline's counts from the complaint stream, every few seconds, forever."""
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
                counts = Counter({kind: len(ids) for kind, ids in seen.items()})
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
