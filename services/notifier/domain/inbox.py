"""The agency inbox's state machine: which action an agency may take on an assignment, and when.

An assignment is routed to an agency; the agency acknowledges it, posts one or more follow-ups
(tindak lanjut), and marks it resolved; or, while it has not yet followed up, rejects it as not
its authority (bukan wewenang), which sends it back to the router.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.events import ComplaintStatus


class InboxAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    FOLLOW_UP = "follow_up"
    REJECT = "reject"
    RESOLVE = "resolve"


_TRANSITIONS: dict[ComplaintStatus, dict[InboxAction, ComplaintStatus]] = {
    ComplaintStatus.ROUTED: {
        InboxAction.ACKNOWLEDGE: ComplaintStatus.ACKNOWLEDGED,
        InboxAction.REJECT: ComplaintStatus.REJECTED,
    },
    ComplaintStatus.ACKNOWLEDGED: {
        InboxAction.FOLLOW_UP: ComplaintStatus.FOLLOWED_UP,
        InboxAction.REJECT: ComplaintStatus.REJECTED,
    },
    # A follow-up may be followed by more (the reporter replies, the work goes on).
    ComplaintStatus.FOLLOWED_UP: {
        InboxAction.FOLLOW_UP: ComplaintStatus.FOLLOWED_UP,
        InboxAction.RESOLVE: ComplaintStatus.RESOLVED,
    },
    # The reporter said "masalah belum selesai": the agency takes it up again.
    ComplaintStatus.REOPENED: {
        InboxAction.ACKNOWLEDGE: ComplaintStatus.ACKNOWLEDGED,
        InboxAction.FOLLOW_UP: ComplaintStatus.FOLLOWED_UP,
    },
}


class InvalidTransitionError(Exception):
    """The action is not allowed in the assignment's current state."""

    def __init__(
        self, status: ComplaintStatus, action: InboxAction, allowed: tuple[InboxAction, ...]
    ) -> None:
        self.status = status
        self.action = action
        self.allowed = allowed
        names = ", ".join(allowed) or "none"
        super().__init__(f"cannot {action} an assignment that is {status} (allowed: {names})")


class MissingTextError(ValueError):
    """A follow-up needs its text, a rejection its reason."""


def allowed_actions(status: ComplaintStatus) -> tuple[InboxAction, ...]:
    return tuple(_TRANSITIONS.get(status, {}))


@dataclass(frozen=True)
class Transition:
    previous: ComplaintStatus
    status: ComplaintStatus
    action: InboxAction
    note: str | None
    suggested_agency_code: str | None = None


def apply_action(
    status: ComplaintStatus,
    action: InboxAction,
    note: str | None = None,
    suggested_agency_code: str | None = None,
) -> Transition:
    """The transition an action makes from `status` (InvalidTransitionError, MissingTextError)."""
    target = _TRANSITIONS.get(status, {}).get(action)
    if target is None:
        raise InvalidTransitionError(status, action, allowed_actions(status))
    note = note.strip() if note else None
    if action in (InboxAction.FOLLOW_UP, InboxAction.REJECT) and not note:
        what = (
            "a follow-up needs its text"
            if action is InboxAction.FOLLOW_UP
            else "a rejection needs its reason"
        )
        raise MissingTextError(f"{action}: {what}")
    if action is not InboxAction.REJECT:
        suggested_agency_code = None
    return Transition(status, target, action, note, suggested_agency_code)
