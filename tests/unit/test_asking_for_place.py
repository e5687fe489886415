"""Asking the reporter where before triage (services/router/domain/asking.py), and the
question as the notifier words it: pure, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.citizen import place_question
from services.router.domain import ComplaintText, Router, load_routing_table
from services.router.domain.asking import PlacePolicy, with_answer
from shared.events import Channel, Reporter

ROUTER = Router(load_routing_table())
REACHABLE = Reporter(phone="+62 812 5555 0101")
ROAD = ComplaintText(title="Jalan rusak", body="Jalan depan pasar berlubang besar sudah sebulan")


def test_a_kabkota_matter_with_no_place_needs_one() -> None:
    decision = ROUTER.decide(ROAD)
    assert decision.triaged and decision.needs_place
    assert PlacePolicy().asks(decision, REACHABLE, Channel.WHATSAPP)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (ROAD.model_copy(update={"location": "Martapura"}), "placed"),
        (ROAD.model_copy(update={"location": "Kota Bandung"}), "outside Kalsel"),
        (ComplaintText(body="terima kasih atas pelayanannya"), "no complaint"),
    ],
)
def test_no_question_when_the_place_is_not_what_is_missing(text: ComplaintText, why: str) -> None:
    assert not ROUTER.decide(text).needs_place, why


def test_only_a_reachable_reporter_is_asked_and_only_when_enabled() -> None:
    decision = ROUTER.decide(ROAD)
    assert not PlacePolicy().asks(decision, Reporter(name="Warga"), Channel.WEB)
    assert PlacePolicy().asks(decision, Reporter(email="warga@mail.example"), Channel.WEB)
    assert not PlacePolicy().asks(decision, REACHABLE, Channel.LAPOR_NATIONAL)
    assert not PlacePolicy(enabled=False).asks(decision, REACHABLE, Channel.SMS)


def test_the_answer_places_the_complaint() -> None:
    decision = ROUTER.decide(with_answer(ROAD, "LPR-2026-7K3QX9-M kec. Martapura kab. Banjar"))
    assert decision.agency == "6303"


def test_the_answer_is_due_after_the_configured_time() -> None:
    asked = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    policy = PlacePolicy(answer_within=timedelta(hours=2))
    assert policy.answer_due(asked) == asked + timedelta(hours=2)


def test_the_question_names_the_number_to_quote_and_the_deadline_in_wita() -> None:
    text = place_question(
        "LPR-2026-7K3QX9-M", "jalan dan jembatan", datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
    )
    assert "LPR-2026-7K3QX9-M" in text and "jalan dan jembatan" in text
    assert "7 Desember 2026 pukul 13.30 WITA" in text
    assert "kabupaten/kota dan kecamatan" in text
