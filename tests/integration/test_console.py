"""The operator console in headless Chromium (Debian's, driven by Playwright), against the whole
system as real processes on real Kafka and PostgreSQL: log in with an operator key, see the
pipeline, route a complaint out of triage with one click (its `RoutingOverrideRequested` reaches
the topic, the router answers and it leaves the queue), see overdue agencies and dead letters,
retry one, and follow a complaint's timeline. Screenshots go to test-artifacts/console/.

Also the router's and sync's dead-letter endpoints: token required, listed, retried."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import BrowserContext, Page, expect

from services.intake.service import IntakeService
from services.notifier.repository import KeyRole, NotifierRepository
from shared.events import Actor, ActorKind, RoutingOverrideRequested, parse_event
from shared.kafka import idempotent_producer
from shared.migrations import apply_migrations
from shared.settings import Settings
from shared.topics import TopicSpec
from testkit.browser import chromium, needs_chromium, screenshot
from testkit.processes import ServiceProcess, running, smtp_sink, system_processes
from testkit.waiting import eventually

OPS_TOKEN = Settings().ops_token.get_secret_value()
VAGUE = "Mohon ditindaklanjuti. Ada masalah yang perlu diperhatikan segera oleh pemerintah."
ROAD = "Jalan provinsi rusak parah di Jl. A. Yani km 20 Kabupaten Banjar, banyak lubang besar."

pytestmark = needs_chromium


@pytest.fixture
def console_database_url(empty_database_url: str) -> str:
    """A database of its own: the pipeline's counts and the dead letters are this test's only."""
    apply_migrations(empty_database_url)
    return empty_database_url


@pytest.fixture
async def pool(console_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(console_database_url, min_size=1, max_size=4)
    yield created
    await created.close()


@pytest.fixture
def system(
    console_database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec, notifier_key: str
) -> Iterator[Mapping[str, ServiceProcess]]:
    with smtp_sink() as smtp_port:
        processes = system_processes(
            console_database_url, bootstrap_servers, fresh_topic.name, smtp_port, name="console"
        )
        intake = processes["intake"]
        intake.env = {
            **intake.env,
            "LAPOR_HUB_CONSOLE_ROUTER_OPS_URL": processes["router"].origin,
            "LAPOR_HUB_CONSOLE_SYNC_OPS_URL": processes["sync"].origin,
            "LAPOR_HUB_CONSOLE_NOTIFIER_URL": processes["notifier"].origin,
            "LAPOR_HUB_CONSOLE_NOTIFIER_API_KEY": notifier_key,
        }
        with running(processes) as started:
            yield started


@pytest.fixture
async def operator_key(pool: asyncpg.Pool) -> str:
    return await IntakeService(pool).create_key("operator", f"budi-{uuid.uuid4().hex[:4]}")


@pytest.fixture
async def notifier_key(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as connection:
        return await NotifierRepository(connection).create_api_key(
            f"console-{uuid.uuid4().hex[:6]}", None, KeyRole.DEAD_LETTER_OPERATOR
        )


async def _submit(intake: str, key: str, body: str, received_at: datetime | None = None) -> str:
    complaint = {"channel": "walk_in", "title": body[:60], "body": body}
    if received_at is not None:
        complaint["received_at"] = received_at.isoformat()
    async with httpx.AsyncClient(base_url=intake, headers={"X-API-Key": key}) as client:
        response = await client.post("/v1/operator/complaints", json=complaint)
    assert response.status_code == 202, response.text
    tracking: str = response.json()["tracking_number"]
    return tracking


async def _agencies(pool: asyncpg.Pool, tracking: list[str]) -> dict[str, str | None]:
    rows = await pool.fetch(
        "SELECT c.tracking_number, p.agency_code FROM intake.complaints c"
        " LEFT JOIN intake.complaint_progress p USING (complaint_id)"
        " WHERE c.tracking_number = ANY($1::text[])",
        tracking,
    )
    return {r["tracking_number"]: r["agency_code"] for r in rows}


async def _override_on_topic(bootstrap_servers: str, topic: str, tracking: str) -> Actor:
    """The operator of the first RoutingOverrideRequested for the complaint on the topic."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.value is None or not record.value.startswith(b"{"):
                        continue  # the poison record this test published
                    event = parse_event(record.value)
                    if (
                        isinstance(event, RoutingOverrideRequested)
                        and event.tracking_number == tracking
                    ):
                        return event.operator
    finally:
        await consumer.stop()
    raise AssertionError(f"no RoutingOverrideRequested for {tracking} on {topic}")


async def _publish_poison(bootstrap_servers: str, topic: str) -> None:
    producer = idempotent_producer(bootstrap_servers, client_id="test-poison")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"not an event", key=b"poison-record")
    finally:
        await producer.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "chromium-profile") as context:
        yield context


async def _shot(page: Page, name: str) -> None:
    await screenshot(page, "console", name)


async def test_operator_console_in_chromium(
    *,
    system: Mapping[str, ServiceProcess],
    browser: BrowserContext,
    pool: asyncpg.Pool,
    operator_key: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
) -> None:
    intake = system["intake"].origin
    vague = [await _submit(intake, operator_key, VAGUE) for _ in range(2)]
    # Received 40 days ago: its agency's follow-up date has long passed.
    late = await _submit(intake, operator_key, ROAD, datetime.now(UTC) - timedelta(days=40))
    await _publish_poison(bootstrap_servers, fresh_topic.name)

    async def routed() -> bool:
        agencies = await _agencies(pool, [*vague, late])
        return all(agencies.get(t) == "63.triage" for t in vague) and agencies[late] == "63.pupr"

    await eventually(routed)
    for schema in ("intake", "router", "sync"):  # every consumer set the poison record aside

        async def set_aside(schema: str = schema) -> bool:
            return bool(await pool.fetchval(f"SELECT count(*) = 1 FROM {schema}.dead_letters"))

        await eventually(set_aside)

    page = await browser.new_page()
    await _log_in(page, browser, intake, operator_key)
    chosen, other = vague
    await _route_from_triage(page, pool, chosen, other)
    operator = await _override_on_topic(bootstrap_servers, fresh_topic.name, chosen)
    assert operator.kind is ActorKind.OPERATOR and operator.id and operator.id.startswith("budi")
    await _overdue_and_dead_letters(page)
    await _search(page, late)

    await page.click("button.link")  # Keluar
    await expect(page).to_have_url(f"{intake}/console/masuk")
    await page.goto(f"{intake}/console/triase")
    await expect(page).to_have_url(f"{intake}/console/masuk")

    await _forms_need_the_sessions_csrf_token(intake, operator_key)
    await _dead_letter_endpoints(system, pool, fresh_topic.name, other)


async def _log_in(page: Page, browser: BrowserContext, intake: str, key: str) -> None:
    await page.goto(f"{intake}/console")
    await expect(page).to_have_url(f"{intake}/console/masuk")
    await page.fill("#key", "not-a-key")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("tidak dikenal")
    await _shot(page, "login")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Ringkasan alur pengaduan")
    await expect(page.locator("tr[data-stage=received] td").nth(2)).to_have_text("3")
    await expect(page.locator("ul.services .dot.up")).to_have_count(4)
    await expect(page.locator("#nasional")).to_contain_text("Normal (tertutup)")
    cookie = next(c for c in await browser.cookies() if c["name"] == "lapor_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    await _shot(page, "overview")


async def _route_from_triage(page: Page, pool: asyncpg.Pool, chosen: str, other: str) -> None:
    """One click routes `chosen`; once the router answers it leaves the queue, `other` stays."""
    await page.click("text=Antrean triase")
    row = page.locator(f"tr[data-tracking='{chosen}']")
    await expect(page.locator("table.queue tbody tr")).to_have_count(2)
    await _shot(page, "triage")
    await row.locator("select").select_option("63.dinkes")
    await row.get_by_role("button", name="Disposisikan").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"{chosen} dikirim ke router")
    await _shot(page, "triage-routed")

    async def left_the_queue() -> bool:
        await page.reload()
        return await page.locator(f"tr[data-tracking='{chosen}']").count() == 0

    await eventually(left_the_queue, timeout_s=30)
    assert (await _agencies(pool, [chosen]))[chosen] == "63.dinkes"
    await expect(page.locator(f"tr[data-tracking='{other}']")).to_be_visible()


async def _overdue_and_dead_letters(page: Page) -> None:
    await page.click("text=Terlambat per instansi")
    await expect(page.locator("tr[data-agency='63.pupr'] td").nth(1)).to_have_text("1")
    await _shot(page, "overdue")

    await page.click("text=Surat mati")
    for service in ("intake", "router", "sync"):
        await expect(page.locator(f"#surat-{service} tbody tr")).to_have_count(1)
    await expect(page.locator("#surat-notifier")).to_contain_text("Tidak ada")
    await _shot(page, "dead-letters")
    for service in ("router", "intake"):  # an unparseable record is refused again
        await page.locator(f"#surat-{service}").get_by_role("button", name="Ulangi").click()
        await expect(page.locator(".flash.error")).to_contain_text(f"Surat {service} #1")
        await expect(page.locator(".flash.error")).to_contain_text("Ditolak lagi")


async def _search(page: Page, tracking: str) -> None:
    await page.click("text=Cari nomor")
    await page.fill("input[name=nomor]", tracking.lower())
    await page.click("form.search button")
    await expect(page.locator("ol.timeline")).to_contain_text(
        "Didisposisikan ke 63.pupr (putaran 1)"
    )
    await expect(page.locator(".badge.open")).to_have_text("terlambat")
    await _shot(page, "search")


async def _forms_need_the_sessions_csrf_token(intake: str, operator_key: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        login = await client.post("/console/masuk", data={"key": operator_key})
        assert login.status_code == 303
        forged = {"csrf": "forged", "agency_code": "63.dinkes"}
        assert (await client.post("/console/triase/LPR-X", data=forged)).status_code == 403
    async with httpx.AsyncClient(base_url=intake) as stranger:
        assert (await stranger.get("/console/triase")).status_code == 303


async def _dead_letter_endpoints(
    system: Mapping[str, ServiceProcess], pool: asyncpg.Pool, topic: str, in_triage: str
) -> None:
    """Router and sync list their dead letters and retry one only for the operations token; a
    retry re-applies the stored event through the service's handler (once)."""
    router, sync = system["router"].origin, system["sync"].origin
    complaint_id = await pool.fetchval(
        "SELECT complaint_id FROM intake.complaints WHERE tracking_number = $1", in_triage
    )
    # An event the router refused before a fix, which its handler takes now.
    override = RoutingOverrideRequested(
        complaint_id=complaint_id,
        correlation_id=complaint_id,
        producer="intake",
        tracking_number=in_triage,
        agency_code="63.dishub",
        operator=Actor(kind=ActorKind.OPERATOR, id="test"),
    )
    dead_id = await pool.fetchval(
        'INSERT INTO router.dead_letters (topic, partition, "offset", key, payload, error)'
        " VALUES ($1, 0, -1, $2, $3, 'refused before a fix') RETURNING id",
        topic,
        str(complaint_id).encode(),
        override.model_dump_json().encode(),
    )
    token = {"Authorization": f"Bearer {OPS_TOKEN}"}
    wrong = {"Authorization": "Bearer wrong"}
    async with httpx.AsyncClient() as client:
        for base in (router, sync):
            assert (await client.get(f"{base}/v1/dead-letters")).status_code == 401
            retry_one = f"{base}/v1/dead-letters/1/retry"
            assert (await client.post(retry_one, headers=wrong)).status_code == 401
        listed = (await client.get(f"{router}/v1/dead-letters", headers=token)).json()
        assert dead_id in [letter["id"] for letter in listed["dead_letters"]]
        retry = f"{router}/v1/dead-letters/{dead_id}/retry"
        retried = await client.post(retry, headers=token)
        assert retried.status_code == 202, retried.text
        assert (await client.post(retry, headers=token)).status_code == 404
        (poison,) = (await client.get(f"{sync}/v1/dead-letters", headers=token)).json()[
            "dead_letters"
        ]
        assert poison["complaint_id"] == "poison-record"
        refused = await client.post(f"{sync}/v1/dead-letters/{poison['id']}/retry", headers=token)
        assert refused.status_code == 409 and refused.json()["state"] == "refused"

    async def rerouted() -> bool:
        return (await _agencies(pool, [in_triage]))[in_triage] == "63.dishub"

    await eventually(rerouted)
