"""The agency web inbox in headless Chromium (Debian's, driven by Playwright), against a real
notifier process on real Kafka and PostgreSQL: staff accounts made with `lapor-hub instansi
create`, a staff member of Dinas PUPR logs in, sees the agency's assignments with the overdue one
on top, opens an anonymous complaint (its reporter never shown, NIK and phone masked, its photo
linked, the reporter's reply in its history, masked too), acknowledges it, writes a follow-up
from an answer template (sent twice, it acts once) and resolves it, and returns another as
bukan wewenang with a suggested agency, each action recorded with the account and announced on
the outbox; a staff member of Dinas Kesehatan neither sees it listed nor can open it; five
wrong passwords lock an account. Screenshots of every page at 360 and 1280 px go to
test-artifacts/instansi/, and the list page's weight to test-artifacts/instansi/weight.txt."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from shared.events import Actor, ActorKind, ComplaintStatus, ComplaintStatusChanged
from shared.migrations import apply_migrations
from shared.topics import TopicSpec
from shared.working_days import WITA
from testkit.browser import ARTIFACTS, chromium, needs_chromium, shots
from testkit.factories import complaint_received, publish_all, routed
from testkit.processes import ServiceProcess, running, smtp_sink, system_processes
from testkit.staff import PASSWORD, create_staff, create_staff_account, instansi
from testkit.waiting import eventually

NIK = "6371010101010001"
REPORTER = "Siti Aminah"
PHONE = "+62 812 5555 0101"


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    apply_migrations(empty_database_url)
    return empty_database_url


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    yield created
    await created.close()


@pytest.fixture
def notifier(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> Iterator[ServiceProcess]:
    with smtp_sink() as smtp_port:
        process = system_processes(
            database_url, bootstrap_servers, fresh_topic.name, smtp_port, name="instansi"
        )["notifier"]
        with running({"notifier": process}):
            yield process


async def _shots(page: Page, name: str) -> None:
    await shots(page, "instansi", name)


@needs_chromium
async def test_agency_inbox_in_chromium(
    *,
    notifier: ServiceProcess,
    pool: asyncpg.Pool,
    database_url: str,
    bootstrap_servers: str,
    fresh_topic: TopicSpec,
    tmp_path: Path,
) -> None:
    today = datetime.now(WITA).date()
    suffix = uuid.uuid4().hex[:4]
    pupr, dinkes = f"rina{suffix}", f"dodi{suffix}"
    await create_staff_account(database_url, pupr, "63.pupr", "Rina Hartati")
    await create_staff_account(database_url, dinkes, "63.dinkes", "Dodi Pratama")

    anonymous = complaint_received(
        title="Jembatan Gambut retak",
        body=f"Saya {REPORTER}, NIK {NIK}, HP {PHONE}. Jembatan di Gambut retak dan goyang.",
        anonymous=True,
        attachments=[
            {
                "filename": "jembatan.jpg",
                "content_type": "image/jpeg",
                "size_bytes": 1234,
                "url": "http://127.0.0.1:8080/lampiran/abc123",
            }
        ],
    )
    late = complaint_received(title="Jalan provinsi berlubang sejak bulan lalu")
    elsewhere = complaint_received(title="Puskesmas tutup di jam layanan")
    await publish_all(
        bootstrap_servers,
        fresh_topic.name,
        [
            anonymous,
            late,
            elsewhere,
            routed(anonymous, "63.pupr", followup_due=today + timedelta(days=5)),
            routed(late, "63.pupr", followup_due=today - timedelta(days=3)),
            routed(elsewhere, "63.dinkes", followup_due=today + timedelta(days=2)),
        ],
    )

    async def assigned() -> bool:
        return bool(await pool.fetchval("SELECT count(*) = 3 FROM notifier.assignments"))

    await eventually(assigned)
    tracking = anonymous.complaint.tracking_number
    base = f"{notifier.origin}/instansi"
    reply = ComplaintStatusChanged(
        **anonymous.caused(
            producer="intake",
            tracking_number=tracking,
            status=ComplaintStatus.REPORTER_REPLIED,
            actor=Actor(kind=ActorKind.REPORTER),
            note=f"Ini {REPORTER} lagi, hubungi {PHONE}: retaknya makin lebar.",
        )
    )
    await publish_all(bootstrap_servers, fresh_topic.name, [reply])

    async def replied() -> bool:
        return bool(await pool.fetchval("SELECT count(*) = 1 FROM notifier.reporter_events"))

    await eventually(replied)

    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await _log_in(page, browser, base, pupr)
        await _inbox_lists_the_agencys_own(page, base, tracking, late.complaint.tracking_number)
        await _anonymous_reporter_never_shown(page, base, tracking)
        await _acknowledge_follow_up_resolve(page, base, tracking)
        await _forms_need_the_sessions_csrf_token(browser, base, tracking)
        await _reject_as_not_our_authority(page, base, late.complaint.tracking_number)
        await page.get_by_role("button", name="Keluar").click()
        await expect(page).to_have_url(f"{base}/masuk")

        await _log_in(page, browser, base, dinkes, shots=False)
        await expect(page.locator(".list .item")).to_have_count(1)
        await expect(page.locator("main")).not_to_contain_text(tracking)
        response = await page.goto(f"{base}/pengaduan/{tracking}")
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_contain_text("tidak ada di kotak masuk")
        await _shots(page, "not-found")
        await page.get_by_role("button", name="Keluar").click()
        await _logins_are_throttled(page, dinkes)

    await _recorded_with_the_account(pool, tracking, pupr)


async def _log_in(
    page: Page, browser: BrowserContext, base: str, username: str, *, shots: bool = True
) -> None:
    await page.goto(base)
    await expect(page).to_have_url(f"{base}/masuk")
    await page.fill("#username", username)
    await page.fill("#password", "not-the-password")
    await page.get_by_role("button", name="Masuk").click()
    await expect(page.get_by_role("alert")).to_contain_text("salah")
    if shots:
        await _shots(page, "login")
    await page.fill("#password", PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page).to_have_url(base)
    cookie = next(c for c in await browser.cookies() if c["name"] == "lapor_instansi")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/instansi"


async def _logins_are_throttled(page: Page, username: str) -> None:
    """Five wrong passwords in 15 minutes lock the account: the right one is refused too."""
    for _ in range(5):
        await page.fill("#username", username)
        await page.fill("#password", "not-the-password")
        await page.get_by_role("button", name="Masuk").click()
        await expect(page.get_by_role("alert")).to_contain_text("salah")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Masuk").click()
    response = await answer.value
    assert response.status == 429 and int(response.headers["retry-after"]) > 0
    await expect(page.get_by_role("alert")).to_contain_text("Terlalu banyak")


async def _inbox_lists_the_agencys_own(page: Page, base: str, tracking: str, late: str) -> None:
    items = page.locator(".list .item")
    await expect(items).to_have_count(2)
    await expect(items.first).to_have_class("item overdue")
    await expect(items.first).to_contain_text(late)
    await expect(items.nth(1)).to_contain_text(tracking)
    await expect(page.locator("main")).to_contain_text("1 terlambat")
    await _shots(page, "inbox")
    # The page's weight as a phone on a slow connection fetches it: the HTML and its stylesheet.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(cookies=cookies) as client:
        html = await client.get(base)
        css = await client.get(f"{base}/static/instansi.css")
    assert html.status_code == 200 and css.status_code == 200
    assert "default-src 'self'" in html.headers["content-security-policy"]
    assert html.headers["x-content-type-options"] == "nosniff"
    weight = len(html.content) + len(css.content)
    (ARTIFACTS / "instansi" / "weight.txt").write_text(
        f"list page with 2 assignments: HTML {len(html.content)} B + CSS {len(css.content)} B"
        f" = {weight / 1024:.1f} KB (uncompressed), 2 requests, no script, no image\n"
    )
    assert weight < 20 * 1024
    await page.goto(f"{base}?lang=en")
    await expect(page.locator("h1")).to_have_text("Inbox")
    await _shots(page, "inbox-en")
    await page.goto(f"{base}?lang=id")
    await expect(page.locator("h1")).to_have_text("Kotak masuk")


async def _anonymous_reporter_never_shown(page: Page, base: str, tracking: str) -> None:
    await page.get_by_role("link", name="Jembatan Gambut retak").click()
    await expect(page).to_have_url(f"{base}/pengaduan/{tracking}")
    main = page.locator("main")
    await expect(main).to_contain_text("Anonim")
    await expect(main).to_contain_text("[NIK disamarkan]")
    await expect(main).to_contain_text("[nomor telepon disamarkan]")
    history = page.locator(".history")
    await expect(history).to_contain_text("Pelapor menanggapi")
    await expect(history).to_contain_text("retaknya makin lebar")
    await expect(page.get_by_role("link", name="Lampiran 1")).to_have_attribute(
        "href", "http://127.0.0.1:8080/lampiran/abc123"
    )
    html = await page.content()
    for secret in (REPORTER, "Aminah", NIK, "5555", "0101"):
        assert secret not in html, secret
    await _shots(page, "assignment")


async def _acknowledge_follow_up_resolve(page: Page, base: str, tracking: str) -> None:
    await page.get_by_role("button", name="Terima pengaduan").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"{tracking}: Diterima")
    await expect(page.locator(".history")).to_contain_text("Rina Hartati")
    await _shots(page, "acknowledged")

    await page.get_by_role("link", name="Templat jawaban").click()
    await page.fill("#title", "Survei lapangan")
    await page.fill("#body", "Tim kami akan meninjau lokasi dalam 3 hari kerja.")
    await page.get_by_role("button", name="Simpan templat").click()
    await expect(page.locator(".flash.ok")).to_have_text("Templat disimpan.")
    await _shots(page, "templates")

    await page.goto(f"{base}/pengaduan/{tracking}")
    await page.get_by_role("link", name="Survei lapangan").click()
    text = page.locator("#follow-up-text")
    await expect(text).to_have_value("Tim kami akan meninjau lokasi dalam 3 hari kerja.")
    form = page.locator("#tindak-lanjut")
    sent = {
        name: await form.locator(f"input[name={name}]").get_attribute("value") or ""
        for name in ("csrf", "idem")
    }
    await page.get_by_role("button", name="Kirim tindak lanjut").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Ditindaklanjuti")
    await expect(page.locator(".history")).to_contain_text("meninjau lokasi")
    # The same form sent again (a double click, a resubmit after a lost answer): answered as
    # the first time, no second follow-up; the same form key with other text is refused.
    path = f"{base}/pengaduan/{tracking}/tindak-lanjut"
    again = await page.request.post(
        path, form={**sent, "text": "Tim kami akan meninjau lokasi dalam 3 hari kerja."}
    )
    assert again.status == 200 and "Ditindaklanjuti" in await again.text()
    other = await page.request.post(path, form={**sent, "text": "Isi lain"})
    assert other.status == 409 and "sudah pernah dikirim" in await other.text()
    await page.reload()
    await expect(page.locator(".history li", has_text="meninjau lokasi")).to_have_count(1)

    await page.fill("#resolve-text", "Jembatan sudah diperbaiki.")
    await page.get_by_role("button", name="Tandai selesai").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Selesai")
    await expect(page.get_by_role("button", name="Tandai selesai")).to_have_count(0)
    await _shots(page, "resolved")


async def _reject_as_not_our_authority(page: Page, base: str, tracking: str) -> None:
    """A rejection needs its reason (422 beside the field, the suggestion kept); with it, the
    complaint goes back with the suggested agency."""
    await page.goto(f"{base}/pengaduan/{tracking}")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    refused = await page.request.post(
        f"{base}/pengaduan/{tracking}/tolak",
        form={"csrf": csrf or "", "text": "  ", "suggested_agency_code": "63.dinkes"},
    )
    assert refused.status == 422
    await page.set_content(await refused.text())
    await expect(page.locator("#reject-error")).to_have_text("Isi dulu bagian ini.")
    await expect(page.locator("#reject-text")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#suggested")).to_have_value("63.dinkes")

    await page.goto(f"{base}/pengaduan/{tracking}")
    await page.fill("#reject-text", "Jalan ini jalan kabupaten, bukan jalan provinsi.")
    await page.select_option("#suggested", "63.dinkes")
    await _shots(page, "reject")
    await page.get_by_role("button", name="Kembalikan: bukan wewenang").click()
    await expect(page).to_have_url(base)
    await expect(page.locator(".flash.ok")).to_contain_text(f"{tracking} dikembalikan")
    # Until the router routes it again (no router here), listed among the closed ones.
    rejected = page.locator(".list .item", has_text=tracking)
    await expect(rejected).to_contain_text("Bukan wewenang")
    await expect(rejected).not_to_have_class("item overdue")


async def _forms_need_the_sessions_csrf_token(
    browser: BrowserContext, base: str, tracking: str
) -> None:
    """With the session cookie but without its token, nothing is done."""
    response = await browser.request.post(
        f"{base}/pengaduan/{tracking}/tindak-lanjut", form={"csrf": "forged", "text": "palsu"}
    )
    assert response.status == 403
    assert "kedaluwarsa" in await response.text()


async def _recorded_with_the_account(pool: asyncpg.Pool, tracking: str, username: str) -> None:
    rows = await pool.fetch(
        "SELECT x.action, x.key_name, s.username FROM notifier.assignment_actions x"
        " JOIN notifier.assignments a ON a.id = x.assignment_id"
        " JOIN notifier.staff_accounts s ON s.id = x.staff_account_id"
        " WHERE a.tracking_number = $1 ORDER BY x.id",
        tracking,
    )
    assert [(r["action"], r["username"]) for r in rows] == [
        ("acknowledge", username),
        ("follow_up", username),
        ("resolve", username),
    ]
    announced = await pool.fetchval(
        "SELECT count(*) FROM notifier.outbox o JOIN notifier.complaints c USING (complaint_id)"
        " WHERE c.tracking_number = $1 AND o.event_type = 'ComplaintStatusChanged'",
        tracking,
    )
    assert announced == 3
    suggested = await pool.fetchval(
        "SELECT x.suggested_agency_code FROM notifier.assignment_actions x"
        " JOIN notifier.assignments a ON a.id = x.assignment_id WHERE x.action = 'reject'"
    )
    assert suggested == "63.dinkes"


def _session_cookie(base: str, username: str, password: str = PASSWORD) -> str:
    """Log in as a browser does (the login form's CSRF token bound to its browser cookie); the
    session cookie as `name=value`."""
    with httpx.Client(base_url=base) as browser:
        form = browser.get("/masuk")
        [token] = re.findall(r'name="csrf" value="([^"]+)"', form.text)
        answer = browser.post(
            "/masuk", data={"username": username, "password": password, "csrf": token}
        )
        assert answer.status_code == 303, answer.text
        return f"lapor_instansi={answer.cookies['lapor_instansi']}"


def _opens_the_inbox(base: str, cookie: str) -> bool:
    answer = httpx.get(base, headers={"cookie": cookie})
    assert answer.status_code in (200, 303)
    return answer.status_code == 200


def test_logout_a_new_password_and_disabling_end_sessions_on_the_server(
    notifier: ServiceProcess, database_url: str
) -> None:
    base = f"{notifier.origin}/instansi"
    username = f"sari{uuid.uuid4().hex[:4]}"
    create_staff(database_url, username, "63.pupr", "Sari Dewi")
    phone, desk = _session_cookie(base, username), _session_cookie(base, username)
    page = httpx.get(base, headers={"cookie": phone})
    [csrf] = re.findall(r'name="csrf" value="([^"]+)"', page.text)[:1]
    forged = httpx.post(f"{base}/keluar", data={"csrf": "tokén"}, headers={"cookie": phone})
    assert forged.status_code == 403  # not a 500 for a non-ASCII CSRF field
    out = httpx.post(f"{base}/keluar", data={"csrf": csrf}, headers={"cookie": phone})
    assert out.status_code == 303
    # A copy of the phone's cookie replayed after its logout; the desk's session is another.
    assert not _opens_the_inbox(base, phone)
    assert _opens_the_inbox(base, desk)

    new_password = "kata-sandi-baru-2026"
    instansi(database_url, "password", username, password=new_password)
    assert not _opens_the_inbox(base, desk)
    again = _session_cookie(base, username, new_password)
    assert _opens_the_inbox(base, again)
    instansi(database_url, "disable", username)
    assert not _opens_the_inbox(base, again)
