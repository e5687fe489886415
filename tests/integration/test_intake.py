"""Intake as a real HTTP server on real Kafka and PostgreSQL: every channel in, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import io
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from PIL import Image

from services.intake.domain.tracking import new_tracking_number
from services.intake.service import IntakeService
from shared.db import create_pool
from shared.events import (
    Attachment,
    AuthorityLevel,
    Channel,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    Event,
    PersonalData,
    parse_event,
)
from shared.kafka import idempotent_producer, publish
from shared.topics import TopicSpec
from testkit.factories import followup, publish_all
from testkit.processes import ServiceProcess, free_port

WHATSAPP = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "62511000000", "phone_number_id": "1"},
                        "contacts": [{"profile": {"name": "Rahmah"}, "wa_id": "6281255550202"}],
                        "messages": [
                            {
                                "from": "6281255550202",
                                "id": "wamid.HBgLNjI4MTI1NTU1MDIwMhUCABIYFjNFQjA",
                                "timestamp": "1764300000",
                                "type": "text",
                                "text": {"body": "Lampu PJU di Jl. Veteran mati sdh 2 minggu"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
META_VERIFY_TOKEN = "kalsel-verify-token"
META_APP_SECRET = "meta-app-secret"
RAW_EMAIL = (
    b"From: Ahmad Fauzi <ahmad@example.id>\r\n"
    b"To: lapor@kalselprov.go.id\r\n"
    b"Subject: Sampah tidak diangkut\r\n"
    b"Message-ID: <raw-1@example.id>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Sampah di depan pasar Lama tidak diangkut seminggu.\r\n"
)
CSV_IMPORT = (
    "source_id,title,body,location,region_code,channel,received_at\n"
    "P-1,Jalan rusak,Jalan di Barabai rusak parah,Barabai,6307,paper,2026-11-20T09:00:00+08:00\n"
    "P-2,,Tanpa judul,,,paper,\n"
    "P-3,Banjir,Banjir di Astambul belum surut,Astambul,6303,walk_in,\n"
    "P-4,Bantuan,Bansos tidak tepat sasaran,,99,paper,\n"
    "P-5,Air PDAM,Air PDAM mati tiga hari,Banjarbaru,6372,social_media,\n"
)


class Intake:
    def __init__(self, process: ServiceProcess, base_url: str) -> None:
        self.process = process
        self.http = httpx.Client(base_url=base_url, timeout=10)


@pytest.fixture
async def keys(database_url: str) -> AsyncIterator[dict[str, str]]:
    pool = await create_pool(database_url)
    service = IntakeService(pool)
    yield {
        name: await service.create_key(*name.split(":"))
        for name in (
            "channel:web",
            "channel:sms",
            "channel:whatsapp",
            "channel:email",
            "channel:open311",
            "operator:rina",
        )
    }
    await pool.close()


def _intake(
    database_url: str,
    bootstrap_servers: str,
    topic: str,
    rate_limit: str = "1000/second",
    *,
    public_limits: tuple[str, str] = ("1000/second", "1000/second"),
    name: str = "intake",
    port: int | None = None,
    share_port: bool = False,
    env: dict[str, str] | None = None,
) -> Intake:
    port = port or free_port()
    process = ServiceProcess(
        name=name,
        module="services.intake",
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={
            "LAPOR_HUB_INTAKE_SHARE_PORT": str(share_port).lower(),
            "LAPOR_HUB_DATABASE_URL": database_url,
            "LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "LAPOR_HUB_COMPLAINT_EVENTS_TOPIC": topic,
            "LAPOR_HUB_INTAKE_HTTP_PORT": str(port),
            "LAPOR_HUB_INTAKE_RATE_LIMIT": rate_limit,
            "LAPOR_HUB_INTAKE_PUBLIC_RATE_LIMIT": public_limits[0],
            "LAPOR_HUB_INTAKE_PUBLIC_MISS_LIMIT": public_limits[1],
            "LAPOR_HUB_INTAKE_WHATSAPP_VERIFY_TOKEN": META_VERIFY_TOKEN,
            "LAPOR_HUB_INTAKE_WHATSAPP_APP_SECRET": META_APP_SECRET,
            **(env or {}),
        },
    )
    return Intake(process, f"http://127.0.0.1:{port}")


@pytest.fixture
def intake(database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec) -> Iterator[Intake]:
    service = _intake(database_url, bootstrap_servers, fresh_topic.name)
    service.process.start()
    yield service
    service.process.stop()


async def _events(bootstrap_servers: str, topic: str, expected: int) -> list[Event]:
    """Events on the topic once `expected` have arrived, plus any that follow within 2 s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[Event] = []
    deadline = time.monotonic() + 60
    settle: float | None = None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            batch = await consumer.getmany(timeout_ms=300)
            events.extend(parse_event(r.value) for rs in batch.values() for r in rs)
            if settle is None and len(events) >= expected:
                settle = time.monotonic() + 2
    finally:
        await consumer.stop()
    return events


def _received(events: list[Event]) -> list[ComplaintReceived]:
    return [e for e in events if isinstance(e, ComplaintReceived)]


async def test_each_channel_becomes_exactly_one_complaint_received(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    http = intake.http
    submissions: list[tuple[str, str, dict[str, Any]]] = [
        (
            "channel:web",
            "/v1/complaints",
            {
                "json": {
                    "title": "Jalan rusak",
                    "body": "Jalan provinsi di Martapura berlubang.",
                    "channel_message_id": "web-1",
                }
            },
        ),
        (
            "channel:sms",
            "/v1/channels/sms",
            {
                "json": {
                    "message_id": "sms-77",
                    "from": "081255550101",
                    "text": "Jalan di Kandangan rusak parah. Mohon diperbaiki",
                }
            },
        ),
        ("channel:whatsapp", "/v1/channels/whatsapp", {"json": WHATSAPP}),
        (
            "channel:email",
            "/v1/channels/email",
            {
                "json": {
                    "message_id": "<m-1@example.id>",
                    "from": "Siti <siti@example.id>",
                    "subject": "Pungli di SMA",
                    "text": "Ada pungutan uang gedung di SMAN 1.",
                }
            },
        ),
        (
            "channel:email",
            "/v1/channels/email",
            {"content": RAW_EMAIL, "headers": {"content-type": "message/rfc822"}},
        ),
        (
            "operator:rina",
            "/v1/operator/complaints",
            {
                "json": {
                    "channel": "walk_in",
                    "title": "Izin usaha",
                    "body": "Izin usaha saya belum terbit 2 bulan.",
                    "channel_message_id": "desk-1",
                }
            },
        ),
    ]
    tracking: set[str] = set()
    for key, path, request in submissions:
        extra_headers = request.pop("headers", {})
        for _attempt in range(2):  # a gateway's replay of the same message
            headers = {"X-API-Key": keys[key], **extra_headers}
            response = http.post(path, headers=headers, **request)
            assert response.status_code == 202, response.text
            body = response.json()
            for item in body.get("accepted", [body]):
                tracking.add(item["tracking_number"])
    form = {
        "api_key": keys["channel:open311"],
        "service_code": "pekerjaan-umum-dan-penataan-ruang",
        "description": "Drainase tersumbat di Jl. Sutoyo",
        "lat": "-3.32",
        "long": "114.59",
    }
    open311 = http.post("/open311/v2/requests.json", data=form)
    assert open311.status_code == 201, open311.text
    tracking.add(open311.json()[0]["service_request_id"])
    assert len(tracking) == 7

    received = _received(await _events(bootstrap_servers, fresh_topic.name, 7))
    assert Counter(e.complaint.tracking_number for e in received) == dict.fromkeys(tracking, 1)
    channels = {e.complaint.channel.value for e in received}
    assert channels == {"web", "sms", "whatsapp", "email", "walk_in", "open311"}
    whatsapp = next(e for e in received if e.complaint.channel.value == "whatsapp")
    assert whatsapp.complaint.reporter.name == "Rahmah"
    assert whatsapp.complaint.reporter.phone == "+6281255550202"


async def test_a_retry_with_the_same_idempotency_key_returns_the_same_tracking_number(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    headers = {"X-API-Key": keys["channel:web"], "Idempotency-Key": "form-submit-42"}
    complaint = {
        "title": "Sampah",
        "body": "Sampah menumpuk di TPS Pasar Lama, nomor saya 081255550303.",
    }
    first = intake.http.post("/v1/complaints", headers=headers, json=complaint)
    again = intake.http.post("/v1/complaints", headers=headers, json=complaint)
    assert first.status_code == again.status_code == 202
    assert first.json()["tracking_number"] == again.json()["tracking_number"]
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = intake.http.post(
        "/v1/complaints", headers=headers, json={**complaint, "title": "Another complaint"}
    )
    assert reused.status_code == 422
    assert [e["field"] for e in reused.json()["errors"]] == ["Idempotency-Key"]
    [event] = _received(await _events(bootstrap_servers, fresh_topic.name, 1))
    assert event.complaint.personal_data_in_text == (PersonalData.PHONE,)


async def test_an_import_reports_bad_rows_and_is_idempotent(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    headers = {"X-API-Key": keys["operator:rina"], "content-type": "text/csv"}
    first = intake.http.post("/v1/complaints:import", headers=headers, content=CSV_IMPORT).json()
    assert [row["line"] for row in first["accepted"]] == [2, 4, 6]
    assert {(row["line"], row["field"]) for row in first["rejected"]} == {
        (3, "title"),
        (5, "location.region_code"),
    }
    again = intake.http.post("/v1/complaints:import", headers=headers, content=CSV_IMPORT).json()
    assert again["accepted"] == []
    assert [row["tracking_number"] for row in again["already_imported"]] == [
        row["tracking_number"] for row in first["accepted"]
    ]
    received = _received(await _events(bootstrap_servers, fresh_topic.name, 3))
    assert len(received) == 3
    paper = next(e for e in received if e.complaint.title == "Jalan rusak")
    assert paper.complaint.received_at.isoformat() == "2026-11-20T01:00:00+00:00"


async def test_fifty_poisoned_submissions_are_422_and_fifty_good_ones_accepted_alongside(
    intake: Intake, keys: dict[str, str]
) -> None:
    headers = {"X-API-Key": keys["channel:web"], "content-type": "application/json"}
    good = [{"title": f"Lampu {n}", "body": "Lampu jalan mati."} for n in range(50)]
    poisoned = [
        b'{"title": "Lampu", "body": "mati\\u0000"}',
        b'{"title": "Lampu\\ud800", "body": "mati"}',
    ]
    async with httpx.AsyncClient(base_url=str(intake.http.base_url), timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/complaints", headers=headers, json=form) for form in good),
            *(
                client.post("/v1/complaints", headers=headers, content=poisoned[n % 2])
                for n in range(50)
            ),
        )
    assert [a.status_code for a in answers[:50]] == [202] * 50
    assert [a.status_code for a in answers[50:]] == [422] * 50
    fields = {a.json()["errors"][0]["field"] for a in answers[50:]}
    assert fields == {"body", "title"}


async def test_a_message_id_reused_with_other_content_is_a_409_and_other_callers_ids_are_theirs(
    intake: Intake, keys: dict[str, str]
) -> None:
    sms = {"X-API-Key": keys["channel:sms"]}
    first = {"message_id": "gw-77", "from": "081255550000", "text": "Lampu jalan mati"}
    accepted = intake.http.post("/v1/channels/sms", headers=sms, json=first)
    replayed = intake.http.post("/v1/channels/sms", headers=sms, json=first)
    other = intake.http.post(
        "/v1/channels/sms", headers=sms, json={**first, "text": "Banjir di Martapura"}
    )
    assert accepted.status_code == replayed.status_code == 202
    assert replayed.json()["tracking_number"] == accepted.json()["tracking_number"]
    assert other.status_code == 409, other.text
    assert other.json()["errors"][0]["field"] == "message_id"
    # The same id from another caller (an operator entering the SMS) is that caller's own.
    elsewhere = intake.http.post(
        "/v1/channels/sms", headers={"X-API-Key": keys["operator:rina"]}, json=first
    )
    assert elsewhere.status_code == 202, elsewhere.text
    assert elsewhere.json()["tracking_number"] != accepted.json()["tracking_number"]


def test_an_email_in_another_reporters_thread_is_a_new_complaint(
    intake: Intake, keys: dict[str, str]
) -> None:
    mail = {"X-API-Key": keys["channel:email"]}
    original = {
        "message_id": "<thread-1@warga.id>",
        "from": "Ani <ani@warga.id>",
        "subject": "Sampah menumpuk",
        "text": "Sampah di pasar tidak diangkut.",
    }
    tracking = intake.http.post("/v1/channels/email", headers=mail, json=original).json()[
        "tracking_number"
    ]
    stranger = intake.http.post(
        "/v1/channels/email",
        headers=mail,
        json={
            "message_id": "<thread-2@lain.id>",
            "from": "Orang Lain <lain@lain.id>",
            "subject": "Re: Sampah menumpuk",
            "text": "Itu bohong, tutup saja.",
            "in_reply_to": "<thread-1@warga.id>",
        },
    ).json()
    own = intake.http.post(
        "/v1/channels/email",
        headers=mail,
        json={
            "message_id": "<thread-3@warga.id>",
            "from": "Ani <ani@warga.id>",
            "subject": "Re: Sampah menumpuk",
            "text": "Masih menumpuk.",
            "in_reply_to": "<thread-1@warga.id>",
        },
    ).json()
    assert stranger["tracking_number"] != tracking
    assert own["tracking_number"] == tracking


def test_keys_are_required_and_scoped(intake: Intake, keys: dict[str, str]) -> None:
    complaint = {"title": "Jalan rusak", "body": "Berlubang."}
    assert intake.http.post("/v1/complaints", json=complaint).status_code == 401
    wrong = {"X-API-Key": "not-a-key"}
    assert intake.http.post("/v1/complaints", headers=wrong, json=complaint).status_code == 401
    sms_key = {"X-API-Key": keys["channel:sms"]}
    assert intake.http.post("/v1/complaints", headers=sms_key, json=complaint).status_code == 403
    import_by_channel = intake.http.post(
        "/v1/complaints:import", headers=sms_key, content=CSV_IMPORT
    )
    assert import_by_channel.status_code == 403
    as_bearer = {"Authorization": f"Bearer {keys['channel:web']}"}
    assert intake.http.post("/v1/complaints", headers=as_bearer, json=complaint).status_code == 202
    schemes = intake.http.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    metrics = intake.http.get("/metrics").text
    for channel, reason, count in (
        ("web", "unauthenticated", 2),
        ("web", "wrong_scope", 1),
        ("import", "wrong_scope", 1),
    ):
        sample = (
            f'lapor_hub_intake_submissions_rejected_total{{channel="{channel}",reason="{reason}"}}'
        )
        assert f"{sample} {count}.0" in metrics


def test_bad_input_names_each_field_in_indonesian_and_english(
    intake: Intake, keys: dict[str, str]
) -> None:
    response = intake.http.post(
        "/v1/complaints",
        headers={"X-API-Key": keys["channel:web"]},
        json={"title": "", "location": {"region_code": "3171"}, "reporter": {"email": "x"}},
    )
    assert response.status_code == 422
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(errors) == {"title", "body", "location.region_code", "reporter.email"}
    assert errors["body"]["id"] == "wajib diisi"


def test_a_confidential_complaints_token_comes_back_on_every_replay_and_import(
    intake: Intake, keys: dict[str, str]
) -> None:
    def can_see(tracking: str, token: str) -> bool:
        shown = intake.http.get(f"/v1/complaints/{tracking}", headers={"X-Access-Token": token})
        return shown.status_code == 200

    web = {"X-API-Key": keys["channel:web"], "Idempotency-Key": "rahasia-1"}
    form = {"title": "Pungli", "body": "Pungli di loket.", "confidential": True}
    first, again = (intake.http.post("/v1/complaints", headers=web, json=form) for _ in range(2))
    assert first.json()["tracking_number"] == again.json()["tracking_number"]
    assert first.json()["access_token"] == again.json()["access_token"]
    assert can_see(again.json()["tracking_number"], again.json()["access_token"])

    operator = {"X-API-Key": keys["operator:rina"], "content-type": "text/csv"}
    csv = "source_id,title,body,channel,confidential\nR-1,Pungli,Pungli di loket,paper,ya\n"
    imported = [
        intake.http.post("/v1/complaints:import", headers=operator, content=csv).json()
        for _ in range(2)
    ]
    [row] = imported[0]["accepted"]
    [again_row] = imported[1]["already_imported"]
    assert row["access_token"] == again_row["access_token"]
    assert can_see(row["tracking_number"], again_row["access_token"])


def test_a_confidential_complaint_is_shown_only_with_its_access_token(
    intake: Intake, keys: dict[str, str]
) -> None:
    response = intake.http.post(
        "/v1/complaints",
        headers={"X-API-Key": keys["channel:web"]},
        json={
            "title": "Pungli pejabat",
            "body": "Saya melihat pungli.",
            "confidential": True,
            "reporter": {"name": "Rahasia Sekali", "phone": "081299990000"},
        },
    ).json()
    tracking, token = response["tracking_number"], response["access_token"]
    assert token
    assert intake.http.get(f"/v1/complaints/{tracking}").status_code == 404
    assert intake.http.get(f"/v1/complaints/{tracking}?access_token=wrong").status_code == 404
    shown = intake.http.get(f"/v1/complaints/{tracking}", headers={"X-Access-Token": token})
    assert shown.status_code == 200
    assert "Rahasia Sekali" not in shown.text and "081299990000" not in shown.text
    # Read over the phone in lower case without dashes, it still finds the complaint.
    spoken = tracking.replace("-", " ").lower()
    assert (
        intake.http.get(f"/v1/complaints/{spoken}", headers={"X-Access-Token": token}).status_code
        == 200
    )


async def test_a_reply_quoting_a_tracking_number_joins_its_complaint(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    sms = {"X-API-Key": keys["channel:sms"]}
    first = intake.http.post(
        "/v1/channels/sms",
        headers=sms,
        json={"message_id": "s-1", "from": "081255551111", "text": "Jembatan putus di Tapin"},
    ).json()
    tracking = first["tracking_number"]
    reply = intake.http.post(
        "/v1/channels/sms",
        headers=sms,
        json={
            "message_id": "s-2",
            "from": "081255551111",
            "text": f"{tracking} sudah 3 hari belum ada tindakan",
        },
    ).json()
    stranger = intake.http.post(
        "/v1/channels/sms",
        headers=sms,
        json={
            "message_id": "s-3",
            "from": "081299998888",
            "text": f"{tracking} saya juga mengeluh",
        },
    ).json()
    assert reply == {**reply, "tracking_number": tracking, "reply": True}
    assert stranger["tracking_number"] != tracking and stranger["reply"] is False
    events = await _events(bootstrap_servers, fresh_topic.name, 3)
    assert len(_received(events)) == 2
    [change] = [e for e in events if isinstance(e, ComplaintStatusChanged)]
    assert change.status is ComplaintStatus.REPORTER_REPLIED
    assert change.tracking_number == tracking


async def test_with_kafka_down_complaints_are_accepted_and_arrive_once_in_order_later(
    database_url: str, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    cut_off = _intake(database_url, "127.0.0.1:1", fresh_topic.name)  # no broker there
    cut_off.process.start()
    headers = {"X-API-Key": keys["channel:sms"]}
    tracking = []
    try:
        # 100 complaints by SMS, then each reporter's reply: 200 events, two per complaint.
        for n in range(100):
            response = cut_off.http.post(
                "/v1/channels/sms",
                headers=headers,
                json={"message_id": f"out-{n}", "from": f"0812{n:08d}", "text": "Jalan rusak."},
            )
            assert response.status_code == 202
            tracking.append(response.json()["tracking_number"])
        for n, number in enumerate(tracking):
            reply = cut_off.http.post(
                "/v1/channels/sms",
                headers=headers,
                json={"message_id": f"re-{n}", "from": f"0812{n:08d}", "text": f"{number} ada?"},
            )
            assert reply.status_code == 202 and reply.json()["reply"] is True
        # The backlog shows in the metrics while Kafka is away.
        backlog = 'lapor_hub_outbox_pending_events{schema="intake"} 200.0'
        for _ in range(60):  # measured between the relay's retries
            metrics = cut_off.http.get("/metrics").text
            if backlog in metrics:
                break
            await asyncio.sleep(0.5)
        assert backlog in metrics
    finally:
        cut_off.process.stop()

    restored = _intake(database_url, bootstrap_servers, fresh_topic.name)
    restored.process.start()
    began = time.monotonic()
    try:
        events = await _events(bootstrap_servers, fresh_topic.name, 200)
    finally:
        restored.process.stop()
    print(f"outbox of 200 drained within {time.monotonic() - began:.1f} s of Kafka's return")
    assert len(events) == len({e.event_id for e in events}) == 200
    by_complaint: dict[str, list[str]] = defaultdict(list)
    for event in events:
        assert isinstance(event, ComplaintReceived | ComplaintStatusChanged)
        number = (
            event.complaint.tracking_number
            if isinstance(event, ComplaintReceived)
            else event.tracking_number
        )
        by_complaint[number].append(event.event_type)
    in_order = ["ComplaintReceived", "ComplaintStatusChanged"]
    assert by_complaint == {number: in_order for number in tracking}


def test_with_postgresql_down_intake_answers_503_never_accepted(
    keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    nowhere = f"postgresql://lapor_hub:lapor_hub@127.0.0.1:{free_port()}/lapor_hub"
    service = _intake(nowhere, bootstrap_servers, fresh_topic.name)
    service.process.start()
    try:
        response = service.http.post(
            "/v1/complaints",
            headers={"X-API-Key": keys["channel:web"]},
            json={"title": "x", "body": "y"},
        )
    finally:
        service.process.stop()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


async def test_the_public_timeline_follows_the_complaints_later_events(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    tracking = intake.http.post(
        "/v1/complaints",
        headers={"X-API-Key": keys["channel:web"]},
        json={"title": "Jalan rusak", "body": "Jalan provinsi di Martapura berlubang."},
    ).json()["tracking_number"]
    [received] = _received(await _events(bootstrap_servers, fresh_topic.name, 1))
    routed = ComplaintRouted(
        **received.caused(
            producer="router",
            tracking_number=tracking,
            agency_code="63.pupr",
            level=AuthorityLevel.PROVINSI,
            confidence=0.9,
            routing_table_version="test",
            disposition_due=date(2026, 12, 3),
            followup_due=date(2026, 12, 10),
        )
    )
    producer = idempotent_producer(bootstrap_servers, "test-router")
    await producer.start()
    try:
        await publish(producer, routed, fresh_topic)
        await publish(producer, routed, fresh_topic)  # redelivered: shown once
    finally:
        await producer.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = intake.http.get(f"/v1/complaints/{tracking}").json()
        if status["status"] == "routed":
            break
        await asyncio.sleep(0.3)
    assert status["agency_code"] == "63.pupr"
    assert [entry["status"] for entry in status["timeline"]] == ["received", "routed"]


async def test_meta_calls_the_whatsapp_webhook_directly_verified_and_signed(
    intake: Intake, bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    check = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    subscribe = intake.http.get(
        "/v1/channels/whatsapp", params={**check, "hub.verify_token": META_VERIFY_TOKEN}
    )
    assert (subscribe.status_code, subscribe.text) == (200, "1158201444")
    wrong = intake.http.get("/v1/channels/whatsapp", params={**check, "hub.verify_token": "x"})
    assert wrong.status_code == 403

    webhook: Any = copy.deepcopy(WHATSAPP)
    webhook["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.signed-1"
    body = json.dumps(webhook).encode()
    signature = "sha256=" + hmac.new(META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    json_type = {"content-type": "application/json"}
    forged = {**json_type, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (
        intake.http.post("/v1/channels/whatsapp", content=body, headers=forged).status_code == 401
    )
    signed = {**json_type, "X-Hub-Signature-256": signature}
    for _replay in range(2):  # Meta retries a webhook it thinks failed
        response = intake.http.post("/v1/channels/whatsapp", content=body, headers=signed)
        assert response.status_code == 202, response.text
    [received] = _received(await _events(bootstrap_servers, fresh_topic.name, 1))
    assert received.complaint.channel_message_id == "wamid.signed-1"
    assert received.complaint.tracking_number == response.json()["accepted"][0]["tracking_number"]


async def test_racing_retries_and_replays_create_one_complaint(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    base_url = str(intake.http.base_url)
    web = {"X-API-Key": keys["channel:web"], "Idempotency-Key": "double-click-7"}
    sms = {"X-API-Key": keys["channel:sms"]}
    form = {"title": "Pasar becek", "body": "Drainase pasar tersumbat."}
    replayed_sms = {"message_id": "gw-991", "from": "081255557777", "text": "Jalan putus di Batola"}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/complaints", headers=web, json=form) for _ in range(20)),
            *(client.post("/v1/channels/sms", headers=sms, json=replayed_sms) for _ in range(20)),
        )
    assert {r.status_code for r in responses} == {202}
    tracking = {r.json()["tracking_number"] for r in responses}
    assert len(tracking) == 2
    received = _received(await _events(bootstrap_servers, fresh_topic.name, 2))
    assert sorted(e.complaint.tracking_number for e in received) == sorted(tracking)


async def test_complaints_submitted_together_are_each_stored_with_their_own_number(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    """Stored in groups (one statement for the complaints arriving together), yet each answer
    names its own complaint, and each complaint has its own event."""
    web = {"X-API-Key": keys["channel:web"]}
    titles = [f"Lampu jalan mati nomor {n}" for n in range(40)]
    async with httpx.AsyncClient(base_url=str(intake.http.base_url), timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/complaints", headers=web, json={"title": t, "body": t + "."})
                for t in titles
            )
        )
    assert {r.status_code for r in responses} == {202}
    answered = {
        r.json()["tracking_number"]: title for r, title in zip(responses, titles, strict=True)
    }
    received = _received(await _events(bootstrap_servers, fresh_topic.name, len(titles)))
    assert {e.complaint.tracking_number: e.complaint.title for e in received} == answered


async def test_intakes_sharing_a_port_relay_each_complaint_once_when_one_stops(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec, keys: dict[str, str]
) -> None:
    """Two intake processes on one port (LAPOR_HUB_INTAKE_SHARE_PORT), as when intake is given
    the cores of a host: both listen; one relay leads; when one stops the other serves alone and
    relays whatever the first left."""
    first = _intake(database_url, bootstrap_servers, fresh_topic.name, share_port=True)
    port = int(str(first.http.base_url).rsplit(":", 1)[1])
    second = _intake(
        database_url,
        bootstrap_servers,
        fresh_topic.name,
        name="intake-2",
        port=port,
        share_port=True,
    )
    first.process.start()
    second.process.spawn()
    web = {"X-API-Key": keys["channel:web"]}
    # A connection per request, so that the kernel spreads them over both processes.
    fresh_connections = httpx.Limits(max_keepalive_connections=0)
    answered: dict[str, str] = {}

    async def submit(titles: list[str]) -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, limits=fresh_connections
        ) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/v1/complaints", headers=web, json={"title": t, "body": t})
                    for t in titles
                )
            )
        assert {r.status_code for r in responses} == {202}
        answered.update(
            (r.json()["tracking_number"], t) for r, t in zip(responses, titles, strict=True)
        )

    try:
        second.process.wait_listening(port, 2)
        await submit([f"Drainase tersumbat nomor {n}" for n in range(60)])
        first.process.stop()
        second.process.wait_listening(port, 1)
        await submit([f"Jalan berlubang nomor {n}" for n in range(30)])
    finally:
        first.process.stop()
        second.process.stop()
    received = _received(await _events(bootstrap_servers, fresh_topic.name, len(answered)))
    assert len(received) == len(answered) == 90
    assert {e.complaint.tracking_number: e.complaint.title for e in received} == answered


def test_each_key_has_its_own_rate_limit(
    database_url: str, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    limited = _intake(database_url, bootstrap_servers, fresh_topic.name, rate_limit="3/minute")
    limited.process.start()
    try:
        web, sms = {"X-API-Key": keys["channel:web"]}, {"X-API-Key": keys["channel:sms"]}
        form = {"title": "Lampu jalan", "body": "Lampu jalan mati."}
        statuses = [
            limited.http.post("/v1/complaints", headers=web, json=form).status_code
            for _ in range(3)
        ]
        over = limited.http.post("/v1/complaints", headers=web, json=form)
        other_key = limited.http.post(
            "/v1/channels/sms",
            headers=sms,
            json={"message_id": "rl-1", "from": "081255550000", "text": "Lampu mati"},
        )
    finally:
        limited.process.stop()
    assert statuses == [202, 202, 202]
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 61
    assert other_key.status_code == 202


PublicLimited = Callable[[tuple[str, str]], tuple[Intake, str]]


@pytest.fixture
def public_limited(
    database_url: str, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> Iterator[PublicLimited]:
    """Starts an intake with the given public lookup limits (per address; misses per address)
    and gives it with one complaint's tracking number; stops it afterwards."""
    started: list[Intake] = []

    def start(limits: tuple[str, str]) -> tuple[Intake, str]:
        limited = _intake(database_url, bootstrap_servers, fresh_topic.name, public_limits=limits)
        started.append(limited)
        limited.process.start()
        form = {"title": "Lampu jalan", "body": "Lampu jalan mati."}
        web = {"X-API-Key": keys["channel:web"]}
        accepted = limited.http.post("/v1/complaints", headers=web, json=form)
        return limited, accepted.json()["tracking_number"]

    yield start
    for limited in started:
        limited.process.stop()


def test_a_client_guessing_tracking_numbers_is_throttled_counted_and_logged(
    public_limited: PublicLimited,
) -> None:
    limited, tracking = public_limited(("8/minute", "3/minute"))
    http = limited.http
    found = [http.get(f"/v1/complaints/{tracking}").status_code for _ in range(2)]
    guesses = [new_tracking_number(date.today()) for _ in range(3)]
    missed = [
        http.get(f"/v1/complaints/{guesses[0]}").status_code,
        http.get(f"/open311/v2/requests/{guesses[1]}.json").status_code,
        http.get(f"/v1/complaints/{guesses[2]}").status_code,
    ]
    # Three misses: even a number that exists waits now, on either route.
    after_scan = http.get(f"/v1/complaints/{tracking}")
    open311_after_scan = http.get(f"/open311/v2/requests/{tracking}.json")
    metrics = http.get("/metrics").text
    assert found == [200, 200]
    assert missed == [404, 404, 404]
    for refused in (after_scan, open311_after_scan):
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert (
        'lapor_hub_intake_public_lookup_misses_total{route="/v1/complaints/{tracking_number}"} 2.0'
        in metrics
    )
    log = limited.process.log_path.read_text(encoding="utf-8")
    assert all(guess in log for guess in guesses)


def test_the_public_lookups_of_one_address_are_limited_even_when_they_find_something(
    public_limited: PublicLimited,
) -> None:
    limited, tracking = public_limited(("3/minute", "3/minute"))
    statuses = [limited.http.get(f"/v1/complaints/{tracking}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_guessed_keys_are_throttled_per_address_and_known_keys_still_pass(
    intake: Intake, keys: dict[str, str]
) -> None:
    form = {"title": "Lampu jalan", "body": "Lampu jalan mati."}
    guessed = [
        intake.http.post("/v1/complaints", headers={"X-API-Key": f"guess-{n}"}, json=form)
        for n in range(11)
    ]
    known = intake.http.post(
        "/v1/complaints", headers={"X-API-Key": keys["channel:web"]}, json=form
    )
    assert [r.status_code for r in guessed] == [401] * 10 + [429]
    assert 1 <= int(guessed[-1].headers["Retry-After"]) <= 61
    assert known.status_code == 202


def test_an_import_over_the_row_cap_is_refused_whole_and_stores_nothing(
    intake: Intake, keys: dict[str, str]
) -> None:
    operator = {"X-API-Key": keys["operator:rina"], "content-type": "text/csv"}
    rows = "".join(f"CAP-{n},Jalan rusak,Jalan rusak nomor {n}\n" for n in range(5_001))
    over = intake.http.post(
        "/v1/complaints:import", headers=operator, content="source_id,title,body\n" + rows
    )
    assert over.status_code == 413
    assert "5000 rows" in over.json()["detail"]
    # Nothing of it was stored: its first row imports now as new.
    first = intake.http.post(
        "/v1/complaints:import",
        headers=operator,
        content="source_id,title,body\nCAP-0,Jalan rusak,Jalan rusak nomor 0\n",
    ).json()
    assert len(first["accepted"]) == 1 and first["already_imported"] == []


async def test_the_public_status_shows_no_reply_text_and_no_phone_or_nik(
    intake: Intake, keys: dict[str, str]
) -> None:
    sms = {"X-API-Key": keys["channel:sms"]}
    tracking = intake.http.post(
        "/v1/channels/sms",
        headers=sms,
        json={
            "message_id": "p-1",
            "from": "081255553333",
            "text": "Hubungi 0812-5555-3333. Banjir",
        },
    ).json()["tracking_number"]
    intake.http.post(
        "/v1/channels/sms",
        headers=sms,
        json={
            "message_id": "p-2",
            "from": "081255553333",
            "text": f"{tracking} saya Budi NIK 6371010101010001",
        },
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = intake.http.get(f"/v1/complaints/{tracking}")
        if status.json()["status"] == "reporter_replied":
            break
        await asyncio.sleep(0.3)
    open311 = intake.http.get(f"/open311/v2/requests/{tracking}.json")
    for shown in (status.text, open311.text):
        assert "Budi" not in shown and "6371010101010001" not in shown
        assert "5555" not in shown
    assert status.json()["timeline"][-1]["status"] == "reporter_replied"


async def test_the_public_view_masks_location_notes_and_the_exact_position(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    form = {
        "api_key": keys["channel:open311"],
        "service_code": "pekerjaan-umum-dan-penataan-ruang",
        "description": "Drainase tersumbat",
        "address_string": "rumah Pak RT, HP +62 812-5555-7777",
        "lat": "-3.3194374",
        "long": "114.5907603",
    }
    tracking = intake.http.post("/open311/v2/requests.json", data=form).json()[0][
        "service_request_id"
    ]
    [received] = _received(await _events(bootstrap_servers, fresh_topic.name, 1))
    follow_up = followup(received, 1).model_copy(
        update={"note": "Sudah dicek dengan pelapor, NIK 6371.0101.0101.0001, wa (+62) 8125555777"}
    )
    await publish_all(bootstrap_servers, fresh_topic.name, [follow_up])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = intake.http.get(f"/v1/complaints/{tracking}")
        if status.json()["status"] == "followed_up":
            break
        await asyncio.sleep(0.3)
    open311 = intake.http.get(f"/open311/v2/requests/{tracking}.json").json()[0]
    assert status.json()["timeline"][-1]["status"] == "followed_up"
    for shown in (status.text, json.dumps(open311)):
        assert "5555" not in shown and "0101" not in shown, shown
    assert "[nomor telepon disamarkan]" in status.json()["location"]
    assert (open311["lat"], open311["long"]) == (-3.319, 114.591)


def test_bodies_over_the_limit_are_refused_declared_or_streamed(
    intake: Intake, keys: dict[str, str]
) -> None:
    headers = {"X-API-Key": keys["channel:web"], "content-type": "application/json"}
    too_big = b'{"title": "x", "body": "' + b"a" * 300_000 + b'"}'

    def chunked() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for start in range(0, len(too_big), 16_384):
            yield too_big[start : start + 16_384]

    declared = intake.http.post("/v1/complaints", headers=headers, content=too_big)
    streamed = intake.http.post("/v1/complaints", headers=headers, content=chunked())
    assert declared.status_code == streamed.status_code == 413
    sample = 'lapor_hub_intake_submissions_rejected_total{channel="web",reason="too_large"}'
    assert f"{sample} 2.0" in intake.http.get("/metrics").text
    spec = intake.http.get("/openapi.json").json()
    assert {"/v1/complaints", "/v1/channels/whatsapp", "/open311/v2/requests.json"} <= set(
        spec["paths"]
    )


def _console_login(intake: Intake, key: str, headers: dict[str, str] | None = None) -> str:
    """The console's session cookie for an operator key (the Set-Cookie header itself)."""
    response = intake.http.post("/console/masuk", data={"key": key}, headers=headers or {})
    assert response.status_code == 303, response.text
    [cookie] = [
        c for c in response.headers.get_list("set-cookie") if c.startswith("lapor_console=")
    ]
    return cookie


def test_console_logout_ends_the_session_on_the_server_even_for_the_same_cookie_replayed(
    intake: Intake, keys: dict[str, str]
) -> None:
    cookie = _console_login(intake, keys["operator:rina"]).split(";")[0]
    other = _console_login(intake, keys["operator:rina"]).split(";")[0]  # another browser
    page = intake.http.get("/console/cari", headers={"cookie": cookie})
    assert page.status_code == 200
    [csrf] = re.findall(r'name="csrf" value="([^"]+)"', page.text)[:1]
    out = intake.http.post("/console/keluar", data={"csrf": csrf}, headers={"cookie": cookie})
    assert out.status_code == 303
    # The cookie the browser was told to forget, sent again by someone who kept a copy:
    replayed = intake.http.get("/console/cari", headers={"cookie": cookie})
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/console/masuk"
    # Only that session ended: the operator's other browser is still logged in.
    assert intake.http.get("/console/cari", headers={"cookie": other}).status_code == 200


def test_cookies_are_secure_behind_a_trusted_tls_proxy_only(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec, keys: dict[str, str]
) -> None:
    """X-Forwarded-Proto is believed only from LAPOR_HUB_TRUSTED_PROXIES: the test's client
    (127.0.0.1) is that proxy for one intake, and an unknown peer for the other."""
    https = {"X-Forwarded-Proto": "https"}
    secure = {}
    for proxies in ("10.20.30.40", "127.0.0.1"):
        proxied = _intake(database_url, bootstrap_servers, fresh_topic.name, name="intake-proxy")
        proxied.process.env = {**proxied.process.env, "LAPOR_HUB_TRUSTED_PROXIES": proxies}
        proxied.process.start()
        try:
            console = _console_login(proxied, keys["operator:rina"], https)
            citizen = proxied.http.get("/lapor", headers=https).headers["set-cookie"]
            plain = _console_login(proxied, keys["operator:rina"])  # no header: plain http
        finally:
            proxied.process.stop()
        secure[proxies] = ["; secure" in c.lower() for c in (console, citizen, plain)]
    assert secure == {"10.20.30.40": [False, False, False], "127.0.0.1": [True, True, False]}


def _raw_email(message_id: bytes, content_type: bytes, body: bytes, subject: bytes = b"") -> bytes:
    return (
        b"From: Ahmad Fauzi <ahmad@example.id>\r\nTo: lapor@kalselprov.go.id\r\n"
        b"Subject: " + (subject or b"Lampu jalan mati") + b"\r\n"
        b"Message-ID: " + message_id + b"\r\nIn-Reply-To: " + message_id + b"\r\n"
        b"Content-Type: " + content_type + b"\r\n\r\n" + body + b"\r\n"
    )


def test_bad_input_is_a_4xx_never_a_500(intake: Intake, keys: dict[str, str]) -> None:
    """Input each of which answered 500 (an exception no handler knew): unknown charsets,
    malformed Message-IDs, imports that are not UTF-8 or nest too deep or hold a cell over the
    csv module's limit, non-ASCII where a token is compared."""
    mail = {"X-API-Key": keys["channel:email"], "content-type": "message/rfc822"}
    operator = {"X-API-Key": keys["operator:rina"]}
    text = b"text/plain; charset=utf-8"
    answers = {
        "unknown charset, not UTF-8": intake.http.post(
            "/v1/channels/email",
            headers=mail,
            content=_raw_email(b"<cs-1@example.id>", b"text/plain; charset=x-unknown", b"\xff\xfe"),
        ),
        "malformed Message-ID <>": intake.http.post(
            "/v1/channels/email", headers=mail, content=_raw_email(b"<>", text, b"Lampu mati.")
        ),
        "malformed Message-ID <a@[b": intake.http.post(
            "/v1/channels/email", headers=mail, content=_raw_email(b"<a@[b", text, b"Lampu mati.")
        ),
        "subject not UTF-8": intake.http.post(
            "/v1/channels/email",
            headers=mail,
            content=_raw_email(b"<subj-1@example.id>", text, b"Lampu mati.", b"\xff\xfe\xfd"),
        ),
        "import not UTF-8": intake.http.post(
            "/v1/complaints:import",
            headers={**operator, "content-type": "text/csv"},
            content=b"source_id,title,body\nU-1,Jalan,Jalan rusak \xff\xfe parah\n",
        ),
        "import line nested deep": intake.http.post(
            "/v1/complaints:import",
            headers={**operator, "content-type": "application/x-ndjson"},
            content=b'{"title": "Jalan", "body": "Jalan rusak parah."}\n'
            + b'{"x": ' * 100_000
            + b"1"
            + b"}" * 100_000
            + b"\n",
        ),
        "CSV cell over the limit": intake.http.post(
            "/v1/complaints:import",
            headers={**operator, "content-type": "text/csv"},
            content=b"source_id,title,body\nBIG-1,Jalan," + b"a" * 140_000 + b"\n",
        ),
        "non-ASCII verify token": intake.http.get(
            "/v1/channels/whatsapp",
            params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "tokén"},
        ),
    }
    cookie = _console_login(intake, keys["operator:rina"]).split(";")[0]
    answers["non-ASCII CSRF"] = intake.http.post(
        "/console/keluar", data={"csrf": "tokén"}, headers={"cookie": cookie}
    )
    statuses = {case: answer.status_code for case, answer in answers.items()}
    assert statuses == {
        "unknown charset, not UTF-8": 422,
        # A Message-ID the email package cannot parse is an opaque token all the same (`<>`:
        # none, the message is known by its bytes); an undecodable subject keeps U+FFFD.
        "malformed Message-ID <>": 202,
        "malformed Message-ID <a@[b": 202,
        "subject not UTF-8": 202,
        "import not UTF-8": 422,
        "import line nested deep": 200,  # the good line imported, the deep one reported
        "CSV cell over the limit": 422,
        "non-ASCII verify token": 403,
        "non-ASCII CSRF": 403,
    }
    assert "line 2" in answers["import not UTF-8"].text
    assert "line 2" in answers["CSV cell over the limit"].text
    deep = answers["import line nested deep"].json()
    assert len(deep["accepted"]) == 1
    assert deep["rejected"] == [
        {"line": 2, "field": "-", "reason": "not a complaint: nested too deeply"}
    ]
    # The charset's own fallback: a body that is UTF-8 after all is taken as such.
    utf8 = intake.http.post(
        "/v1/channels/email",
        headers=mail,
        content=_raw_email(
            b"<cs-2@example.id>",
            b"text/plain; charset=x-unknown",
            b"Lampu jalan mati, tolong diperbaiki.",
        ),
    )
    assert utf8.status_code == 202, utf8.text


def test_complaints_with_an_empty_message_id_are_each_accepted(
    intake: Intake, keys: dict[str, str]
) -> None:
    """Found by schemathesis: the second web complaint with `channel_message_id: ""` was a 500
    (the empty id collided with the first one's, and no lookup looked for an empty id)."""
    web = {"X-API-Key": keys["channel:web"]}
    answers = [
        intake.http.post(
            "/v1/complaints",
            headers=web,
            json={
                "title": "Lampu mati",
                "body": f"Lampu jalan mati, nomor {n}.",
                "channel_message_id": "",
            },
        )
        for n in range(2)
    ]
    assert [a.status_code for a in answers] == [202, 202], answers[-1].text
    assert answers[0].json()["tracking_number"] != answers[1].json()["tracking_number"]


def _assert_kept_without_exif_and_one_left_out(
    intake: Intake, attachment: Attachment, channel: Channel
) -> None:
    assert attachment.content_type == "image/jpeg"
    served = intake.http.get(httpx.URL(str(attachment.url)).path)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert dict(Image.open(io.BytesIO(served.content)).getexif()) == {}
    metrics = intake.http.get("/metrics").text
    assert f'lapor_hub_intake_files_left_out_total{{channel="{channel.value}"}} 1.0' in metrics


def _photo_with_camera() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "Galaxy S23"  # the phone's model
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def test_an_emails_photos_become_the_complaints_attachments(
    intake: Intake, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    message = EmailMessage()
    message["From"] = "Ahmad Fauzi <ahmad@example.id>"
    message["Subject"] = "Jalan berlubang"
    message["Message-ID"] = "<foto-1@example.id>"
    message.set_content("Jalan di depan pasar Martapura berlubang, fotonya terlampir.")
    message.add_attachment(_photo_with_camera(), maintype="image", subtype="jpeg", filename="a.jpg")
    message.add_attachment(b"MZ\x90\x00 not a photo", maintype="application", subtype="x-dos")
    headers = {"X-API-Key": keys["channel:email"], "content-type": "message/rfc822"}

    response = intake.http.post("/v1/channels/email", headers=headers, content=message.as_bytes())

    assert response.status_code == 202, response.text
    [received] = _received(await _events(bootstrap_servers, fresh_topic.name, 1))
    [attachment] = received.complaint.attachments
    _assert_kept_without_exif_and_one_left_out(intake, attachment, Channel.EMAIL)


GRAPH_TOKEN = "EAAG-the-business-accounts-token"


@dataclass
class GraphApi:
    """Meta's Graph API as far as media go: for a media id, where its file is; there, its bytes;
    both only to the business account's token, and 404 for an id it does not know."""

    files: dict[str, bytes]
    port: int = 0
    asked: list[str] = field(default_factory=list)

    def _known(self, request: web.Request) -> bytes:
        self.asked.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {GRAPH_TOKEN}":
            raise web.HTTPUnauthorized()
        if request.match_info["media_id"] not in self.files:
            raise web.HTTPNotFound(text='{"error": {"message": "Unsupported get request."}}')
        return self.files[request.match_info["media_id"]]

    async def media(self, request: web.Request) -> web.Response:
        data = self._known(request)
        media_id = request.match_info["media_id"]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"http://127.0.0.1:{self.port}/media/{media_id}?ext=1",
                "mime_type": "image/jpeg",
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def download(self, request: web.Request) -> web.Response:
        return web.Response(body=self._known(request), content_type="image/jpeg")


@contextlib.asynccontextmanager
async def graph_api(graph: GraphApi) -> AsyncIterator[GraphApi]:
    application = web.Application()
    application.router.add_get("/v21.0/{media_id}", graph.media)
    application.router.add_get("/media/{media_id}", graph.download)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    graph.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", graph.port).start()
    try:
        yield graph
    finally:
        await runner.cleanup()


def _whatsapp_photos(*photos: tuple[str, str, str]) -> dict[str, Any]:
    """The WhatsApp webhook with one image message per (message id, media id, caption)."""
    webhook: Any = copy.deepcopy(WHATSAPP)
    [template] = webhook["entry"][0]["changes"][0]["value"]["messages"]
    webhook["entry"][0]["changes"][0]["value"]["messages"] = [
        {
            **{k: v for k, v in template.items() if k != "text"},
            "id": message_id,
            "type": "image",
            "image": {"id": media_id, "mime_type": "image/jpeg", "caption": caption},
        }
        for message_id, media_id, caption in photos
    ]
    return dict(webhook)


async def test_a_whatsapp_photo_is_fetched_from_meta_and_becomes_the_complaints_attachment(
    database_url: str, keys: dict[str, str], bootstrap_servers: str, fresh_topic: TopicSpec
) -> None:
    async with graph_api(GraphApi({"1001": _photo_with_camera()})) as graph:
        intake = _intake(
            database_url,
            bootstrap_servers,
            fresh_topic.name,
            env={
                "LAPOR_HUB_INTAKE_WHATSAPP_ACCESS_TOKEN": GRAPH_TOKEN,
                "LAPOR_HUB_INTAKE_WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{graph.port}/v21.0",
            },
        )
        intake.process.start()
        try:
            webhook = _whatsapp_photos(
                ("wamid.foto-1", "1001", "Jalan berlubang di depan pasar Martapura"),
                ("wamid.foto-2", "404404", "Lampu PJU di Jl. Veteran mati"),
            )
            # In a thread: the Graph API above answers on this test's event loop meanwhile.
            response = await asyncio.to_thread(
                intake.http.post,
                "/v1/channels/whatsapp",
                json=webhook,
                headers={"X-API-Key": keys["channel:whatsapp"]},
            )
            assert response.status_code == 202, response.text
            assert len(response.json()["accepted"]) == 2  # the missing photo's message too
            received = {
                e.complaint.channel_message_id: e.complaint
                for e in _received(await _events(bootstrap_servers, fresh_topic.name, 2))
            }
            [attachment] = received["wamid.foto-1"].attachments
            assert received["wamid.foto-2"].attachments == ()
            _assert_kept_without_exif_and_one_left_out(intake, attachment, Channel.WHATSAPP)
            assert sorted(graph.asked) == ["/media/1001", "/v21.0/1001", "/v21.0/404404"]
        finally:
            intake.process.stop()
