"""The pages end to end in headless Chromium (Debian's, driven by Playwright), against the whole
system as real processes on real Kafka and PostgreSQL, the real router choosing the agency: a
citizen files an anonymous, confidential complaint with a photo at /lapor; a staff member of the
agency the router chose finds it in /instansi (the reporter never shown, on the page or in what
the agency was sent; the photo in the page, fetched by the notifier with intake's attachments
token and served to that agency's staff alone, without its EXIF), acknowledges it, follows up and
resolves it; the citizen says at /lacak it is not fixed, the agency follows up again and resolves
it (a reopened assignment takes a follow-up before it can be resolved), and the citizen rates the
answer; a staff member of another agency neither sees it listed nor can open it (404); the rating
and the reopening are counted for the dashboard's satisfaction panels. Every page at 360 px and
1280 px into test-artifacts/end-to-end/."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import httpx
import pytest
from PIL import Image
from playwright.async_api import BrowserContext, Page, expect

from shared.db import create_pool
from testkit.browser import PHONE, chromium, needs_chromium, shots
from testkit.processes import ServiceProcess
from testkit.staff import create_staff_account, log_in
from testkit.waiting import eventually

pytestmark = needs_chromium
FOLDER = "end-to-end"
TITLE = "Jalan provinsi berlubang di Martapura"
BODY = "Jalan provinsi rusak parah di Jl. A. Yani km 20 Kabupaten Banjar, banyak lubang besar."
REPORTER, PHONE_NUMBER, EMAIL = "Siti Aminah", "081255550101", "siti.aminah@example.id"
# What would tell the agency who the anonymous reporter is.
IDENTITY = ("Siti", "Aminah", "55550101", "siti.aminah")
GPS = 0x8825


def _photo() -> bytes:
    """A JPEG as a phone takes it: its maker, model and where it was taken in the EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "Samsung"
    exif[0x0110] = "Galaxy S23"
    exif[GPS] = {1: "S", 2: (3.0, 25.0, 0.0), 3: "E", 4: (114.0, 48.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "gray").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture
async def pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(empty_database_url)
    yield created
    await created.close()


@pytest.fixture
async def citizen(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "citizen", **PHONE) as context:
        yield context


@pytest.fixture
async def staff(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """The staff's browser: one profile per person would be the same (cookies per login)."""
    async with chromium(tmp_path / "staff") as context:
        yield context


async def test_a_complaint_from_the_citizens_form_to_the_agency_and_back(
    *,
    browsed_system: Mapping[str, ServiceProcess],
    pool: asyncpg.Pool,
    empty_database_url: str,
    citizen: BrowserContext,
    staff: BrowserContext,
    tmp_path: Path,
) -> None:
    intake = browsed_system["intake"].origin
    inbox = f"{browsed_system['notifier'].origin}/instansi"
    photo = tmp_path / "jalan.jpg"
    photo.write_bytes(_photo())

    reporter = await citizen.new_page()
    tracking = await _file_anonymously_with_a_photo(reporter, intake, photo)
    agency = await _routed_by_the_router(reporter, pool, tracking)
    other = "63.dinkes" if agency != "63.dinkes" else "63.pupr"
    suffix = uuid.uuid4().hex[:4]
    ours, theirs = f"rina{suffix}", f"dodi{suffix}"
    await create_staff_account(empty_database_url, ours, agency, "Rina Hartati")
    await create_staff_account(empty_database_url, theirs, other, "Dodi Pratama")

    agent = await staff.new_page()
    await agent.goto(inbox)
    await expect(agent).to_have_url(f"{inbox}/masuk")
    await shots(agent, FOLDER, "instansi-masuk")
    await log_in(agent, inbox, ours)
    await _the_reporter_is_never_shown(agent, pool, inbox, intake, tracking)
    await _acknowledge_follow_up_resolve(agent, tracking)

    await _until_shown(reporter, "Jalan sudah ditambal.")
    await expect(reporter.locator("p.status strong")).to_have_text("Selesai")
    await shots(reporter, FOLDER, "lacak-selesai")
    await reporter.fill("#teks-belum", "Lubangnya muncul lagi setelah hujan.")
    await reporter.click("button.warn")
    await expect(reporter.locator("p.ok")).to_contain_text("Terkirim")
    await _until_shown(reporter, "Pelapor menyatakan masalah belum selesai")
    await expect(reporter.locator("p.status strong")).to_have_text("Dibuka kembali")
    await shots(reporter, FOLDER, "lacak-dibuka-kembali")

    await _the_agency_takes_it_up_again(agent, tracking)

    await _until_shown(reporter, "Sudah diaspal ulang.")
    await expect(reporter.locator("p.status strong")).to_have_text("Selesai")
    await reporter.check("#nilai-5", force=True)
    await reporter.fill("#teks-nilai", "Cepat ditangani, terima kasih.")
    await reporter.get_by_role("button", name="Kirim penilaian").click()
    await expect(reporter.locator("p.ok")).to_contain_text("Terkirim")
    await _until_shown(reporter, "Pelapor memberi penilaian 5/5")
    await expect(reporter.get_by_text("Terima kasih atas penilaian Anda.")).to_be_visible()
    await shots(reporter, FOLDER, "lacak-dinilai")

    await agent.get_by_role("button", name="Keluar").click()
    await expect(agent).to_have_url(f"{inbox}/masuk")
    await _another_agency_cannot_open_it(agent, inbox, theirs, tracking)
    await _the_events_of_the_story(pool, tracking)
    await _counted_for_the_dashboard(intake, agency)
    await _nothing_the_agency_was_sent_names_the_reporter(pool, tracking)


async def _file_anonymously_with_a_photo(page: Page, intake: str, photo: Path) -> str:
    await page.goto(f"{intake}/lapor")
    await shots(page, FOLDER, "lapor")
    await page.fill("#judul", TITLE)
    await page.fill("#isi", BODY)
    await page.select_option("#kabkota", "6303")
    await page.select_option("#kecamatan", "6303050")
    await page.fill("#lokasi", "Jl. A. Yani km 20")
    await page.set_input_files("#foto", str(photo))
    await page.check("#anonim")
    await page.check("#rahasia")  # its photo is then private: the notifier fetches it with a token
    await page.fill("#nama", REPORTER)
    await page.check("#ingin_kabar")
    await page.fill("#telepon", PHONE_NUMBER)
    await page.fill("#email", EMAIL)
    await shots(page, FOLDER, "lapor-diisi")
    await page.click("button.primary")
    await expect(page.locator("#judul-terima")).to_contain_text("pengaduan Anda diterima")
    tracking = (await page.locator("#nomor").inner_text()).strip()
    assert tracking.startswith("LPR-")
    await shots(page, FOLDER, "diterima")
    await page.get_by_role("link", name="Lihat perkembangan").click()
    await expect(page.locator("h1.tracking")).to_have_text(tracking)
    await expect(page.locator("ul.photos img")).to_have_count(1)  # its reporter sees it
    return tracking


async def _until_shown(page: Page, text: str, timeout_s: float = 60) -> None:
    """Reload the tracking page until its timeline (filled from Kafka) shows `text`."""

    async def shown() -> bool:
        await page.reload()
        return text in await page.locator("main").inner_text()

    await eventually(shown, timeout_s)


async def _routed_by_the_router(page: Page, pool: asyncpg.Pool, tracking: str) -> str:
    """The router's choice, once the notifier has the assignment; the citizen sees it named."""

    async def assigned() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM notifier.assignments WHERE tracking_number = $1", tracking
            )
        )

    await eventually(assigned)
    agency: str = await pool.fetchval(
        "SELECT agency_code FROM notifier.assignments WHERE tracking_number = $1", tracking
    )
    assert agency and agency != "63.triage", agency  # a road complaint with its place: an agency
    await _until_shown(page, "Diteruskan ke")
    await shots(page, FOLDER, "lacak-diteruskan")
    return agency


async def _the_reporter_is_never_shown(
    page: Page, pool: asyncpg.Pool, inbox: str, intake: str, tracking: str
) -> None:
    """Not in the list, not on the complaint's page; the photo shown, served without the
    phone's EXIF, to this agency's staff alone."""
    item = page.locator(".list .item", has_text=tracking)
    await expect(item).to_contain_text(TITLE)
    await shots(page, FOLDER, "instansi-kotak-masuk")
    await page.get_by_role("link", name=TITLE).click()
    await expect(page).to_have_url(f"{inbox}/pengaduan/{tracking}")
    await expect(page.locator("main")).to_contain_text("Anonim")
    await shots(page, FOLDER, "instansi-pengaduan")
    shown = await page.content()
    for secret in IDENTITY:
        assert secret not in shown, secret

    # The photo in the page, served by the notifier (never intake's own address: the staff's
    # browser is given no URL that works without their session).
    photo = page.get_by_role("img", name="Foto 1")
    assert await photo.get_attribute("src") == f"/instansi/pengaduan/{tracking}/lampiran/1"
    assert await photo.evaluate("image => image.complete && image.naturalWidth") == 320
    assert f"{intake}/lampiran/" not in shown
    served = await page.request.get(f"{inbox}/pengaduan/{tracking}/lampiran/1")
    assert served.status == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["content-security-policy"].startswith("sandbox")
    assert dict(Image.open(io.BytesIO(await served.body())).getexif()) == {}
    async with httpx.AsyncClient() as anyone:  # no session: the login page, not the photo
        refused = await anyone.get(f"{inbox}/pengaduan/{tracking}/lampiran/1")
    assert refused.status_code == 303 and refused.headers["location"].endswith("/instansi/masuk")
    missing = await page.request.get(f"{inbox}/pengaduan/{tracking}/lampiran/2")
    assert missing.status == 404


async def _acknowledge_follow_up_resolve(page: Page, tracking: str) -> None:
    await page.get_by_role("button", name="Terima pengaduan").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"{tracking}: Diterima")
    await shots(page, FOLDER, "instansi-diterima")
    # Acknowledged, it cannot be resolved before a follow-up has told the reporter something.
    await expect(page.get_by_role("button", name="Tandai selesai")).to_have_count(0)
    await page.fill("#follow-up-text", "Tim sudah meninjau lokasi; penambalan dijadwalkan besok.")
    await page.get_by_role("button", name="Kirim tindak lanjut").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Ditindaklanjuti")
    await page.fill("#resolve-text", "Jalan sudah ditambal.")
    await page.get_by_role("button", name="Tandai selesai").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Selesai")
    await expect(page.locator(".history")).to_contain_text("Rina Hartati")
    await shots(page, FOLDER, "instansi-selesai")


async def _the_agency_takes_it_up_again(page: Page, tracking: str) -> None:
    """The reporter's 'not fixed' reopens it in the agency's inbox; a reopened assignment is
    followed up again before it is resolved."""

    async def reopened() -> bool:
        await page.reload()
        status = await page.locator("p.meta .badge").first.inner_text()
        return status == "Dibuka lagi: masalah belum selesai"

    await eventually(reopened)
    await expect(page.locator(".history")).to_contain_text("Lubangnya muncul lagi")
    await expect(page.get_by_role("button", name="Tandai selesai")).to_have_count(0)
    await shots(page, FOLDER, "instansi-dibuka-kembali")
    await page.fill("#follow-up-text", "Lubang ditambal ulang dengan aspal panas.")
    await page.get_by_role("button", name="Kirim tindak lanjut").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"{tracking}: Ditindaklanjuti")
    await page.fill("#resolve-text", "Sudah diaspal ulang.")
    await page.get_by_role("button", name="Tandai selesai").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Selesai")


async def _another_agency_cannot_open_it(
    page: Page, inbox: str, username: str, tracking: str
) -> None:
    await log_in(page, inbox, username)
    await expect(page.locator("main")).not_to_contain_text(tracking)
    await shots(page, FOLDER, "instansi-lain-kotak-masuk")
    response = await page.goto(f"{inbox}/pengaduan/{tracking}")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_contain_text("tidak ada di kotak masuk")
    assert TITLE not in await page.content()
    await shots(page, FOLDER, "instansi-lain-tidak-ditemukan")
    photo = await page.request.get(f"{inbox}/pengaduan/{tracking}/lampiran/1")
    assert photo.status == 404 and "image" not in photo.headers["content-type"]


async def _the_events_of_the_story(pool: asyncpg.Pool, tracking: str) -> None:
    """On Kafka, in the order they happened, as intake's read model recorded them."""
    rows = await pool.fetch(
        "SELECT t.payload->>'status' AS status FROM intake.operator_timeline t"
        " JOIN intake.complaints c USING (complaint_id)"
        " WHERE c.tracking_number = $1 AND t.event_type = 'ComplaintStatusChanged'"
        " ORDER BY t.occurred_at",
        tracking,
    )
    assert [r["status"] for r in rows] == [
        "acknowledged",
        "followed_up",
        "resolved",
        "reopened",
        "followed_up",
        "resolved",
        "rated",
    ]


async def _nothing_the_agency_was_sent_names_the_reporter(
    pool: asyncpg.Pool, tracking: str
) -> None:
    """Every e-mail and webhook to the agency (the assignment, the reopening with the reporter's
    words); the reporter's own updates (kind citizen) go to the reporter."""
    sent = await pool.fetch(
        "SELECT payload::text AS sent FROM notifier.deliveries"
        " WHERE tracking_number = $1 AND kind <> 'citizen'",
        tracking,
    )
    assert any("Lubangnya muncul lagi" in delivery["sent"] for delivery in sent)
    for delivery in sent:
        for secret in IDENTITY:
            assert secret not in delivery["sent"], secret


async def _counted_for_the_dashboard(intake: str, agency: str) -> None:
    """The series of the dashboard's satisfaction panels: the rating and the reopening, under
    the agency's code."""
    async with httpx.AsyncClient() as client:
        exposition = (await client.get(f"{intake}/metrics")).text
    for series, value in (
        ("lapor_hub_intake_rating_sum", 5.0),
        ("lapor_hub_intake_rating_count", 1.0),
        ("lapor_hub_intake_reopened_total", 1.0),
    ):
        assert f'{series}{{agency="{agency}"}} {value}' in exposition, series
