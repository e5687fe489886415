"""What goes wrong with the simulated national service, and when: pure decisions, no I/O.

A `FaultPlan` (from settings, or posted by a test) says which outages, rate limit, latency and
errors to inject; a `FaultInjector` turns it into a `Verdict` per request from the wall clock
(outage schedules), a monotonic clock (token bucket) and a seeded random generator, so a run with
the same seed and the same requests injects the same faults.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

DAY = timedelta(days=1)
# Random outages are drawn per day counted from here, so they do not depend on start time.
_RANDOM_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class OutageMode(StrEnum):
    REFUSE = "refuse"  # the port is closed: connection refused
    UNAVAILABLE = "unavailable"  # a gateway answers 502 or 503
    HANG = "hang"  # the connection is accepted and never answered


class FaultModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Outage(FaultModel):
    """How the service is down; on its own in a plan it means down now, until cleared."""

    mode: OutageMode = OutageMode.UNAVAILABLE
    status: Literal[502, 503] = 503


class OutageWindow(Outage):
    """A one-off outage, e.g. a multi-day maintenance."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OutageWindow:
        if self.end <= self.start:
            raise ValueError("an outage window must end after it starts")
        return self

    def covers(self, now: datetime) -> bool:
        return self.start <= now < self.end


class DailyOutage(Outage):
    """The same window every day, e.g. 1-2 hours of server migration."""

    start: time
    duration: timedelta = Field(gt=timedelta(0), le=DAY)
    timezone: str = "Asia/Makassar"  # WITA, Kalimantan Selatan's time

    def covers(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        for days_back in (0, 1):  # a window that started yesterday may run past midnight
            day = local.date() - timedelta(days=days_back)
            start = datetime.combine(day, self.start, tzinfo=local.tzinfo)
            if start <= local < start + self.duration:
                return True
        return False


class RandomOutages(Outage):
    """Outages at random times: a Poisson process of `per_day` outages with exponentially
    distributed durations, drawn per day from the seed so any instant has one answer."""

    per_day: float = Field(gt=0, le=1_000)
    mean_duration: timedelta = Field(gt=timedelta(0))
    max_duration: timedelta = Field(default=timedelta(hours=6), gt=timedelta(0))

    def windows_of_day(self, seed: int, day: int) -> Iterator[tuple[datetime, datetime]]:
        rng = random.Random(f"{seed}:random-outages:{day}")
        day_start = _RANDOM_EPOCH + day * DAY
        offset = rng.expovariate(self.per_day)  # in days
        while offset < 1:
            start = day_start + offset * DAY
            duration = min(
                timedelta(seconds=rng.expovariate(1 / self.mean_duration.total_seconds())),
                self.max_duration,
            )
            yield start, start + duration
            offset += rng.expovariate(self.per_day)

    def covers(self, now: datetime, seed: int) -> bool:
        today = (now - _RANDOM_EPOCH) // DAY
        reach = math.ceil(self.max_duration / DAY)  # earlier days whose outages may last until now
        return any(
            start <= now < end
            for day in range(today - reach, today + 1)
            for start, end in self.windows_of_day(seed, day)
        )


class RateLimit(FaultModel):
    rate_per_second: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


class Latency(FaultModel):
    min_seconds: float = Field(default=0, ge=0)
    max_seconds: float = Field(ge=0)


# What follows a create that was applied: never answered, cut off, answered 502 (as a gateway
# whose backend applied it and then failed), or answered 200 with its body cut short.
AfterCreate = Literal["hang", "drop", "bad_gateway", "broken_body"]


class AmbiguousCreates(FaultModel):
    """Creates that are applied and then not answered as applied (`AfterCreate`)."""

    mode: AfterCreate = "drop"
    next_count: int = Field(default=0, ge=0, description="The next N creates, then...")
    probability: float = Field(default=0, ge=0, le=1, description="...each create with this")


class FaultPlan(FaultModel):
    seed: int = 0
    outage: Outage | None = None
    windows: tuple[OutageWindow, ...] = ()
    daily: tuple[DailyOutage, ...] = ()
    random_outages: RandomOutages | None = None
    rate_limit: RateLimit | None = None
    latency: Latency | None = None
    error_probability: float = Field(default=0, ge=0, le=1, description="Answer 500")
    ambiguous_creates: AmbiguousCreates | None = None
    ignore_tag_filter: bool = Field(
        default=False,
        description="GET /complaints?tag= answers every complaint, as a server that dropped"
        " the parameter would",
    )

    def outage_at(self, now: datetime) -> Outage | None:
        """The outage in force at `now`, if any (the first one the plan lists)."""
        if self.outage is not None:
            return self.outage
        scheduled: tuple[OutageWindow | DailyOutage, ...] = (*self.windows, *self.daily)
        for window in scheduled:
            if window.covers(now):
                return window
        if self.random_outages is not None and self.random_outages.covers(now, self.seed):
            return self.random_outages
        return None


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; a request takes one token."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate


@dataclass(frozen=True)
class Down:
    outage: Outage


@dataclass(frozen=True)
class RateLimited:
    retry_after: float


@dataclass(frozen=True)
class ServerError:
    pass


@dataclass(frozen=True)
class Proceed:
    delay: float = 0.0
    after_create: AfterCreate | None = None


Verdict = Down | RateLimited | ServerError | Proceed


class FaultInjector:
    """Applies one plan: the order is outage, rate limit, random 500, latency, ambiguity."""

    def __init__(self, plan: FaultPlan, now: float) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._bucket = (
            TokenBucket(plan.rate_limit.rate_per_second, plan.rate_limit.burst, now)
            if plan.rate_limit
            else None
        )
        ambiguous = plan.ambiguous_creates
        self._ambiguous_left = ambiguous.next_count if ambiguous else 0

    def verdict(self, wall: datetime, now: float, *, is_create: bool) -> Verdict:
        outage = self.plan.outage_at(wall)
        if outage is not None:
            return Down(outage)
        if self._bucket is not None:
            wait = self._bucket.take(now)
            if wait > 0:
                return RateLimited(wait)
        if self.plan.error_probability and self._rng.random() < self.plan.error_probability:
            return ServerError()
        latency = self.plan.latency
        delay = self._rng.uniform(latency.min_seconds, latency.max_seconds) if latency else 0.0
        return Proceed(delay, self._ambiguity() if is_create else None)

    def _ambiguity(self) -> AfterCreate | None:
        ambiguous = self.plan.ambiguous_creates
        if ambiguous is None:
            return None
        if self._ambiguous_left > 0:
            self._ambiguous_left -= 1
            return ambiguous.mode
        if ambiguous.probability and self._rng.random() < ambiguous.probability:
            return ambiguous.mode
        return None
