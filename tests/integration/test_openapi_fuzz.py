"""schemathesis against the OpenAPI documents of intake and the notifier, both real processes on
real Kafka and PostgreSQL: for every operation, a bounded number of generated requests, valid
and invalid ones (wrong types, missing fields, odd strings, unknown parameters), each sent
with a key that may call it. None may be answered 5xx: bad input is a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from services.intake.service import IntakeService
from services.notifier.repository import KeyRole, NotifierRepository
from shared.db import create_pool
from shared.topics import TopicSpec
from testkit.processes import ServiceProcess, running, smtp_sink, system_processes

# Per operation and service: enough to reach every parameter with odd values; the whole run
# stays within a minute or two on the shared machine.
MAX_EXAMPLES = 30
UNLIMITED = "100000/minute"


@pytest.fixture
def services(
    database_url: str, bootstrap_servers: str, fresh_topic: TopicSpec
) -> Iterator[Mapping[str, ServiceProcess]]:
    with smtp_sink() as smtp_port:
        processes = system_processes(
            database_url, bootstrap_servers, fresh_topic.name, smtp_port, name="fuzz"
        )
        wanted = {name: processes[name] for name in ("intake", "notifier")}
        limits = {
            "LAPOR_HUB_UNKNOWN_API_KEY_LIMIT": UNLIMITED,
            "LAPOR_HUB_INTAKE_PUBLIC_RATE_LIMIT": UNLIMITED,
            "LAPOR_HUB_INTAKE_PUBLIC_MISS_LIMIT": UNLIMITED,
            "LAPOR_HUB_NOTIFIER_RATE_LIMIT": UNLIMITED,
        }
        for process in wanted.values():
            process.env = {**process.env, **limits}
        with running(wanted) as started:
            yield started


async def _keys(database_url: str) -> tuple[str, str]:
    """An intake operator key (every intake endpoint) and a notifier agency key (the inbox)."""
    pool = await create_pool(database_url)
    try:
        operator = await IntakeService(pool).create_key("operator", "fuzz")
        async with pool.acquire() as connection:
            agency = await NotifierRepository(connection).create_api_key(
                "fuzz-pupr", "63.pupr", KeyRole.AGENCY
            )
    finally:
        await pool.close()
    return operator, agency


def _server_errors(base_url: str, headers: dict[str, str]) -> list[str]:
    """Every generated request the service answered with a 5xx, as a curl command."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests every run: a failure is repeatable
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def send(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            if response.status_code >= 500:
                # All of the request (curl's form hides the headers): to repeat it by hand.
                found.append(
                    f"{response.status_code} {case.method} {case.formatted_path}"
                    f" query={case.query!r} headers={dict(case.headers or {})!r}"
                    f" body={json.dumps(case.body)[:4000]}"
                )

        send()
    return found


async def test_generated_requests_never_get_a_server_error(
    services: Mapping[str, ServiceProcess], database_url: str
) -> None:
    operator, agency = await _keys(database_url)
    intake = await asyncio.to_thread(
        _server_errors, services["intake"].origin, {"X-API-Key": operator}
    )
    notifier = await asyncio.to_thread(
        _server_errors, services["notifier"].origin, {"X-API-Key": agency}
    )
    assert intake == [] and notifier == [], "\n".join(intake + notifier)
