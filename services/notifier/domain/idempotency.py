"""Inbox actions a client retries (the API's `Idempotency-Key` header, the web inbox's hidden
form key): a retry within the window is answered as the first time, and neither acts nor
announces anything again; the same key with another request is refused
(`shared.idempotency.IdempotencyKeyReusedError`). Keys are scoped to their caller: an API key,
or a staff member's account, so two callers' keys never meet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.domain.inbox import InboxAction
from shared.events import ComplaintStatus
from shared.idempotency import IdempotencyKey, ensure_same_request, fingerprint


@dataclass(frozen=True)
class RememberedAction:
    """A key as stored with the action it came with, and what that action answered."""

    fingerprint: str
    remembered_at: datetime
    assignment_id: int
    status: ComplaintStatus  # the assignment's status in the first answer


def caller_scope(officer: str, staff_account_id: int | None) -> str:
    """Whose keys these are: the staff member's account on the web inbox, else the API key
    (by its name, unique and never reused)."""
    return f"staff:{staff_account_id}" if staff_account_id is not None else f"api-key:{officer}"


def action_key(
    key: str,
    tracking_number: str,
    action: InboxAction,
    note: str | None,
    suggested_agency_code: str | None,
) -> IdempotencyKey:
    """The client's key with the fingerprint of the action it asks for."""
    return IdempotencyKey(
        key, fingerprint(tracking_number, action.value, note, suggested_agency_code)
    )


def is_retry(
    key: IdempotencyKey,
    remembered: RememberedAction | None,
    *,
    now: datetime,
    window: timedelta,
) -> bool:
    """True when `key` repeats an action taken within `window` (answer it as then); False for
    a key not seen, or seen longer than `window` ago (act). Raises IdempotencyKeyReusedError
    for a key remembered with another request."""
    if remembered is None or remembered.remembered_at <= now - window:
        return False
    ensure_same_request(key, remembered.fingerprint)
    return True
