"""The national LAPOR simulator as a real HTTP server, driven through the sync service's client."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.sync.adapters.lapor_api import (
    ComplaintDraft,
    FollowupDraft,
    NationalStatus,
    reference_tag,
)
from services.sync.adapters.national import (
    AmbiguousWriteError,
    HttpNationalLapor,
    NationalApiSettings,
    NationalUnavailableError,
    RateLimitedError,
    RejectedError,
)
from services.sync.simulator.server import NationalSimulator
from services.sync.simulator.settings import SimulatorSettings

CLIENT_TIMEOUT = 0.5
PROVINCE = 6300


@pytest.fixture
async def simulator() -> AsyncIterator[NationalSimulator]:
    settings = SimulatorSettings(port=0, control_port=0, listener_check_seconds=0.02)
    async with NationalSimulator(settings) as running:
        yield running


@pytest.fixture
async def national(simulator: NationalSimulator) -> AsyncIterator[HttpNationalLapor]:
    settings = NationalApiSettings(
        base_url=simulator.base_url, timeout=CLIENT_TIMEOUT, connect_timeout=CLIENT_TIMEOUT
    )
    async with aclosing(HttpNationalLapor(settings)) as client:
        yield client


@pytest.fixture
async def control(simulator: NationalSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.control_url, timeout=5) as client:
        yield client


async def set_faults(control: httpx.AsyncClient, **plan: Any) -> None:
    response = await control.post("/_sim/faults", json=plan)
    response.raise_for_status()


async def audit_of(control: httpx.AsyncClient, tracking_number: str) -> dict[str, Any]:
    response = await control.get(f"/_sim/audit/{tracking_number}")
    response.raise_for_status()
    audit: dict[str, Any] = response.json()
    return audit


def new_draft(**fields: Any) -> tuple[str, ComplaintDraft]:
    tracking_number = f"LPR-T-{uuid.uuid4().hex[:8].upper()}"
    draft = ComplaintDraft(
        title="Lampu jalan mati",
        content="Sudah seminggu lampu jalan di depan pasar mati.",
        tags=[reference_tag(tracking_number)],
        **fields,
    )
    return tracking_number, draft


async def test_create_lookup_followup_and_forward(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    tracking_number, draft = new_draft(institution_id=PROVINCE)
    created = await national.create_complaint(draft)
    [found] = await national.find_by_reference(tracking_number)
    assert found.complaint_id == created.complaint_id

    for n in range(3):
        await national.add_followup(
            FollowupDraft(complaint_id=created.complaint_id, content=f"tindak lanjut {n}")
        )
    await national.add_followup(
        FollowupDraft(complaint_id=created.complaint_id, content="selesai", status="done")
    )
    await national.forward(created.complaint_id, 6371, "kewenangan kota (lampu jalan)")

    record = await national.complaint(created.complaint_id)
    assert record.status is NationalStatus.VERIFIED  # forwarding puts it back in the queue
    assert record.disposition is not None and record.disposition.institution_id == 6371
    assert [log.action for log in record.logs][-1] == "forwarded"
    followups = await national.followups(created.complaint_id)
    assert [f.content for f in followups] == [*(f"tindak lanjut {n}" for n in range(3)), "selesai"]
    assert {i.institution_id for i in await national.institutions()} >= {PROVINCE, 6371}

    audit = await audit_of(control, tracking_number)
    assert audit["applied"] == {"create": 1, "followup": 4, "forward": 1}
    assert audit["followups"] == {str(created.complaint_id): [f.content for f in followups]}


async def test_it_does_not_deduplicate(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    tracking_number, draft = new_draft()
    first = await national.create_complaint(draft)
    second = await national.create_complaint(draft)
    assert first.complaint_id != second.complaint_id
    assert len(await national.find_by_reference(tracking_number)) == 2
    assert (await audit_of(control, tracking_number))["applied"] == {"create": 2}


async def test_wrong_credentials_and_invalid_requests_are_rejected(
    simulator: NationalSimulator, national: HttpNationalLapor
) -> None:
    wrong = NationalApiSettings(base_url=simulator.base_url, token="not-the-token")
    async with aclosing(HttpNationalLapor(wrong)) as intruder:
        with pytest.raises(RejectedError) as error:
            await intruder.institutions()
    assert error.value.status == 401
    with pytest.raises(RejectedError) as error:
        await national.add_followup(FollowupDraft(complaint_id=1, content="x"))
    assert error.value.status == 404
    created = await national.create_complaint(new_draft()[1])
    with pytest.raises(RejectedError) as error:
        await national.forward(created.complaint_id, 999_999, "unknown institution")
    assert error.value.status == 422


async def test_refused_outage_closes_the_port_until_cleared(
    simulator: NationalSimulator, national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    await national.institutions()  # leaves a keep-alive connection in the pool
    await set_faults(control, outage={"mode": "refuse"})
    with pytest.raises(NationalUnavailableError):
        await national.institutions()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", simulator.port)) != 0  # really refused
    assert (await control.get("/_sim/health")).json()["api_listening"] is False

    await control.delete("/_sim/faults")
    assert await national.institutions()


# A create answered 502 may have been applied behind the gateway: the client cannot tell.
@pytest.mark.parametrize(
    ("status", "error"), [(502, AmbiguousWriteError), (503, NationalUnavailableError)]
)
async def test_unavailable_outage_answers_with_gateway_errors(
    national: HttpNationalLapor, control: httpx.AsyncClient, status: int, error: type[Exception]
) -> None:
    tracking_number, draft = new_draft()
    await set_faults(control, outage={"mode": "unavailable", "status": status})
    with pytest.raises(error, match=str(status)):
        await national.create_complaint(draft)
    audit = await audit_of(control, tracking_number)
    assert audit["applied"] == {}
    assert [e["outcome"] for e in audit["entries"]] == ["unavailable"]


async def test_hanging_outage_times_out_the_client(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    await set_faults(control, outage={"mode": "hang"})
    started = time.monotonic()
    with pytest.raises(NationalUnavailableError, match="SocketTimeoutError"):
        await national.institutions()
    assert CLIENT_TIMEOUT <= time.monotonic() - started < CLIENT_TIMEOUT + 1
    # A create that timed out may have been applied, as far as the client can tell.
    tracking_number, draft = new_draft()
    with pytest.raises(AmbiguousWriteError):
        await national.create_complaint(draft)
    assert (await audit_of(control, tracking_number))["applied"] == {}


async def test_scheduled_daily_window_takes_it_down(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(minutes=1)).time().isoformat(), "timezone": "UTC"}
    await set_faults(control, daily=[{**window, "duration": "PT10M", "mode": "unavailable"}])
    with pytest.raises(NationalUnavailableError):
        await national.institutions()
    past = {"start": now.isoformat(), "end": (now + timedelta(seconds=0.3)).isoformat()}
    await set_faults(control, windows=[{**past, "mode": "refuse"}])
    with pytest.raises(NationalUnavailableError):
        await national.institutions()
    await asyncio.sleep(0.5)  # the window ended: the port reopens by itself
    assert await national.institutions()


async def test_rate_limit_answers_429_with_retry_after(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    await set_faults(control, rate_limit={"rate_per_second": 4, "burst": 2})
    await national.institutions()
    await national.institutions()
    with pytest.raises(RateLimitedError) as error:
        await national.institutions()
    assert error.value.retry_after == 1  # 0.25 s rounded up to whole seconds
    await asyncio.sleep(0.3)
    assert await national.institutions()
    audit = (await control.get("/_sim/audit")).json()
    assert audit["by_operation"]["institutions"] == {"applied": 3, "rate_limited": 1}


async def test_server_errors_and_latency(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    await set_faults(control, error_probability=1)
    with pytest.raises(NationalUnavailableError, match="500"):
        await national.institutions()
    with pytest.raises(AmbiguousWriteError, match="500"):
        await national.create_complaint(new_draft()[1])
    await set_faults(control, latency={"min_seconds": 0.2, "max_seconds": 0.2})
    started = time.monotonic()
    await national.institutions()
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("mode", ["drop", "hang", "bad_gateway", "broken_body"])
async def test_ambiguous_create_is_applied_and_found_by_reference(
    national: HttpNationalLapor, control: httpx.AsyncClient, mode: str
) -> None:
    await set_faults(control, ambiguous_creates={"mode": mode, "next_count": 1})
    tracking_number, draft = new_draft()
    with pytest.raises(AmbiguousWriteError):
        await national.create_complaint(draft)
    [found] = await national.find_by_reference(tracking_number)  # so no second create
    assert found.title == draft.title
    audit = await audit_of(control, tracking_number)
    assert audit["applied"] == {"create": 1}
    outcome = {"drop": "dropped", "hang": "hung"}.get(mode, mode)
    assert audit["entries"][0]["outcome"] == f"applied_then_{outcome}"


async def test_same_seed_same_faults(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    async def outcomes() -> list[bool]:
        await control.post("/_sim/reset")
        await set_faults(control, seed=3, error_probability=0.5)
        results = []
        for _ in range(20):
            try:
                await national.institutions()
                results.append(True)
            except NationalUnavailableError:
                results.append(False)
        return results

    first = await outcomes()
    assert first == await outcomes()
    assert 3 < sum(first) < 17


async def test_national_admins_act_and_polling_sees_it(
    national: HttpNationalLapor, control: httpx.AsyncClient
) -> None:
    created = await national.create_complaint(new_draft()[1])
    [mine] = (await national.actions_since(None)).logs
    assert (mine.complaint_id, mine.action, mine.actor) == (
        created.complaint_id,
        "created",
        "integration",
    )
    assert (await national.actions_since(mine.log_id)).logs == []

    await control.post(
        f"/_sim/admin/complaints/{created.complaint_id}/followups",
        json={"content": "Sudah diperbaiki petugas", "status": "done"},
    )
    direct = await control.post(
        "/_sim/admin/complaints",
        json={"title": "Banjir", "content": "Drainase tersumbat", "institution_id": PROVINCE},
    )
    assert direct.status_code == 201
    first = await national.actions_since(mine.log_id, limit=1)
    assert [(e.complaint_id, e.action, e.note) for e in first.logs] == [
        (created.complaint_id, "followup", "Sudah diperbaiki petugas")
    ]
    assert first.next_after_id == first.logs[0].log_id
    rest = await national.actions_since(first.next_after_id, limit=5)
    assert [(e.complaint_id, e.action, e.actor) for e in rest.logs] == [
        (direct.json()["complaint_id"], "created", "admin")
    ]
    assert rest.next_after_id is None
    assert (await national.complaint(created.complaint_id)).status is NationalStatus.DONE
    await control.post(
        f"/_sim/admin/complaints/{created.complaint_id}/status", json={"status": "archived"}
    )
    assert (await national.complaint(created.complaint_id)).status is NationalStatus.ARCHIVED


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_runs_as_a_module_and_stops_on_sigterm() -> None:
    port, control_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "LAPOR_HUB_SIMULATOR_PORT": str(port),
        "LAPOR_HUB_SIMULATOR_CONTROL_PORT": str(control_port),
        "LAPOR_HUB_SIMULATOR_FAULTS": '{"rate_limit": {"rate_per_second": 100, "burst": 5}}',
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.sync.simulator", env=env
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}") as control:
            for _ in range(100):
                try:
                    plan = (await control.get("/_sim/faults")).json()
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
        assert plan["rate_limit"]["rate_per_second"] == 100
        settings = NationalApiSettings(base_url=f"http://127.0.0.1:{port}")
        async with aclosing(HttpNationalLapor(settings)) as national:
            assert await national.create_complaint(new_draft()[1])
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
