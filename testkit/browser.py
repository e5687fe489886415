"""Debian's chromium driven by Playwright for the pages' browser tests (never a downloaded
browser), and where their screenshots go."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from testkit.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
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
