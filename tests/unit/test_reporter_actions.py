"""A reporter's reply, "masalah belum selesai" and rating from the tracking page (pure rules),
and what the public timeline says of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.reporter import (
    History,
    NotAllowedError,
    ReporterAction,
    history_of,
    reporter_change,
)
from services.intake.service import public_entry
from shared.events import Actor, ActorKind, ComplaintStatus, ComplaintStatusChanged

NOW = datetime(2026, 12, 7, 8, tzinfo=UTC)
RESOLVED = History(ComplaintStatus.RESOLVED, NOW - timedelta(days=3), rated=False)


def test_a_resolved_complaint_is_reopened_within_30_days_only() -> None:
    change = reporter_change(ReporterAction.REOPEN, RESOLVED, NOW, "  masih rusak ")
    assert (change.status, change.note) == (ComplaintStatus.REOPENED, "masih rusak")
    late = History(ComplaintStatus.RESOLVED, NOW - timedelta(days=31), rated=False)
    with pytest.raises(NotAllowedError, match="30 hari"):
        reporter_change(ReporterAction.REOPEN, late, NOW)


def test_only_a_resolved_complaint_is_reopened_or_rated() -> None:
    open_one = History(ComplaintStatus.FOLLOWED_UP, None, rated=False)
    for action in (ReporterAction.REOPEN, ReporterAction.RATE):
        with pytest.raises(NotAllowedError, match="sudah selesai"):
            reporter_change(action, open_one, NOW, rating=5)


def test_a_resolved_complaint_is_reopened_not_replied_to() -> None:
    with pytest.raises(NotAllowedError, match="masalah belum selesai"):
        reporter_change(ReporterAction.REPLY, RESOLVED, NOW, "masih rusak")


def test_a_rating_is_1_to_5_and_given_once() -> None:
    change = reporter_change(ReporterAction.RATE, RESOLVED, NOW, "cepat", rating=4)
    assert (change.status, change.rating) == (ComplaintStatus.RATED, 4)
    assert change.note == "Penilaian pelapor: 4/5. cepat"
    with pytest.raises(NotAllowedError):
        reporter_change(ReporterAction.RATE, RESOLVED, NOW, rating=6)
    rated = History(ComplaintStatus.RESOLVED, RESOLVED.resolved_at, rated=True)
    with pytest.raises(NotAllowedError, match="sudah memberi"):
        reporter_change(ReporterAction.RATE, rated, NOW, rating=3)


def test_a_reply_needs_its_text() -> None:
    with pytest.raises(NotAllowedError):
        reporter_change(ReporterAction.REPLY, RESOLVED, NOW, "  ")


def test_history_takes_the_last_resolution_and_any_rating() -> None:
    entries = [
        (NOW - timedelta(days=9), "resolved"),
        (NOW - timedelta(days=8), "reopened"),
        (NOW - timedelta(days=2), "resolved"),
        (NOW - timedelta(days=1), "rated"),
    ]
    assert history_of("resolved", entries) == History(
        ComplaintStatus.RESOLVED, NOW - timedelta(days=2), rated=True
    )


def _change(
    status: ComplaintStatus, note: str, rating: int | None = None
) -> ComplaintStatusChanged:
    complaint = uuid.uuid4()
    return ComplaintStatusChanged(
        complaint_id=complaint,
        correlation_id=complaint,
        producer="intake",
        tracking_number="LPR-2026-7K3QX9-M",
        status=status,
        actor=Actor(kind=ActorKind.REPORTER, id="web"),
        agency_code="63.pupr",
        note=note,
        rating=rating,
    )


def test_the_public_timeline_never_quotes_the_reporter() -> None:
    reopened = public_entry(_change(ComplaintStatus.REOPENED, "Budi 081234567890: masih rusak"))
    assert reopened is not None and "Budi" not in (reopened.note or "")
    assert reopened.changes_status
    rated = public_entry(_change(ComplaintStatus.RATED, "Penilaian pelapor: 2/5. Budi", 2))
    assert rated is not None and rated.note == "Pelapor memberi penilaian 2/5"
    assert not rated.changes_status  # still resolved
