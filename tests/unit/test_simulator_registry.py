"""The simulated national records: no deduplication, change feed order, audit counts."""

from __future__ import annotations

import pytest

from services.sync.adapters.lapor_api import (
    ComplaintDraft,
    NationalStatus,
    reference_tag,
    tracking_number_in,
)
from services.sync.simulator.registry import (
    NationalRegistry,
    Operation,
    Outcome,
    UnknownComplaintError,
    UnknownInstitutionError,
    audit_summary,
)


def draft(tracking_number: str = "LPR-2026-AAAAAA-A", **fields: object) -> ComplaintDraft:
    return ComplaintDraft.model_validate(
        {"title": "Jalan rusak", "content": "Berlubang", "tags": [reference_tag(tracking_number)]}
        | fields
    )


def test_reference_tag_round_trips() -> None:
    assert tracking_number_in(["other", reference_tag("LPR-1")]) == "LPR-1"
    assert tracking_number_in(["other"]) is None


def test_the_same_complaint_twice_is_two_national_complaints() -> None:
    registry = NationalRegistry()
    first, second = registry.create(draft()), registry.create(draft())
    assert first.complaint_id != second.complaint_id
    assert len(registry.tagged(reference_tag("LPR-2026-AAAAAA-A"))) == 2


def test_a_restarted_or_reset_simulator_never_gives_an_id_again() -> None:
    """As national does: sync's database outlives the simulator, and maps by national id."""
    before = NationalRegistry()
    given = {before.create(draft()).complaint_id for _ in range(50)}
    after = NationalRegistry()  # a restart, or POST /control/reset
    again = {after.create(draft()).complaint_id for _ in range(50)}
    assert len(given) == len(again) == 50
    assert min(again) > max(given)


def test_followups_forward_and_admin_status_change_the_record_in_order() -> None:
    registry = NationalRegistry()
    created = registry.create(draft())
    registry.add_followup(created.complaint_id, "first", None, actor="integration")
    registry.add_followup(created.complaint_id, "second", NationalStatus.DONE, "integration")
    registry.dispose(created.complaint_id, 6303, "bukan wewenang", actor="integration")
    registry.dispose(created.complaint_id, 6371, "bukan wewenang", actor="integration")
    registry.set_status(created.complaint_id, NationalStatus.ARCHIVED, None)
    record = registry.complaint(created.complaint_id)
    assert [f.content for f in registry.followups(created.complaint_id)] == ["first", "second"]
    assert record.disposition is not None and record.disposition.institution_id == 6371
    assert record.status is NationalStatus.ARCHIVED
    assert [log.action for log in record.logs] == [
        "created", "followup", "followup", "disposed", "forwarded", "status"
    ]  # fmt: skip
    with pytest.raises(UnknownComplaintError):
        registry.add_followup(999, "x", None, "integration")
    with pytest.raises(UnknownInstitutionError):
        registry.dispose(created.complaint_id, 999_999, None, "integration")


def test_the_action_log_lists_every_complaints_actions_once_in_order() -> None:
    registry = NationalRegistry()
    a, b = registry.create(draft("A")), registry.create(draft("B", institution_id=6300))
    registry.add_followup(a.complaint_id, "x", None, "admin")
    registry.dispose(b.complaint_id, 6371, "kota", "admin")
    log = registry.actions_after(None, limit=10)
    assert [(e.complaint_id, e.action, e.actor) for e in log] == [
        (a.complaint_id, "created", "integration"),
        (b.complaint_id, "created", "integration"),
        (a.complaint_id, "followup", "admin"),
        (b.complaint_id, "forwarded", "admin"),
    ]
    assert [e.log_id for e in log] == sorted({e.log_id for e in log})
    assert registry.actions_after(log[1].log_id, limit=1) == [log[2]]
    assert registry.actions_after(log[-1].log_id, limit=10) == []
    # A cursor from before this registry (a simulator reset or restarted) reads it all.
    assert registry.actions_after(log[0].log_id - 1_000_000, limit=10) == log
    # Each complaint's own log holds the same entries.
    assert [
        e.model_dump(exclude={"log_id", "complaint_id"})
        for e in log
        if e.complaint_id == a.complaint_id
    ] == [e.model_dump() for e in registry.complaint(a.complaint_id).logs]


def test_audit_counts_applied_writes_per_tracking_number() -> None:
    registry = NationalRegistry()
    for operation, outcome in [
        (Operation.CREATE, Outcome.APPLIED),
        (Operation.CREATE, Outcome.APPLIED_THEN_DROPPED),
        (Operation.CREATE, Outcome.UNAVAILABLE),
        (Operation.FOLLOWUP, Outcome.APPLIED),
        (Operation.GET_COMPLAINT, Outcome.APPLIED),
    ]:
        registry.record(
            operation=operation, outcome=outcome, status=None, tracking_number="A", complaint_id=1
        )
    summary = audit_summary(registry.audit)
    assert summary["applied"] == {"A": {"create": 2, "followup": 1}}
    assert summary["by_operation"] == {
        "create": {"applied": 1, "applied_then_dropped": 1, "unavailable": 1},
        "followup": {"applied": 1},
        "get_complaint": {"applied": 1},
    }
