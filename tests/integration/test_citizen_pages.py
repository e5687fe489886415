"""The citizens' pages served by intake (`/lapor`, `/lacak`), against the whole system as real
processes on real Kafka and PostgreSQL: first as a browser without JavaScript would use them
(plain form posts), then in headless Chromium (Debian's, driven by Playwright) at 360 px: file a
complaint with a photo, follow it, reply, and once the agency resolved it (the notifier's inbox
API), reopen it with 'masalah belum selesai' and rate it. Screenshots go to
test-artifacts/citizen/."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import httpx
import pytest
from PIL import Image
from playwright.async_api import BrowserContext, Page, expect

from services.notifier.repository import KeyRole, NotifierRepository
from shared.db import create_pool
from shared.settings import Settings
from testkit.browser import PHONE, chromium, needs_chromium, shots
from testkit.processes import ServiceProcess
from testkit.waiting import eventually

ROAD = "Jalan provinsi rusak parah di Jl. A. Yani km 20 Kabupaten Banjar, banyak lubang besar."
GPS = 0x8825


def _photo(colour: str = "gray") -> bytes:
    """A JPEG as a phone takes it: its maker, model and where it was taken in the EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "Samsung"
    exif[0x0110] = "Galaxy S23"
    exif[GPS] = {1: "S", 2: (3.0, 19.0, 0.0), 3: "E", 4: (114.0, 35.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture
async def pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(empty_database_url)
    yield created
    await created.close()


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


def _form(page: str, **fields: str) -> dict[str, str]:
    return {"csrf": _hidden(page, "csrf"), "idem": _hidden(page, "idem"), **fields}


async def test_the_pages_work_without_javascript(
    browsed_system: Mapping[str, ServiceProcess], pool: asyncpg.Pool
) -> None:
    """Plain HTML forms: CSRF required, a field's error beside it with the text kept, a double
    submit one complaint, the photo stored without its EXIF, the reporter's reply accepted."""
    intake = browsed_system["intake"].origin
    async with httpx.AsyncClient(base_url=intake) as browser:
        form = (await browser.get("/lapor")).text
        assert "<script" not in form  # the form needs no JavaScript at all
        assert "Kabupaten Banjar" in form and "Martapura" in form  # gazetteer choices

        forged = await browser.post("/lapor", data={"csrf": "forged", "judul": "x", "isi": ROAD})
        assert forged.status_code == 403

        body = "Tulisan panjang yang tidak boleh hilang."
        wrong = await browser.post("/lapor", data=_form(form, judul="", isi=body))
        assert wrong.status_code == 422
        assert re.search(r'id="judul-error">Wajib diisi\.', wrong.text)
        assert f">{body}</textarea>" in wrong.text
        assert 'aria-invalid="true" aria-describedby="judul-error"' in wrong.text

        fields = _form(form, judul="Jalan rusak", isi=ROAD, kabkota="6303", kecamatan="6303050")
        photo = {"foto": ("jalan.jpg", _photo(), "image/jpeg")}
        first = await browser.post("/lapor", data=fields, files=photo)
        assert first.status_code == 303, first.text  # POST-redirect-GET: a reload sends nothing
        received = first.headers["location"]
        assert re.fullmatch(r"/lacak/LPR-[0-9A-Z-]+/diterima", received)  # no token in it
        tracking = received.split("/")[2]
        kept = next(c for c in first.headers.get_list("set-cookie") if c.startswith("lapor_kunci="))
        assert f"Path=/lacak/{tracking};" in kept
        assert "httponly" in kept.lower() and "samesite=strict" in kept.lower()
        again = await browser.post("/lapor", data=fields, files=photo)  # the double click
        assert again.headers["location"] == f"{received}?lagi=1"
        assert "sudah kami terima sebelumnya" in (await browser.get(f"{received}?lagi=1")).text
        answer = (await browser.get(received)).text  # the reload: the same page, the same token
        assert re.search(r'id="nomor">([^<]+)<', answer)[1] == tracking  # type: ignore[index]
        token = re.search(r'id="kunci">([^<]+)<', answer)
        assert token and f'href="/lacak/{tracking}"' in answer
        assert await pool.fetchval("SELECT count(*) FROM intake.complaints") == 1

        stored = await pool.fetchval("SELECT content FROM intake.attachments")
        assert dict(Image.open(io.BytesIO(stored)).getexif()) == {}

        page = (await browser.get(f"/lacak/{tracking}")).text  # the cookie's token
        assert "Jalan rusak" in page and "Tanggapan Anda" in page and "/lampiran/" in page
        assert token[1] not in page  # nor in any form or link of the page
        reply = {"csrf": _hidden(page, "csrf"), "aksi": "reply"}
        sent = await browser.post(f"/lacak/{tracking}", data={**reply, "teks": "Masih ada."})
        assert sent.status_code == 303 and sent.headers["location"] == (
            f"/lacak/{tracking}?pesan=terkirim"
        )
        forgot = await browser.post(f"/lacak/{tracking}", data={**reply, "aksi": "lupakan"})
        assert forgot.status_code == 303
        public = (await browser.get(f"/lacak/{tracking}")).text
        assert "Jalan rusak" in public and "Tanggapan Anda" not in public
    await _the_token_entered_by_a_form(intake, tracking, token[1])


async def _the_token_entered_by_a_form(intake: str, tracking: str, token: str) -> None:
    """Another browser: a token in the URL is not read; typed in the page's form it is kept for
    that page; a wrong one is a miss, as a wrong number is."""
    async with httpx.AsyncClient(base_url=intake) as browser:
        linked = (await browser.get(f"/lacak/{tracking}?kunci={token}")).text
        assert "Tanggapan Anda" not in linked
        form = {"csrf": _hidden(linked, "csrf")}
        wrong = await browser.post(f"/lacak/{tracking}/kunci", data={**form, "kunci": "salah"})
        assert wrong.status_code == 404 and "tidak cocok" in wrong.text
        entered = await browser.post(f"/lacak/{tracking}/kunci", data={**form, "kunci": token})
        assert entered.status_code == 303 and entered.headers["location"] == f"/lacak/{tracking}"
        assert "Tanggapan Anda" in (await browser.get(f"/lacak/{tracking}")).text

        # Guessing numbers (or tokens) here is limited as on the status API: after 10 misses a
        # minute every lookup from that address is refused for a while. (The wrong token was
        # one; one more lookup than needed, for the sliding window's weighting when they fall on
        # both sides of a minute's start.)
        misses = [(await browser.get("/lacak/LPR-2026-AAAAAA-A")).status_code for _ in range(11)]
        assert misses[:9] == [404] * 9 and misses[-1] == 429
        refused = await browser.get(f"/lacak/{tracking}")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


# --- In Chromium ----------------------------------------------------------------------------


@pytest.fixture
async def phone(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A 360 px phone that can copy to the clipboard (the tracking page's copy buttons)."""
    async with chromium(
        tmp_path / "phone", **PHONE, permissions=["clipboard-read", "clipboard-write"]
    ) as context:
        yield context


@pytest.fixture
async def no_script(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "no-script", **PHONE, java_script_enabled=False) as context:
        yield context


async def _shots(page: Page, name: str) -> None:
    await shots(page, "citizen", name)


async def _agency_key(pool: asyncpg.Pool, agency: str) -> dict[str, str]:
    async with pool.acquire() as connection:
        key = await NotifierRepository(connection).create_api_key(
            f"staff-{uuid.uuid4().hex[:6]}", agency, KeyRole.AGENCY
        )
    return {"X-API-Key": key}


async def _the_agency_resolves(notifier: str, pool: asyncpg.Pool, tracking: str) -> None:
    """The agency the router chose acknowledges, follows up and resolves it (its inbox API)."""
    agency: list[str] = []

    async def routed() -> bool:
        code = await pool.fetchval(
            "SELECT p.agency_code FROM intake.complaint_progress p JOIN intake.complaints c"
            " USING (complaint_id) WHERE c.tracking_number = $1",
            tracking,
        )
        agency.extend([code] if code else [])
        return bool(code)

    await eventually(routed)
    key = await _agency_key(pool, agency[0])
    async with httpx.AsyncClient(base_url=f"{notifier}/inbox/assignments", headers=key) as inbox:

        async def assigned() -> bool:
            return (await inbox.get(f"/{tracking}")).status_code == 200

        await eventually(assigned)
        for action, body in (
            ("acknowledge", None),
            ("follow-up", {"text": "Tim sudah menambal lubang."}),
            ("resolve", {"note": "Jalan sudah diperbaiki."}),
        ):
            done = await inbox.post(f"/{tracking}/{action}", json=body)
            assert done.status_code == 200, done.text


async def _until_shown(page: Page, text: str, timeout_s: float = 60) -> None:
    """Reload the tracking page until the timeline (filled from Kafka) shows `text`."""

    async def shown() -> bool:
        await page.reload()
        return text in await page.locator("main").inner_text()

    await eventually(shown, timeout_s)


@needs_chromium
async def test_a_citizen_files_follows_reopens_and_rates_in_chromium(
    browsed_system: Mapping[str, ServiceProcess],
    pool: asyncpg.Pool,
    phone: BrowserContext,
    no_script: BrowserContext,
    tmp_path: Path,
) -> None:
    intake, notifier = browsed_system["intake"].origin, browsed_system["notifier"].origin
    page = await phone.new_page()
    # Every URL the browser asks for and every Referer it sends: an access token in none.
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.extend([request.url, request.headers.get("referer", "")])
    )
    photo = tmp_path / "jalan.jpg"
    photo.write_bytes(_photo())
    tracking, token = await _file_with_a_photo(page, intake, photo)
    await _reply(page, tracking)
    await _the_agency_resolves(notifier, pool, tracking)
    await _rate_and_reopen(page, pool)

    # The public page (the browser told to forget the token): no reporter, no reply box.
    await page.get_by_role("button", name="Lupakan kunci di browser ini").click()
    await expect(page).to_have_url(f"{intake}/lacak/{tracking}")
    assert "Rahmat" not in await page.content()
    await expect(page.locator("#untuk-pelapor")).to_have_count(0)
    await _shots(page, "lacak-umum")

    await _search_and_refusals(page, intake, tracking)
    tokens = await _anonymous_and_confidential_stay_private(page, intake, photo)
    await _without_javascript(no_script, pool, intake)
    assert asked and not [url for url in asked for kept in [token, *tokens] if kept in url]


async def _file_with_a_photo(page: Page, intake: str, photo: Path) -> tuple[str, str]:
    await page.goto(f"{intake}/")
    await expect(page).to_have_url(f"{intake}/lapor")
    await expect(page.locator("h1")).to_have_text("Sampaikan pengaduan Anda")
    await _shots(page, "lapor")

    # A wrong field: its error beside it, what was written kept.
    await page.fill("#isi", ROAD)
    await page.click("button.primary")
    await expect(page.locator("#judul-error")).to_have_text("Wajib diisi.")
    await expect(page.locator("#isi")).to_have_value(ROAD)
    await _shots(page, "lapor-kesalahan")

    await page.fill("#judul", "Jalan provinsi berlubang")
    await page.select_option("#kabkota", "6303")
    await page.select_option("#kecamatan", "6303050")
    await page.fill("#lokasi", "Jl. A. Yani km 20")
    await page.set_input_files("#foto", str(photo))
    await page.fill("#nama", "Rahmat Hidayat")
    await page.click("button.primary")
    await expect(page.locator("#judul-terima")).to_contain_text("pengaduan Anda diterima")
    tracking = (await page.locator("#nomor").inner_text()).strip()
    token = (await page.locator("#kunci").inner_text()).strip()
    assert tracking.startswith("LPR-") and len(token) >= 24
    copy = page.get_by_role("button", name="Salin nomor")
    await copy.click()
    await expect(copy).to_contain_text("✓")
    assert await page.evaluate("navigator.clipboard.readText()") == tracking
    await _shots(page, "diterima")
    # The answer is a page of its own (POST-redirect-GET): a reload files nothing again and
    # shows the token this browser keeps, in an HttpOnly cookie of this complaint's page alone.
    await expect(page).to_have_url(f"{intake}/lacak/{tracking}/diterima")
    await page.reload()
    await expect(page.locator("#kunci")).to_have_text(token)
    [kept] = [c for c in await page.context.cookies() if c["name"] == "lapor_kunci"]
    assert kept["value"] == token and kept["httpOnly"] and kept["sameSite"] == "Strict"
    assert kept["path"] == f"/lacak/{tracking}"
    await page.get_by_role("link", name="Lihat perkembangan").click()
    await expect(page.locator("h1.tracking")).to_have_text(tracking)
    return tracking, token


async def _reply(page: Page, tracking: str) -> None:
    await expect(page.locator("ul.photos img")).to_have_count(1)
    await page.fill("#teks-tanggapan", "Lubangnya makin dalam setelah hujan.")
    await page.get_by_role("button", name="Kirim tanggapan").click()
    await expect(page.locator("p.ok")).to_contain_text("Terkirim")
    await _until_shown(page, "Pelapor menanggapi")
    await _until_shown(page, "Diteruskan ke")  # routed, the agency named
    await _shots(page, "lacak-pelapor")


async def _rate_and_reopen(page: Page, pool: asyncpg.Pool) -> None:
    await _until_shown(page, "Jalan sudah diperbaiki.")
    await expect(page.locator("p.status strong")).to_have_text("Selesai")
    await expect(page.locator("#teks-tanggapan")).to_have_count(0)  # reopen instead
    await _shots(page, "lacak-selesai")

    await page.check("#nilai-4", force=True)
    await page.fill("#teks-nilai", "Cepat ditangani.")
    await page.get_by_role("button", name="Kirim penilaian").click()
    await expect(page.locator("p.ok")).to_contain_text("Terkirim")
    await _until_shown(page, "Pelapor memberi penilaian 4/5")
    await expect(page.get_by_text("Terima kasih atas penilaian Anda.")).to_be_visible()

    await page.fill("#teks-belum", "Lubang muncul lagi di tempat yang sama.")
    await page.click("button.warn")
    await expect(page.locator("p.ok")).to_contain_text("Terkirim")
    await _until_shown(page, "Pelapor menyatakan masalah belum selesai")
    await expect(page.locator("p.status strong")).to_have_text("Dibuka kembali")
    await _shots(page, "lacak-dibuka-kembali")
    kinds = await pool.fetch(
        "SELECT payload->>'status' AS status, (payload->>'rating')::int AS rating"
        " FROM intake.operator_timeline WHERE event_type = 'ComplaintStatusChanged'"
        " AND payload->>'status' IN ('rated', 'reopened') ORDER BY occurred_at"
    )
    assert [(k["status"], k["rating"]) for k in kinds] == [("rated", 4), ("reopened", None)]


async def _search_and_refusals(page: Page, intake: str, tracking: str) -> None:
    await page.goto(f"{intake}/lacak")
    await _shots(page, "lacak-cari")
    await page.fill("#nomor", tracking.lower())
    await page.click("button.primary")
    await expect(page.locator("h1.tracking")).to_have_text(tracking)
    await page.goto(f"{intake}/lacak/LPR-2026-AAAAAA-A")
    await expect(page.get_by_role("alert")).to_contain_text("Nomor tidak ditemukan")
    await _shots(page, "lacak-tidak-ditemukan")
    await page.goto(f"{intake}/lapor?lang=en")
    await expect(page.locator("h1")).not_to_have_text("Sampaikan pengaduan Anda")
    await _shots(page, "lapor-english")
    await page.goto(f"{intake}/lapor?lang=id")


async def _file(page: Page, intake: str, title: str, photo: Path, *choices: str) -> str:
    await page.goto(f"{intake}/lapor")
    await page.fill("#judul", title)
    await page.fill("#isi", ROAD)
    await page.set_input_files("#foto", str(photo))
    await page.fill("#nama", "Siti Aminah")
    await page.fill("#telepon", "081255550101")
    for choice in choices:
        await page.check(choice)
    await page.click("button.primary")
    return (await page.locator("#nomor").inner_text()).strip()


async def _anonymous_and_confidential_stay_private(
    page: Page, intake: str, photo: Path
) -> list[str]:
    """The public page of an anonymous complaint shows neither its reporter nor its photos; a
    confidential one is not found without its access token, which, entered in the page's form,
    shows it to the reporter. Their tokens."""
    anonymous = await _file(page, intake, "Lampu jalan mati", photo, "#anonim")
    anonymous_token = (await page.locator("#kunci").inner_text()).strip()
    await page.context.clear_cookies(name="lapor_kunci")  # as the public sees it
    await page.goto(f"{intake}/lacak/{anonymous}")
    await expect(page.locator("h1.tracking")).to_have_text(anonymous)
    shown = await page.content()
    assert "Siti" not in shown and "/lampiran/" not in shown and "0812" not in shown

    secret_photo = photo.with_name("pungli.jpg")  # another photo: the same one would be public
    secret_photo.write_bytes(_photo("white"))
    confidential = await _file(page, intake, "Pungutan liar di sekolah", secret_photo, "#rahasia")
    token = (await page.locator("#kunci").inner_text()).strip()
    await expect(page.locator(".token")).to_contain_text("rahasia")
    await page.context.clear_cookies(name="lapor_kunci")
    await page.goto(f"{intake}/lacak/{confidential}")
    await expect(page.get_by_role("alert")).to_contain_text("Nomor tidak ditemukan")
    assert "Pungutan" not in await page.content()
    await page.fill("#kunci", token)
    await page.click("button.primary")
    await expect(page).to_have_url(f"{intake}/lacak/{confidential}")
    await expect(page.locator("dl.facts")).to_contain_text("Pungutan liar di sekolah")
    await expect(page.locator("ul.photos img")).to_have_count(1)  # its reporter sees them
    assert await page.locator("ul.photos img").evaluate("image => image.naturalWidth") == 320
    await _shots(page, "lacak-rahasia-pelapor")
    # Its photo is not served to whoever holds intake's own URL of it, only with the notifier's
    # attachments token.
    src = await page.locator("ul.photos img").get_attribute("src")
    assert src is not None and src.startswith(f"/lacak/{confidential}/lampiran/")
    stored = f"{intake}/lampiran/{src.rsplit('/', 1)[-1]}"
    async with httpx.AsyncClient() as anyone:
        assert (await anyone.get(stored)).status_code == 404
        assert (await anyone.get(f"{intake}{src}")).status_code == 404  # without the cookie
        notifier = {"Authorization": f"Bearer {Settings().attachments_token.get_secret_value()}"}
        served = await anyone.get(stored, headers=notifier)
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    return [anonymous_token, token]


async def _without_javascript(context: BrowserContext, pool: asyncpg.Pool, intake: str) -> None:
    """JavaScript off: the form still files a complaint, once for a double click."""
    page = await context.new_page()
    await page.goto(f"{intake}/lapor")
    await page.fill("#judul", "Sampah menumpuk di pasar")
    await page.fill("#isi", "Sampah tidak diangkut sejak seminggu di Pasar Martapura.")
    await page.click("button.primary", click_count=2)  # an impatient double click
    await expect(page.locator("#judul-terima")).to_be_visible()
    await expect(page.get_by_role("button", name="Salin nomor")).to_be_hidden()
    await _shots(page, "diterima-tanpa-javascript")
    filed = await pool.fetchval(
        "SELECT count(*) FROM intake.complaints WHERE document->>'title' = $1",
        "Sampah menumpuk di pasar",
    )
    assert filed == 1
