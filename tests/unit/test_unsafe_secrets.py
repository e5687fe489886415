"""Outside development a service refuses to start with a default or empty secret, naming it; an
empty operations token authorises nobody."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from shared.ops_http import dead_letter_routes
from shared.settings import Settings, UnsafeSecretsError, refuse_unsafe, unsafe_secrets


def test_development_defaults_are_fine_on_a_developers_machine() -> None:
    local = Settings()
    assert unsafe_secrets(local.environment, local, "ops_token", "intake_access_token_secret") == []


def test_outside_development_a_default_or_empty_secret_stops_the_service_naming_it() -> None:
    production = Settings(environment="production", ops_token=SecretStr(""))
    with pytest.raises(UnsafeSecretsError) as stopped:
        refuse_unsafe(
            unsafe_secrets("production", production, "ops_token", "intake_access_token_secret")
        )
    assert "LAPOR_HUB_OPS_TOKEN" in str(stopped.value)
    assert "LAPOR_HUB_INTAKE_ACCESS_TOKEN_SECRET" in str(stopped.value)
    safe = Settings(
        environment="production",
        ops_token=SecretStr("a-real-secret"),
        intake_access_token_secret=SecretStr("another-real-secret"),
    )
    assert unsafe_secrets("production", safe, "ops_token", "intake_access_token_secret") == []


async def test_an_empty_ops_token_authorises_nobody() -> None:
    async def listed() -> list[object]:
        return []

    async def retry(dead_id: int) -> tuple[object, None]:
        raise AssertionError("never reached")

    app = web.Application()
    app.add_routes(dead_letter_routes(listed, retry, ""))  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": ""}):
            response = await client.get("/v1/dead-letters", headers=headers)
            assert response.status == 401
