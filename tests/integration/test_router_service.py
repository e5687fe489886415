"""Router handlers on the real PostgreSQL: once per complaint, re-routes, overrides, triage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta

import asyncpg
import pytest

from services.router.domain import TRIAGE_AGENCY, Router, load_routing_table
from services.router.domain.model import load_active_model
from services.router.service import RouterService
from services.router.training import read_corrections
from shared.db import create_pool
from shared.events import (
    Actor,
    ActorKind,
    ComplaintPlaceRequested,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintStatus,
    ComplaintStatusChanged,
    RoutingOverrideRequested,
    parse_event,
)
from shared.working_days import due_dates
from testkit.factories import complaint_received


@pytest.fixture(scope="module")
def router() -> Router:
    """As the service starts: the table and the active topic model."""
    return Router(load_routing_table(), load_active_model())


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
def service(pool: asyncpg.Pool, router: Router) -> RouterService:
    return RouterService(pool, router)


async def _routed(pool: asyncpg.Pool, received: ComplaintReceived) -> list[ComplaintRouted]:
    rows = await pool.fetch(
        "SELECT payload FROM router.outbox WHERE complaint_id = $1 ORDER BY id",
        received.complaint_id,
    )
    events = [parse_event(row["payload"]) for row in rows]
    assert all(isinstance(e, ComplaintRouted) for e in events)
    return [e for e in events if isinstance(e, ComplaintRouted)]


def _rejection(routed: ComplaintRouted, suggested: str | None = None) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        **routed.caused(
            producer="notifier",
            tracking_number=routed.tracking_number,
            status=ComplaintStatus.REJECTED,
            actor=Actor(kind=ActorKind.AGENCY, id=routed.agency_code),
            note="bukan wewenang kami",
            suggested_agency_code=suggested,
        )
    )


def _provincial_road_complaint() -> ComplaintReceived:
    return complaint_received(
        title="Jalan provinsi rusak parah",
        body="Ruas jalan provinsi Martapura - Banjarbaru berlubang besar, sudah sebulan.",
        location={"text": "Martapura", "region_code": "6303"},
    )


async def test_a_redelivered_complaint_is_routed_once(
    service: RouterService, pool: asyncpg.Pool, router: Router
) -> None:
    received = _provincial_road_complaint()
    for _ in range(3):
        await service.handle(received)
    [routed] = await _routed(pool, received)
    assert routed.agency_code == "63.pupr"
    assert routed.causation_id == received.event_id
    assert routed.routing_round == 1
    assert routed.model_version == router.model_version is not None
    assert routed.disposition_due < routed.followup_due
    stored = await pool.fetchval(
        "SELECT count(*) FROM router.assignments WHERE complaint_id = $1", received.complaint_id
    )
    assert stored == 1


async def test_a_rejection_reroutes_to_the_suggested_agency(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received = _provincial_road_complaint()
    await service.handle(received)
    [first] = await _routed(pool, received)
    rejection = _rejection(first, suggested="6303")
    await service.handle(rejection)
    await service.handle(rejection)  # redelivered: nothing more
    first_again, second = await _routed(pool, received)
    assert first_again == first
    assert second.agency_code == "6303"
    assert second.previous_agency_code == "63.pupr"
    assert second.routing_round == 2
    correction = await pool.fetchrow(
        "SELECT wrong_agency, right_agency, source FROM router.routing_corrections"
        " WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert dict(correction) == {
        "wrong_agency": "63.pupr",
        "right_agency": "6303",
        "source": "agency_rejection",
    }


async def test_the_third_bounce_lands_in_triage(service: RouterService, pool: asyncpg.Pool) -> None:
    received = _provincial_road_complaint()
    await service.handle(received)
    for suggested in ("6303", "63.dishub", "6371"):
        latest = (await _routed(pool, received))[-1]
        await service.handle(_rejection(latest, suggested=suggested))
    rounds = await _routed(pool, received)
    assert [r.agency_code for r in rounds] == ["63.pupr", "6303", "63.dishub", TRIAGE_AGENCY]


async def test_a_stale_rejection_changes_nothing(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received = _provincial_road_complaint()
    await service.handle(received)
    [first] = await _routed(pool, received)
    stale = _rejection(first).model_copy(update={"actor": Actor(kind=ActorKind.AGENCY, id="6371")})
    await service.handle(stale)
    assert len(await _routed(pool, received)) == 1


async def test_an_operator_override_routes_and_is_kept_as_a_labelled_example(
    service: RouterService, pool: asyncpg.Pool, database_url: str
) -> None:
    received = complaint_received(title="Mohon bantuan", body="Tolong dibantu, sudah lama.")
    await service.handle(received)
    [first] = await _routed(pool, received)
    override = RoutingOverrideRequested(
        **first.caused(
            producer="intake",
            tracking_number=first.tracking_number,
            agency_code="63.dinsos",
            operator=Actor(kind=ActorKind.OPERATOR, id="operator:rina"),
            reason="bantuan sosial",
        )
    )
    await service.handle(override)
    rounds = await _routed(pool, received)
    assert rounds[-1].agency_code == "63.dinsos"
    assert rounds[-1].decided_by == Actor(kind=ActorKind.OPERATOR, id="operator:rina")
    assert rounds[-1].confidence == 1.0
    source = await pool.fetchval(
        "SELECT source FROM router.routing_corrections WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert source == "operator_override"
    # `lapor-hub route train --database-url` learns from it.
    corrections = await asyncio.to_thread(read_corrections, database_url)
    assert any(
        c.right_agency == "63.dinsos" and c.complaint.body == received.complaint.body
        for c in corrections
    )


async def test_a_similar_complaint_in_the_same_region_is_linked_not_merged(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    first = complaint_received(
        title="Jembatan gantung Desa Tambak Anyar putus",
        body="Jembatan gantung penghubung Desa Tambak Anyar putus sejak banjir, anak sekolah "
        "terpaksa menyeberang sungai pakai perahu.",
        location={"text": "Desa Tambak Anyar, Martapura Timur", "region_code": "6303"},
    )
    second = complaint_received(
        title="Jembatan gantung di Desa Tambak Anyar putus",
        body="Jembatan gantung Desa Tambak Anyar putus sejak banjir kemarin, anak-anak sekolah "
        "terpaksa menyeberang sungai naik perahu.",
        location={"text": "Tambak Anyar", "region_code": "6303"},
    )
    await service.handle(first)
    await service.handle(second)
    [routed] = await _routed(pool, second)
    assert routed.possible_duplicate_of == first.complaint.tracking_number
    [first_routed] = await _routed(pool, first)
    assert first_routed.possible_duplicate_of is None


async def test_rolling_upgrade_a_router_reads_what_a_newer_intake_and_router_wrote(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    """Mid-upgrade, this (v1) router reads a ComplaintReceived from a newer intake (a newer minor
    with fields it does not know) and a complaint document stored by a newer router instance."""
    received = _provincial_road_complaint()
    written = json.loads(received.model_dump_json())
    written |= {"schema_minor": 1, "ingress": "edge-2"}
    written["complaint"]["sentiment"] = {"score": -0.7}
    await service.handle(parse_event(json.dumps(written)))
    [routed] = await _routed(pool, received)
    await pool.execute(
        "UPDATE router.complaints"
        " SET document = jsonb_set(document, '{location,what3words}', '\"kopi.jukung.sungai\"')"
        " WHERE complaint_id = $1",
        received.complaint_id,
    )

    await service.handle(_rejection(routed))  # re-routing reads the stored document

    first, again = await _routed(pool, received)
    assert again.routing_round == 2
    assert again.agency_code != first.agency_code


def _without_place(**overrides: object) -> ComplaintReceived:
    return complaint_received(
        title="Jalan rusak",
        body="Jalan depan pasar berlubang besar, sudah dua bulan tidak diperbaiki.",
        location={"text": None},
        **overrides,
    )


async def _outbox(pool: asyncpg.Pool, received: ComplaintReceived) -> list[object]:
    rows = await pool.fetch(
        "SELECT payload FROM router.outbox WHERE complaint_id = $1 ORDER BY id",
        received.complaint_id,
    )
    return [parse_event(row["payload"]) for row in rows]


async def _asked(
    service: RouterService, pool: asyncpg.Pool
) -> tuple[ComplaintReceived, ComplaintPlaceRequested]:
    """A complaint that names no place, and the router's question where (its only event)."""
    received = _without_place()
    await service.handle(received)
    (question,) = await _outbox(pool, received)
    assert isinstance(question, ComplaintPlaceRequested)
    return received, question


def _reply(question: ComplaintPlaceRequested, note: str) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        complaint_id=question.complaint_id,
        correlation_id=question.correlation_id,
        producer="intake",
        tracking_number=question.tracking_number,
        status=ComplaintStatus.REPORTER_REPLIED,
        actor=Actor(kind=ActorKind.REPORTER, id="whatsapp"),
        note=note,
    )


async def test_a_place_is_asked_for_and_the_answer_routes_the_complaint(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received, question = await _asked(service, pool)
    assert question.category == "PEKERJAAN UMUM DAN PENATAAN RUANG"
    assert question.topic == "jalan dan jembatan"

    reply = _reply(question, f"{question.tracking_number} di Kecamatan Martapura, Kab. Banjar")
    await service.handle(reply)
    await service.handle(reply)  # a redelivery changes nothing
    _, routed = await _outbox(pool, received)
    assert isinstance(routed, ComplaintRouted)
    assert (routed.agency_code, routed.routing_round) == ("6303", 1)
    assert routed.causation_id == reply.event_id
    assert routed.reasons[0].startswith("lokasi dari jawaban pelapor")
    assert routed.disposition_due == _routed_due(received)
    assert len(await _outbox(pool, received)) == 2
    outcome = await pool.fetchval(
        "SELECT outcome FROM router.place_questions WHERE complaint_id = $1",
        received.complaint_id,
    )
    assert outcome == "answered"


def _routed_due(received: ComplaintReceived) -> date:
    return due_dates(received.complaint.received_at)[0]


async def test_an_unanswered_question_goes_to_triage_once(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received, question = await _asked(service, pool)
    assert await service.route_unanswered(question.answer_due - timedelta(minutes=1)) == 0
    assert await service.route_unanswered(question.answer_due + timedelta(seconds=1)) >= 1
    assert await service.route_unanswered(question.answer_due + timedelta(seconds=2)) == 0
    _, routed = await _outbox(pool, received)
    assert isinstance(routed, ComplaintRouted)
    assert routed.agency_code == TRIAGE_AGENCY
    assert routed.causation_id == question.event_id
    assert "tidak menjawab" in routed.reasons[0]
    # A late answer changes nothing: the complaint is an operator's now.
    await service.handle(_reply(question, "Kecamatan Martapura, Kabupaten Banjar"))
    assert len(await _outbox(pool, received)) == 2


async def test_an_answer_naming_no_kalsel_place_goes_to_triage(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received, question = await _asked(service, pool)
    await service.handle(_reply(question, "dekat rumah saya pak"))
    _, routed = await _outbox(pool, received)
    assert isinstance(routed, ComplaintRouted)
    assert routed.agency_code == TRIAGE_AGENCY


async def test_a_reporter_who_cannot_be_reached_is_not_asked(
    service: RouterService, pool: asyncpg.Pool
) -> None:
    received = _without_place(reporter={"name": "Warga"})
    await service.handle(received)
    (routed,) = await _outbox(pool, received)
    assert isinstance(routed, ComplaintRouted)
    assert routed.agency_code == TRIAGE_AGENCY


async def test_an_override_settles_the_question(service: RouterService, pool: asyncpg.Pool) -> None:
    received, question = await _asked(service, pool)
    await service.handle(
        RoutingOverrideRequested(
            **received.caused(
                producer="intake",
                tracking_number=received.complaint.tracking_number,
                agency_code="6371",
                operator=Actor(kind=ActorKind.OPERATOR, id="op-1"),
            )
        )
    )
    assert await service.route_unanswered(question.answer_due + timedelta(seconds=1)) == 0
    _, routed = await _outbox(pool, received)
    assert isinstance(routed, ComplaintRouted)
    assert (routed.agency_code, routed.routing_round) == ("6371", 1)
