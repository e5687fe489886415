"""When to try a failed delivery again, and when to give up.

Exponential backoff with "equal jitter" (half the exponential step, plus a random part of the
other half): waits still grow, yet many deliveries failing at once against one receiver do not
come back in lockstep. A receiver
that says when to come back (`Retry-After`) is obeyed, up to the ceiling. A permanent failure
(a 4xx other than 408/425/429, a refused recipient) is not retried at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryDecision:
    """Either `delay` until the next attempt, or give up (`delay is None`): a dead letter."""

    delay: timedelta | None

    @property
    def give_up(self) -> bool:
        return self.delay is None


@dataclass(frozen=True)
class RetryPolicy:
    """Defaults: 8 attempts, waits of 15-30 s, then 0.5-1, 1-2, 2-4, 4-8, 8-16 and 15-30 min:
    half an hour to an hour of trying, long enough to ride out a mail server's restart or a
    receiver's deploy, short enough that an operator hears of a dead endpoint the same day."""

    max_attempts: int = 8
    initial: timedelta = timedelta(seconds=30)
    ceiling: timedelta = timedelta(minutes=30)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("at least one attempt")
        if self.initial <= timedelta(0) or self.ceiling < self.initial:
            raise ValueError("0 < initial <= ceiling")

    def after_failure(
        self,
        attempts: int,
        *,
        permanent: bool = False,
        retry_after: timedelta | None = None,
    ) -> RetryDecision:
        """What to do after the `attempts`-th attempt failed."""
        if permanent or attempts >= self.max_attempts:
            return RetryDecision(None)
        exponential = min(self.ceiling, self.initial * 2 ** (attempts - 1))
        delay = exponential / 2 + exponential / 2 * self.rng.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.ceiling))
        return RetryDecision(delay)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header (seconds, or an HTTP date) as a wait; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(timedelta(0), moment - now)
