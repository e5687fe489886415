"""Debian's chromium driven by Playwright for the pages' browser tests (never a downloaded
browser), and where their screenshots go."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, async_playwright

from testkit.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@asynccontextmanager
async def chromium(
    profile: Path, width: int = 1280, height: int = 900, **options: object
) -> AsyncIterator[BrowserContext]:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height},
            locale="id-ID",
            **options,  # type: ignore[arg-type]
        )
        try:
            yield context
        finally:
            await context.close()


async def screenshot(page: Page, folder: str, name: str) -> None:
    """The whole page into test-artifacts/FOLDER/NAME.png (the folder made if missing)."""
    (ARTIFACTS / folder).mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / folder / f"{name}.png"), full_page=True)


async def shots(page: Page, folder: str, name: str) -> None:
    """The page at a phone's width and at a desktop's (NAME-360.png, NAME-1280.png), the page's
    own width again after; its weight into FOLDER/page-weights.txt."""
    before = page.viewport_size
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        await screenshot(page, folder, f"{name}-{size['width']}")
    if before is not None:
        await page.set_viewport_size(before)
    await _weigh(page, folder, name)


_WEIGHED: set[str] = set()  # the folders whose page-weights.txt this run has begun


async def _weigh(page: Page, folder: str, name: str) -> None:
    """What the browser loaded for the page (its HTML and everything since, uncompressed; the
    Resource Timing API's decoded body sizes), one line per page."""
    loaded = await page.evaluate(
        """() => [
            ...performance.getEntriesByType("navigation"),
            ...performance.getEntriesByType("resource"),
        ].map(entry => [entry.initiatorType, entry.decodedBodySize])"""
    )
    total = sum(size for _, size in loaded)
    kinds = ", ".join(f"{kind} {size / 1024:.1f}" for kind, size in loaded)
    with (ARTIFACTS / folder / "page-weights.txt").open("a" if folder in _WEIGHED else "w") as out:
        out.write(f"{name}: {total / 1024:.1f} KB ({len(loaded)} requests: {kinds})\n")
    _WEIGHED.add(folder)
