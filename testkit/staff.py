"""Staff of an agency in the web inbox (/instansi): an account made as an operator makes it
(`lapor-hub instansi create`), and its login in a browser."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect
from typer.testing import CliRunner

from lapor_hub.cli import app as cli

PASSWORD = "rahasia-sekali-2026"


def instansi(database_url: str, *arguments: str, password: str = PASSWORD) -> str:
    """`lapor-hub instansi ...` as an operator runs it (the password typed twice); its output."""
    result = CliRunner().invoke(
        cli,
        ["instansi", *arguments],
        input=f"{password}\n{password}\n",
        env={"LAPOR_HUB_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    return result.output


def create_staff(database_url: str, username: str, agency: str, name: str) -> None:
    """An account whose password is PASSWORD."""
    output = instansi(database_url, "create", username, "--agency", agency, "--name", name)
    assert "created" in output


async def create_staff_account(database_url: str, username: str, agency: str, name: str) -> None:
    """`create_staff` from a test's event loop (the command line runs its own: off this one)."""
    await asyncio.to_thread(create_staff, database_url, username, agency, name)


async def log_in(page: Page, base: str, username: str) -> None:
    """From the login page (where `base`, the inbox, sends a browser without a session) into the
    inbox."""
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await expect(page).to_have_url(base)
