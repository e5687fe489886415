"""`lapor-hub keys` on real PostgreSQL: a key is shown once, listed without itself, revoked."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from lapor_hub.cli import app
from services.intake.domain.model import Caller
from services.intake.service import IntakeService
from shared.db import create_pool


def _caller(database_url: str, key: str) -> Caller | None:
    async def authenticate() -> Caller | None:
        pool = await create_pool(database_url)
        try:
            return await IntakeService(pool).authenticate(key)
        finally:
            await pool.close()

    return asyncio.run(authenticate())


def test_a_created_key_is_listed_without_itself_and_stops_working_when_revoked(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_HUB_DATABASE_URL", database_url)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--scope", "operator:siti"])
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    caller = _caller(database_url, key)
    assert caller is not None and caller.label == "operator:siti"

    listed = runner.invoke(app, ["keys", "list"])
    assert "operator:siti" in listed.output and key not in listed.output

    revoked = runner.invoke(app, ["keys", "revoke", str(caller.key_id)])
    assert revoked.exit_code == 0, revoked.output
    assert _caller(database_url, key) is None
    assert runner.invoke(app, ["keys", "revoke", str(caller.key_id)]).exit_code == 1
    assert runner.invoke(app, ["keys", "create", "--scope", "channel:fax"]).exit_code != 0
