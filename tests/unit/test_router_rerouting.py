"""Re-routing after "bukan wewenang": never back to a refusing agency; triage after 3 bounces."""

from __future__ import annotations

from services.router.domain import TRIAGE_AGENCY
from services.router.rerouting import after_rejection

KNOWN = frozenset({"63.pupr", "63.dishub", "63.disdikbud", "6371", TRIAGE_AGENCY})


def test_a_valid_suggestion_is_followed() -> None:
    result = after_rejection(
        rejected_by=("63.pupr",),
        suggested_agency="6371",
        automatic_choice="63.pupr",
        automatic_confidence=0.9,
        known_agencies=KNOWN,
    )
    assert result.agency_code == "6371"
    assert "menyarankan 6371" in result.reasons[0]


def test_an_unknown_or_already_refusing_suggestion_is_ignored() -> None:
    for suggestion in ("99.nowhere", "63.pupr"):
        result = after_rejection(
            rejected_by=("63.pupr",),
            suggested_agency=suggestion,
            automatic_choice="63.dishub",
            automatic_confidence=0.7,
            known_agencies=KNOWN,
        )
        assert result.agency_code == "63.dishub"
        assert result.confidence == 0.7


def test_the_rules_never_send_it_back_to_an_agency_that_refused() -> None:
    result = after_rejection(
        rejected_by=("63.dishub", "63.pupr"),
        suggested_agency=None,
        automatic_choice="63.dishub",
        automatic_confidence=0.9,
        known_agencies=KNOWN,
    )
    assert result.agency_code == TRIAGE_AGENCY


def test_the_third_bounce_lands_in_triage_whatever_is_suggested() -> None:
    result = after_rejection(
        rejected_by=("63.pupr", "6371", "63.dishub"),
        suggested_agency="63.disdikbud",
        automatic_choice="63.disdikbud",
        automatic_confidence=0.95,
        known_agencies=KNOWN,
    )
    assert result.agency_code == TRIAGE_AGENCY
    assert result.confidence == 0.0
    assert "ditolak 3 kali" in result.reasons[0]
