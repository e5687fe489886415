"""The agency web inbox's rules apart from any I/O: staff passwords (argon2id), how failed logins
are throttled, and which assignment comes first in an agency's list."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.events import ComplaintStatus

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_HASHER = PasswordHasher()  # argon2id with the library's recommended (RFC 9106 low-memory) cost
# Verified when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def password_problem(password: str) -> str | None:
    """Why a password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "a password may not begin or end with a space"
    return None


def username_problem(username: str) -> str | None:
    if not USERNAME.match(username):
        return "a username is 2-63 of a-z, 0-9, '.', '_', '-', beginning with a letter or digit"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether the password is the one hashed; with no hash (unknown account), the same work
    is done and the answer is no."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class LoginThrottle:
    """Failed logins per account and per client address in a sliding window: past the limit,
    logins are refused (even with the right password) until the oldest failure leaves the
    window. Kept in the process: a notifier restart forgets it, and each process counts its own."""

    per_account: int = 5
    per_address: int = 20
    window_s: float = 900.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def wait_s(self, username: str, address: str, now: float) -> float:
        """Seconds until a login may be tried again (0: now)."""
        waits = [0.0]
        for key, limit in ((f"u:{username}", self.per_account), (f"a:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[-limit] + self.window_s - now)
        return max(waits)

    def failed(self, username: str, address: str, now: float) -> None:
        for key in (f"u:{username}", f"a:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username}", None)


# The agency has not followed up yet: what a deadline holds it to.
AWAITING_FOLLOWUP = frozenset({ComplaintStatus.ROUTED, ComplaintStatus.ACKNOWLEDGED})
CLOSED = frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED})


def is_overdue(status: ComplaintStatus, followup_due: date, today: date) -> bool:
    """Past the follow-up deadline with no follow-up (the rule of the overdue metric)."""
    return status in AWAITING_FOLLOWUP and followup_due < today


class Listed(Protocol):
    @property
    def tracking_number(self) -> str: ...
    @property
    def status(self) -> ComplaintStatus: ...
    @property
    def followup_due(self) -> date: ...


T = TypeVar("T", bound=Listed)


def inbox_order(assignments: Iterable[T], today: date) -> list[T]:
    """Overdue first (the longest overdue on top), then the open ones by deadline, then those
    resolved, each group by deadline."""

    def key(item: T) -> tuple[int, date, str]:
        if is_overdue(item.status, item.followup_due, today):
            group = 0
        elif item.status in CLOSED:
            group = 2
        else:
            group = 1
        return group, item.followup_due, item.tracking_number

    return sorted(assignments, key=key)
