"""The sync service's drain, poller and reconciliation on real PostgreSQL against the national
simulator over HTTP (in this process, so the test can act as a crashed worker or as national's
admins); the Kafka side is in test_sync_process.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.sync.adapters.national import HttpNationalLapor, NationalApiSettings
from services.sync.domain.reconcile import Difference
from services.sync.gate import NationalGate, national_gate
from services.sync.mirror import Mirror
from services.sync.poller import Poller
from services.sync.reconcile import reconcile
from services.sync.repository import Done, SyncRepository
from services.sync.service import SyncService
from services.sync.settings import SyncSettings
from services.sync.simulator import registry
from services.sync.simulator.server import NationalSimulator
from services.sync.simulator.settings import SimulatorSettings
from shared.db import create_pool
from shared.events import (
    Actor,
    ActorKind,
    ComplaintMirrored,
    ComplaintReceived,
    ComplaintStatus,
    ComplaintStatusChanged,
    Event,
    parse_event,
)
from shared.migrations import apply_migrations
from shared.topics import SYNC_DEAD_LETTERS
from testkit.factories import complaint_received

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
async def pool(empty_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await asyncio.to_thread(apply_migrations, empty_database_url, ("sync",))
    created = await create_pool(empty_database_url, max_size=8)
    yield created
    await created.close()


@pytest.fixture
async def simulator() -> AsyncIterator[NationalSimulator]:
    settings = SimulatorSettings(port=0, control_port=0, listener_check_seconds=0.02)
    async with NationalSimulator(settings) as running:
        yield running


@pytest.fixture
def sync_settings(empty_database_url: str) -> SyncSettings:
    return SyncSettings(
        database_url=empty_database_url,
        sync_rate_per_s=200,
        sync_ramp_s=0,
        sync_failure_threshold=3,
        sync_probe_interval_s=0.2,
        sync_retry_initial_s=0.05,
        sync_retry_max_s=0.2,
        sync_lease_s=1.5,
        sync_concurrency=4,
        sync_poll_page=50,
    )


@pytest.fixture
async def gate(
    simulator: NationalSimulator, sync_settings: SyncSettings
) -> AsyncIterator[NationalGate]:
    national = NationalApiSettings(base_url=simulator.base_url, timeout=0.5, connect_timeout=0.5)
    async with aclosing(HttpNationalLapor(national)) as client:
        yield national_gate(sync_settings, client)


@pytest.fixture
def mirror(pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings) -> Mirror:
    return Mirror(pool, gate, sync_settings)


@pytest.fixture
async def control(simulator: NationalSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.control_url, timeout=5) as client:
        yield client


def _status(
    received: ComplaintReceived, status: ComplaintStatus, **fields: Any
) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        **received.caused(
            producer="notifier",
            tracking_number=received.complaint.tracking_number,
            status=status,
            actor=Actor(kind=ActorKind.AGENCY, id="63.pupr"),
            **fields,
        )
    )


async def _queue(pool: asyncpg.Pool, *events: Event) -> None:
    service = SyncService(pool)
    for event in events:
        await service.handle(parse_event(event.model_dump_json()))


async def _drain(pool: asyncpg.Pool, mirror: Mirror, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with pool.acquire() as connection:
            pending, _ = await SyncRepository(connection).backlog()
        if pending == 0:
            return
        if not await mirror.mirror_due():
            await asyncio.sleep(0.05)
    raise AssertionError(f"{pending} events still pending")


async def _outbox(pool: asyncpg.Pool) -> list[Event]:
    """What sync put in its outbox, in order."""
    rows = await pool.fetch("SELECT payload FROM sync.outbox ORDER BY id")
    return [parse_event(row["payload"]) for row in rows]


async def _audit(control: httpx.AsyncClient, tracking_number: str) -> dict[str, Any]:
    response = await control.get(f"/_sim/audit/{tracking_number}")
    response.raise_for_status()
    audit: dict[str, Any] = response.json()
    return audit


def _resolved(operation: str) -> float:
    value = REGISTRY.get_sample_value(
        "lapor_hub_sync_ambiguous_resolved_total", {"operation": operation, "found": "true"}
    )
    return value or 0.0


async def test_timeouts_after_a_create_do_not_duplicate_it(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    mirror = Mirror(pool, gate, sync_settings)
    received = [complaint_received() for _ in range(4)]
    for event in received:
        await _queue(pool, event, _status(event, ComplaintStatus.FOLLOWED_UP, note="diperbaiki"))
    resolved_before = _resolved("create")
    # Applied, then never answered (the client times out), then applied and cut off.
    await control.post(
        "/_sim/faults", json={"ambiguous_creates": {"mode": "hang", "next_count": 2}}
    )
    await mirror.mirror_due()
    await mirror.mirror_due()
    await control.post(
        "/_sim/faults", json={"ambiguous_creates": {"mode": "drop", "next_count": 2}}
    )
    await _drain(pool, mirror)

    for event in received:
        audit = await _audit(control, event.complaint.tracking_number)
        assert audit["applied"] == {"create": 1, "followup": 1}, audit
    assert _resolved("create") - resolved_before == 4
    mirrored = await pool.fetch("SELECT complaint_id, national_id FROM sync.mirrored_complaints")
    assert {row["complaint_id"] for row in mirrored} == {e.complaint_id for e in received}
    announced = await pool.fetch(
        "SELECT complaint_id FROM sync.outbox WHERE event_type = 'ComplaintMirrored'"
    )
    assert sorted(r["complaint_id"] for r in announced) == sorted(e.complaint_id for e in received)


@pytest.mark.parametrize("mode", ["bad_gateway", "broken_body"])
async def test_a_create_applied_then_answered_502_or_with_a_broken_body_is_made_once(
    pool: asyncpg.Pool, mirror: Mirror, control: httpx.AsyncClient, mode: str
) -> None:
    """National applies the create, then a gateway answers 502, or the 2xx answer's body is
    cut short: each is a write in doubt, looked for before sending again (before, a 502 and an
    unreadable answer were taken for 'not applied', and the create was sent again)."""
    received = complaint_received()
    await _queue(pool, received, _status(received, ComplaintStatus.FOLLOWED_UP, note="ok"))
    await control.post("/_sim/faults", json={"ambiguous_creates": {"mode": mode, "next_count": 1}})
    await _drain(pool, mirror)
    audit = await _audit(control, received.complaint.tracking_number)
    assert audit["applied"] == {"create": 1, "followup": 1}, audit
    assert await pool.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 1


async def test_a_worker_that_died_mid_create_is_not_followed_by_a_second_create(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    received = complaint_received()
    await _queue(pool, received)
    # The dying worker: it claims the event and national applies its create, then it is gone.
    async with pool.acquire() as connection:
        [claimed] = await SyncRepository(connection).claim(sync_settings.sync_lease_s)
    assert not claimed.in_doubt
    from services.sync.domain.plan import national_draft

    await gate.client.create_complaint(national_draft(received.complaint))
    await asyncio.sleep(sync_settings.sync_lease_s + 0.2)  # its lease runs out

    await _drain(pool, Mirror(pool, gate, sync_settings))
    audit = await _audit(control, received.complaint.tracking_number)
    assert audit["applied"] == {"create": 1}


async def test_a_worker_held_at_its_gate_past_its_lease_does_not_create_a_second_time(
    pool: asyncpg.Pool,
    gate: NationalGate,
    simulator: NationalSimulator,
    sync_settings: SyncSettings,
    control: httpx.AsyncClient,
) -> None:
    """A create in doubt: the first worker looks for it on national (not there), then waits at
    its gate for the call that creates (its pace: one call in 2.5 s; an open circuit waits the
    same way). It gives up while half its lease is left, so the worker that takes the event
    over creates it alone (before, the first one waited past its lease and created too once its
    gate let it: two national records)."""
    received = complaint_received()
    await _queue(pool, received)
    await pool.execute("UPDATE sync.mirror_queue SET in_doubt = true")
    national = NationalApiSettings(base_url=simulator.base_url, timeout=0.5, connect_timeout=0.5)
    slow = sync_settings.model_copy(update={"sync_rate_per_s": 0.4})
    async with aclosing(HttpNationalLapor(national)) as own_client:
        held = Mirror(pool, national_gate(slow, own_client), slow)
        [claimed] = await held.claim_due(1)
        first = asyncio.create_task(held.mirror(claimed))
        await asyncio.sleep(sync_settings.sync_lease_s + 0.2)  # its lease is over
        await _drain(pool, Mirror(pool, gate, sync_settings))
        await asyncio.wait_for(first, 5)
    audit = await _audit(control, received.complaint.tracking_number)
    assert audit["applied"] == {"create": 1}, audit
    assert await pool.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 1


async def test_the_lookup_of_a_create_in_doubt_checks_the_tag_on_what_national_answers(
    pool: asyncpg.Pool, mirror: Mirror, control: httpx.AsyncClient
) -> None:
    """National's search answering complaints without the tag asked for (here: every one) does
    not make another complaint's record stand for a create in doubt that never happened."""
    first, second = complaint_received(), complaint_received()
    await _queue(pool, first)
    await _drain(pool, mirror)
    await _queue(pool, second)
    await pool.execute("UPDATE sync.mirror_queue SET in_doubt = true WHERE state = 'pending'")
    (await control.post("/_sim/faults", json={"ignore_tag_filter": True})).raise_for_status()
    await _drain(pool, mirror)
    audit = await _audit(control, second.complaint.tracking_number)
    assert audit["applied"] == {"create": 1}, audit
    mapped = await pool.fetch("SELECT national_id FROM sync.mirrored_complaints")
    assert len({row["national_id"] for row in mapped}) == 2
    assert await pool.fetchval("SELECT count(*) FROM sync.dead_letters") == 0


async def test_a_claim_taken_over_leaves_the_late_holder_nothing_to_record(
    pool: asyncpg.Pool, sync_settings: SyncSettings
) -> None:
    """Completion, release and dead-lettering touch the row only while the caller's claim is
    the current one (`claim_token`): a worker whose lease ran out and was taken over changes
    nothing, not even a mapping or an announcement."""
    received = complaint_received()
    await _queue(pool, received)
    async with pool.acquire() as connection:
        repository = SyncRepository(connection)
        [late] = await repository.claim(0.05)
        await asyncio.sleep(0.1)
        [current] = await repository.claim(sync_settings.sync_lease_s)
        assert current.id == late.id and current.claim_token != late.claim_token
        mirrored = ComplaintMirrored(
            **received.caused(
                producer="sync",
                tracking_number=received.complaint.tracking_number,
                national_complaint_id="42",
                mirrored_event_id=received.event_id,
            )
        )
        stale = Done(late.id, late.claim_token, late.complaint_id, "created", 6300, mirrored, 42)
        await repository.record([stale], "test.topic")
        assert not await repository.release(late, retry_in_s=0, error="late", in_doubt=False)
        assert not await repository.dead(late, "test.topic", "late", None)
        row = await connection.fetchrow(
            "SELECT state, claimed_until IS NOT NULL AS claimed, last_error FROM sync.mirror_queue"
        )
        assert dict(row) == {"state": "pending", "claimed": True, "last_error": None}
        assert await connection.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 0
        assert await connection.fetchval("SELECT count(*) FROM sync.outbox") == 0
        assert await connection.fetchval("SELECT count(*) FROM sync.dead_letters") == 0
        # The current holder records.
        await repository.record(
            [
                Done(
                    current.id,
                    current.claim_token,
                    current.complaint_id,
                    "created",
                    6300,
                    mirrored,
                    42,
                )
            ],
            "test.topic",
        )
        assert await connection.fetchval("SELECT state FROM sync.mirror_queue") == "done"
        assert await connection.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 1
        assert await connection.fetchval("SELECT count(*) FROM sync.outbox") == 1


async def test_a_rejected_event_is_dead_lettered_without_blocking_and_replays_after_a_fix(
    pool: asyncpg.Pool,
    mirror: Mirror,
    control: httpx.AsyncClient,
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received, other = complaint_received(), complaint_received()
    # 6399 is no institution national knows (yet): it answers 422.
    rejected = _status(
        received, ComplaintStatus.REJECTED, note="bukan wewenang", suggested_agency_code="6399"
    )
    after = _status(received, ComplaintStatus.FOLLOWED_UP, note="tetap ditangani")
    await _queue(pool, received, rejected, after, other)
    await _drain(pool, mirror)

    tracking = received.complaint.tracking_number
    assert (await _audit(control, tracking))["applied"] == {"create": 1, "followup": 1}
    assert (await _audit(control, other.complaint.tracking_number))["applied"] == {"create": 1}
    letters = await pool.fetch(
        "SELECT id, error, national_status, replayed_at FROM sync.dead_letters"
    )
    assert len(letters) == 1
    assert letters[0]["national_status"] == 422 and "unknown institution" in letters[0]["error"]
    on_topic = await pool.fetchval(
        "SELECT count(*) FROM sync.outbox WHERE topic = $1 AND event_id = $2",
        SYNC_DEAD_LETTERS.name,
        rejected.event_id,
    )
    assert on_topic == 1
    listing = await _cli(empty_database_url, "sync", "dead-letters")
    assert "unknown institution" in listing

    # The fix: national now knows the institution. The operator replays.
    monkeypatch.setattr(
        registry,
        "INSTITUTIONS",
        (*registry.INSTITUTIONS, registry.Institution(institution_id=6399, name="Kabupaten Baru")),
    )
    assert "1 events queued again" in await _cli(
        empty_database_url, "sync", "replay", str(letters[0]["id"])
    )
    await _drain(pool, mirror)
    assert (await _audit(control, tracking))["applied"] == {
        "create": 1,
        "followup": 1,
        "forward": 1,
    }
    assert await pool.fetchval("SELECT replayed_at IS NOT NULL FROM sync.dead_letters") is True


async def test_a_national_id_already_mapped_to_another_complaint_is_set_aside_not_dropped(
    pool: asyncpg.Pool,
    mirror: Mirror,
    simulator: NationalSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """National giving an id twice (as a simulator restarted from its first id once did): the
    second complaint's mapping cannot be saved, and saying so beats dropping it quietly, after
    which each of its later events would have been set aside as not mirrored."""
    first, second, third = complaint_received(), complaint_received(), complaint_received()
    await _queue(pool, first)
    await _drain(pool, mirror)
    async with pool.acquire() as connection:
        mapped = await SyncRepository(connection).mapping(first.complaint_id)
    assert mapped is not None
    monkeypatch.setattr(registry, "_first_id", lambda: mapped.national_id)
    simulator.registry = registry.NationalRegistry()  # gives `mapped.national_id` again next
    await _queue(pool, second, third)
    await _drain(pool, mirror)

    async with pool.acquire() as connection:
        repository = SyncRepository(connection)
        assert await repository.mapping(first.complaint_id) == mapped
        assert await repository.mapping(second.complaint_id) is None
        assert await repository.mapping(third.complaint_id) is not None  # mirrored as usual
    letters = await pool.fetch(
        "SELECT q.complaint_id, d.error FROM sync.dead_letters d"
        " JOIN sync.mirror_queue q ON q.id = d.queue_id"
    )
    assert [(r["complaint_id"], r["error"]) for r in letters] == [
        (
            second.complaint_id,
            f"mapping to national id {mapped.national_id} not saved:"
            f" Key (national_id)=({mapped.national_id}) already exists.",
        )
    ]


async def _cli(database_url: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        os.path.join(os.path.dirname(sys.executable), "lapor-hub"),
        *args,
        cwd=ROOT,
        env={**os.environ, "LAPOR_HUB_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def test_national_admins_changes_come_back_once_and_lapor_hubs_own_do_not_echo(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    mirror, poller = Mirror(pool, gate, sync_settings), Poller(pool, gate, sync_settings)
    received = complaint_received()
    await _queue(pool, received, _status(received, ComplaintStatus.ACKNOWLEDGED))
    await _drain(pool, mirror)
    assert await poller.poll() == 0  # only lapor-hub's own writes so far

    national_id = await pool.fetchval("SELECT national_id FROM sync.mirrored_complaints")
    done = await control.post(
        f"/_sim/admin/complaints/{national_id}/status", json={"status": "done", "note": "tuntas"}
    )
    done.raise_for_status()
    filed = await control.post(
        "/_sim/admin/complaints",
        json={"title": "Sampah", "content": "Sampah menumpuk", "institution_id": 6300},
    )
    filed.raise_for_status()
    elsewhere = await control.post(
        "/_sim/admin/complaints", json={"title": "Pajak", "content": "Pajak", "institution_id": 105}
    )
    elsewhere.raise_for_status()
    assert await poller.poll() == 2
    assert await poller.poll() == 0

    events = await _outbox(pool)
    changes = [e for e in events if isinstance(e, ComplaintStatusChanged)]
    assert len(changes) == 1
    assert changes[0].source == "national" and changes[0].status is ComplaintStatus.RESOLVED
    assert changes[0].complaint_id == received.complaint_id and changes[0].note == "tuntas"
    arrived = [e for e in events if isinstance(e, ComplaintReceived)]
    assert [e.complaint.channel.value for e in arrived] == ["lapor_national"]
    assert arrived[0].complaint.title == "Sampah"


async def test_a_national_action_followed_within_the_poll_interval_by_lapor_hubs_is_seen(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    """A national admin acts, and before the next poll lapor-hub writes a follow-up to the same
    complaint: the record's last change is then lapor-hub's, yet the admin's action comes back
    (once), because the poller reads national's action log rather than when records changed."""
    mirror, poller = Mirror(pool, gate, sync_settings), Poller(pool, gate, sync_settings)
    received = complaint_received()
    await _queue(pool, received)
    await _drain(pool, mirror)
    assert await poller.poll() == 0
    national_id = await pool.fetchval("SELECT national_id FROM sync.mirrored_complaints")
    verified = await control.post(
        f"/_sim/admin/complaints/{national_id}/status",
        json={"status": "in_progress", "note": "diteruskan ke petugas"},
    )
    verified.raise_for_status()
    await _queue(pool, _status(received, ComplaintStatus.FOLLOWED_UP, note="sudah dikerjakan"))
    await _drain(pool, mirror)
    assert await poller.poll() == 1
    assert await poller.poll() == 0

    changes = [e for e in await _outbox(pool) if isinstance(e, ComplaintStatusChanged)]
    assert [(c.source, c.note, c.complaint_id) for c in changes] == [
        ("national", "diteruskan ke petugas", received.complaint_id)
    ]
    audit = await _audit(control, received.complaint.tracking_number)
    assert audit["applied"] == {"create": 1, "followup": 1}


async def test_a_national_action_before_lapor_hub_knows_its_create_landed_comes_back_later(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    """A create applied without an answer (no mapping yet), then a national admin acts on it:
    the poller cannot place the action, so it keeps the complaint aside, and once the mapping
    is saved (the retry finds the create by its tag) the action comes back (before: passed over
    for good, the cursor moved on)."""
    mirror, poller = Mirror(pool, gate, sync_settings), Poller(pool, gate, sync_settings)
    received = complaint_received()
    await _queue(pool, received)
    await control.post(
        "/_sim/faults", json={"ambiguous_creates": {"mode": "drop", "next_count": 1}}
    )
    await mirror.mirror_due()  # applied nationally, answered by a cut connection
    assert await pool.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 0
    [national_id] = (await _audit(control, received.complaint.tracking_number))["complaint_ids"]
    acted = await control.post(
        f"/_sim/admin/complaints/{national_id}/status",
        json={"status": "in_progress", "note": "sedang diproses"},
    )
    acted.raise_for_status()
    assert await poller.poll() == 0  # not known yet
    await _drain(pool, mirror)  # found by its tag: the mapping is saved
    assert await poller.poll() == 1
    assert await poller.poll() == 0
    changes = [e for e in await _outbox(pool) if isinstance(e, ComplaintStatusChanged)]
    assert [(c.note, c.complaint_id) for c in changes] == [
        ("sedang diproses", received.complaint_id)
    ]


async def test_reconcile_reports_and_repairs_a_lost_mapping_and_a_lost_follow_up(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    mirror = Mirror(pool, gate, sync_settings)
    kept, unmapped, missing = (complaint_received() for _ in range(3))
    followup = _status(missing, ComplaintStatus.FOLLOWED_UP, note="sudah diperbaiki")
    await _queue(pool, kept, unmapped, missing)
    await _drain(pool, mirror)
    await pool.execute(
        "DELETE FROM sync.mirrored_complaints WHERE complaint_id = $1", unmapped.complaint_id
    )
    # A follow-up recorded as mirrored that national never got (e.g. restored from a backup).
    await _queue(pool, followup)
    await pool.execute(
        "UPDATE sync.mirror_queue SET state = 'done' WHERE event_id = $1", followup.event_id
    )

    since = datetime.now(UTC) - timedelta(hours=1)
    reports = await reconcile(pool, gate.client, since, fix=False, calls_per_s=100)
    found = {(r.tracking_number, r.finding.difference) for r in reports}
    assert found == {
        (unmapped.complaint.tracking_number, Difference.UNMAPPED),
        (missing.complaint.tracking_number, Difference.FOLLOWUPS_MISSING),
    }
    fixed = await reconcile(pool, gate.client, since, fix=True, calls_per_s=100)
    assert all(r.fixed for r in fixed)
    await _drain(pool, mirror)
    assert await reconcile(pool, gate.client, since, fix=False, calls_per_s=100) == []
    audit = await _audit(control, missing.complaint.tracking_number)
    assert audit["applied"] == {"create": 1, "followup": 1}


async def test_one_claim_takes_the_next_event_of_several_complaints_never_two_of_one(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings
) -> None:
    first, second = complaint_received(), complaint_received()
    followup = _status(first, ComplaintStatus.FOLLOWED_UP, note="dikerjakan")
    await _queue(pool, first, followup, second)
    async with pool.acquire() as connection:
        claimed = await SyncRepository(connection).claim(sync_settings.sync_lease_s, limit=8)
    assert [q.event_id for q in claimed] == [first.event_id, second.event_id]
    assert all(q.mapping is None and not q.in_doubt for q in claimed)

    # Driven by the claimer: the follow-up goes once its complaint is created, with its mapping.
    mirror = Mirror(pool, gate, sync_settings)
    assert await mirror.mirror_due(limit=8) == 0  # both leased: nothing else is due yet
    await pool.execute("UPDATE sync.mirror_queue SET claimed_until = NULL, in_doubt = false")
    assert await mirror.mirror_due(limit=8) == 2
    async with pool.acquire() as connection:
        [next_up] = await SyncRepository(connection).claim(sync_settings.sync_lease_s, limit=8)
    assert next_up.event_id == followup.event_id
    assert next_up.mapping is not None and next_up.mapping.complaint_id == first.complaint_id


async def test_outcomes_done_together_are_recorded_in_one_statement(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings, control: httpx.AsyncClient
) -> None:
    received = [complaint_received() for _ in range(4)]
    await _queue(pool, *received)
    # A linger long enough for all four answers to arrive while the first outcome waits.
    mirror = Mirror(pool, gate, sync_settings.model_copy(update={"sync_outcome_linger_s": 0.3}))
    assert await mirror.mirror_due(limit=4) == 4

    # now() is the statement's: one statement recorded the four rows, mappings and events.
    done_at = await pool.fetch("SELECT DISTINCT done_at FROM sync.mirror_queue")
    mirrored_at = await pool.fetch("SELECT DISTINCT mirrored_at FROM sync.mirrored_complaints")
    assert len(done_at) == 1 and mirrored_at[0]["mirrored_at"] == done_at[0]["done_at"]
    assert await pool.fetchval("SELECT count(*) FROM sync.mirrored_complaints") == 4
    announced = await pool.fetch(
        "SELECT payload FROM sync.outbox WHERE event_type = 'ComplaintMirrored'"
    )
    assert {parse_event(r["payload"]).complaint_id for r in announced} == {
        e.complaint_id for e in received
    }
    for event in received:
        assert (await _audit(control, event.complaint.tracking_number))["applied"] == {"create": 1}


async def test_the_drain_woken_by_queued_and_recorded_events_keeps_each_complaints_order(
    pool: asyncpg.Pool, gate: NationalGate, sync_settings: SyncSettings
) -> None:
    # No polling to speak of: only the wakes (events queued here, a recorded event whose
    # complaint has a next one) can move the drain along.
    settings = sync_settings.model_copy(update={"sync_idle_poll_s": 60.0})
    mirror = Mirror(pool, gate, settings)
    service = SyncService(pool, mirror.queued)
    received = [complaint_received() for _ in range(2)]  # fewer than places: no full claim
    notes = {e.complaint_id: [f"langkah {n} {e.complaint_id}" for n in range(3)] for e in received}
    draining = asyncio.create_task(mirror.run())
    try:
        await service.apply_together(received)
        for step in range(3):  # each follow-up while the one before may still be in flight
            await service.apply_together(
                [
                    _status(e, ComplaintStatus.FOLLOWED_UP, note=notes[e.complaint_id][step])
                    for e in received
                ]
            )
        deadline = time.monotonic() + 15
        while await pool.fetchval("SELECT count(*) FROM sync.mirror_queue WHERE state <> 'done'"):
            assert time.monotonic() < deadline, "the drain was not woken"
            await asyncio.sleep(0.05)
    finally:
        draining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await draining
    for event in received:
        national_id = await pool.fetchval(
            "SELECT national_id FROM sync.mirrored_complaints WHERE complaint_id = $1",
            event.complaint_id,
        )
        followups = await gate.client.followups(national_id)
        assert [f.content for f in followups] == notes[event.complaint_id]


async def test_national_gets_the_flags_and_no_personal_data_of_an_anonymous_reporter(
    pool: asyncpg.Pool, mirror: Mirror, control: httpx.AsyncClient
) -> None:
    received = complaint_received(
        anonymous=True,
        confidential=True,
        title="Siti Aminah: jalan rusak, HP 0812-5555-0101",
        body="Saya Siti Aminah, NIK 6371 0101 0101 0001, siti@contoh.id, wa (+62) 8125555 0101",
        location={"text": "depan rumah Siti Aminah, telp (0511) 335 0123"},
        reporter={"name": "Siti Aminah", "phone": "+62 812 5555 0101", "email": "siti@contoh.id"},
    )
    follow_up = _status(
        received, ComplaintStatus.FOLLOWED_UP, note="Sudah kami hubungi di 081255550101"
    )
    reply = _status(
        received,
        ComplaintStatus.REPORTER_REPLIED,
        note="Belum diperbaiki. NIK saya ６３７１０１０１０１０１０００１",
    )
    await _queue(pool, received, follow_up, reply)
    await _drain(pool, mirror)

    audit = await _audit(control, received.complaint.tracking_number)
    [draft] = audit["drafts"].values()
    [followups] = audit["followups"].values()
    assert draft["is_anonymous"] is True and draft["is_secret"] is True
    sent = " ".join([draft["title"], draft["content"], draft["location"], *followups])
    for secret in ("Siti", "Aminah", "5555", "0101", "0123", "siti@", "６３７１", "6371"):
        assert secret not in sent, (secret, sent)
    assert "[nomor telepon disamarkan]" in draft["title"]
    assert "[NIK disamarkan]" in followups[-1]
